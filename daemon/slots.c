/*
 * Connection slots: who holds how many connections, so that nobody can
 * take them all from the others.
 *
 *  - Two pools: local peers (the Unix socket, [daemon] max_clients) and
 *    TCP peers ([tcp] max_clients).  Remote peers, authenticated or
 *    not, never take a slot a local user needs.
 *  - Per user ([daemon] max_clients_per_user): local peers from their
 *    first byte, TCP peers once they have proven who they are.  The
 *    caller decides who is exempt (root and the daemon's own user).
 *  - Per TCP address ([tcp] max_clients_per_address): an IPv4 peer by
 *    its address, an IPv6 peer by its /64, which is what one host is
 *    usually given.  The same key counts AUTH failures (authtry.c).
 *
 * Counting only: conn.c and session.c take a slot and say no when there
 * is none; they give it back when the connection ends.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "procctld.h"
#include "strhash.h"

#define BUCKETS		256

/* How many connections one key ("u:1000", "a:127.0.0.1") holds. */
struct count {
	char		 key[SLOTS_HOST_MAX + 4];
	size_t		 n;
	struct count	*next;
};

static struct slots_limits limits;
static size_t in_pool[2];
static struct count *table[BUCKETS];

void
slots_init(const struct slots_limits *l)
{
	limits = *l;
}

size_t
slots_limit(int pool)
{
	return pool == SLOT_TCP ? limits.tcp : limits.local;
}

static unsigned
hash(const char *s)
{
	return strhash(s) % BUCKETS;
}

static struct count **
find(const char *key)
{
	struct count **p;

	for (p = &table[hash(key)]; *p != NULL; p = &(*p)->next)
		if (strcmp((*p)->key, key) == 0)
			break;
	return p;
}

/* One more for KEY, unless it holds MAX already (0: no cap): 0, or -1. */
static int
take(const char *key, size_t max)
{
	struct count **p = find(key), *c = *p;

	if (c != NULL && max > 0 && c->n >= max)
		return -1;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return -1;
		snprintf(c->key, sizeof(c->key), "%s", key);
		*p = c;
	}
	c->n++;
	return 0;
}

static void
give(const char *key)
{
	struct count **p = find(key), *c = *p;

	if (c == NULL)
		return;
	if (--c->n == 0) {
		*p = c->next;
		free(c);
	}
}

int
slots_take(int pool, const char *host, char *why, size_t size)
{
	char key[sizeof(((struct count *)0)->key)];
	size_t max = slots_limit(pool);

	if (max > 0 && in_pool[pool] >= max) {
		snprintf(why, size, pool == SLOT_TCP ? "[tcp] max_clients (%zu) "
		    "reached" : "max_clients (%zu) reached", max);
		return -1;
	}
	if (pool == SLOT_TCP) {
		snprintf(key, sizeof(key), "a:%s", host);
		if (take(key, limits.per_address) == -1) {
			snprintf(why, size, "%s holds [tcp] "
			    "max_clients_per_address (%zu) connections", host,
			    limits.per_address);
			return -1;
		}
	}
	in_pool[pool]++;
	return 0;
}

void
slots_give(int pool, const char *host)
{
	char key[sizeof(((struct count *)0)->key)];

	if (in_pool[pool] > 0)
		in_pool[pool]--;
	if (pool == SLOT_TCP) {
		snprintf(key, sizeof(key), "a:%s", host);
		give(key);
	}
}

int
slots_user_take(uid_t uid)
{
	char key[32];

	snprintf(key, sizeof(key), "u:%u", (unsigned)uid);
	return take(key, limits.per_user);
}

void
slots_user_give(uid_t uid)
{
	char key[32];

	snprintf(key, sizeof(key), "u:%u", (unsigned)uid);
	give(key);
}

size_t
slots_per_user(void)
{
	return limits.per_user;
}

void
slots_host(const struct sockaddr *sa, char *out, size_t size)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr net;
	const struct sockaddr_in6 *s6;

	snprintf(out, size, "?");
	if (sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->
		    sin_addr, addr, sizeof(addr)) != NULL)
			snprintf(out, size, "%s", addr);
		return;
	}
	if (sa->sa_family != AF_INET6)
		return;
	s6 = (const struct sockaddr_in6 *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		if (inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr,
		    sizeof(addr)) != NULL)
			snprintf(out, size, "%s", addr);
		return;
	}
	/* A host is usually given a /64: one key for all of it, or every
	 * cap would be 2^64 times too wide. */
	net = s6->sin6_addr;
	if (!IN6_IS_ADDR_LOOPBACK(&net))
		memset(&net.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &net, addr, sizeof(addr)) != NULL)
		snprintf(out, size, IN6_IS_ADDR_LOOPBACK(&net) ? "%s" : "%s/64",
		    addr);
}

void
slots_fini(void)
{
	struct count *c;
	size_t i;

	for (i = 0; i < BUCKETS; i++)
		while ((c = table[i]) != NULL) {
			table[i] = c->next;
			free(c);
		}
	in_pool[0] = in_pool[1] = 0;
}
