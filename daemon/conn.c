/*
 * Connections: a socket, its transport (struct transport: plain or TLS),
 * and bounded input and output buffers, driven by the event loop.  The
 * session above turns bytes into requests and replies; this file decides
 * when it runs and when bytes move:
 *
 *  - Fairness: a session runs at most max_batch requests per loop turn;
 *    a connection with requests left over is run again next turn, after
 *    every other connection has had its turn, and the loop does not
 *    sleep meanwhile.
 *  - Few system calls: one read per readable event into a shared buffer
 *    (no second read to see EAGAIN), replies written in the before-sleep
 *    hook (one send per connection per turn), EPOLLOUT armed only when a
 *    write would block.
 *  - Memory comes back: input is copied into the connection only when a
 *    request arrives in pieces; buffers are freed once drained; after a
 *    burst of clients has gone, malloc_trim runs at a quiet moment.
 *  - A connection is freed at the end of the turn, so no callback ever
 *    sees a freed connection.
 *  - Nobody takes every slot: a connection takes one in its pool (local
 *    or TCP) and, over TCP, one of its address (slots.c); one that finds
 *    none is told -LIMIT, where its transport lets us write plaintext,
 *    and closed.  A TCP peer that has not proven who it is (TLS
 *    handshake, AUTH) within auth_timeout is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "procctld.h"

#define READ_CHUNK	(16 * 1024)
#define OUT_KEEP	(16 * 1024)	/* kept allocated between replies */
#define TRIM_DELAY_MS	1000
#define TRIM_MIN_PEAK	256

struct conn {
	int			 fd;
	struct watch		*w;
	unsigned		 interest;
	const struct transport	*tr;
	void			*ts;		/* the transport's state */
	int			 handshaking;
	unsigned		 hs_want;	/* what the handshake waits for */
	int			 read_wants_write;	/* TLS */
	int			 write_wants_read;
	int			 write_blocked;	/* EPOLLOUT armed */
	struct session		*s;
	int			 state;		/* SESSION_*, last seen */
	int			 pending;	/* `in` may hold whole requests
						 * the session has not run */
	int			 eof;		/* peer sent no more */
	int			 dead;
	int			 on_ready, on_flush;
	struct buf		 in;		/* unfinished requests only */
	struct buf		 out;
	struct conn		*prev, *next;	/* all live connections */
	struct conn		*next_ready;	/* work lists, one link each */
	struct conn		*next_flush;
	struct conn		*next_dead;
	int			 pool;		/* SLOT_*: given back at close */
	char			 host[SLOTS_HOST_MAX];
	uint64_t		 auth_timer;	/* TCP: auth_timeout */
};

static struct conn *conns;
static size_t nconns, peak;
/* ready_next: queued during this turn, run at its end of the next one
 * (ready_now); so a connection gets one batch per turn, after the others
 * have had theirs. */
static struct conn *ready_now, *ready_next, *flush_list, *dead_list;
static struct conn_limits limits;
static char rbuf[READ_CHUNK];		/* shared: most reads end here */
static uint64_t trim_timer;
static uint64_t refused_logged;		/* refusals: a line per 10 s */
static unsigned long refused_quiet;

static void conn_wake(void *arg);
static const struct session_io io = { conn_wake };

void
conn_init(const struct conn_limits *l)
{
	limits = *l;
}

size_t
conn_count(void)
{
	return nconns;
}

static void
conn_kill(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (why != NULL)
		log_info("client %llu (%s): %s; closing",
		    (unsigned long long)session_id(c->s), session_user(c->s),
		    why);
	if (c->auth_timer != 0)
		loop_timer_cancel(c->auth_timer);
	c->auth_timer = 0;
	slots_give(c->pool, c->host);
	loop_unwatch(c->w);
	c->tr->close(c->ts);
	close(c->fd);
	c->fd = -1;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nconns--;
	stats.clients[c->pool]--;
	/* Freed (and plugins told) once the current callbacks are done. */
	c->next_dead = dead_list;
	dead_list = c;
}

static void
want_flush(struct conn *c)
{
	if (c->on_flush || c->dead)
		return;
	c->on_flush = 1;
	c->next_flush = flush_list;
	flush_list = c;
}

static void
want_ready(struct conn *c)
{
	if (c->on_ready || c->dead)
		return;
	c->on_ready = 1;
	c->next_ready = ready_next;
	ready_next = c;
}

/* May the session run requests now? */
static int
can_run(const struct conn *c)
{
	return !c->dead && !c->handshaking && (c->state == SESSION_MORE ||
	    c->state == SESSION_BUSY) &&
	    buf_avail(&c->out) < OUT_HIGH_WATER(limits.max_output);
}

static void
set_interest(struct conn *c)
{
	unsigned want = 0;

	if (c->dead)
		return;
	if (c->handshaking)
		want = c->hs_want;
	else {
		if (!c->eof && can_run(c))
			want |= LOOP_READ;
		if (c->write_blocked || c->read_wants_write)
			want |= LOOP_WRITE;
		if (c->write_wants_read)
			want |= LOOP_READ;
	}
	if (want != c->interest && loop_modify(c->w, want) == 0)
		c->interest = want;
}

/* Close what has nothing more to do: a session that quit once its output
 * is sent, a peer that sent EOF once all it asked is answered. */
static void
maybe_close(struct conn *c)
{
	if (c->dead || buf_avail(&c->out) > 0)
		return;
	if (c->state == SESSION_CLOSE ||
	    (c->eof && c->state == SESSION_MORE))
		conn_kill(c, NULL);
}

/* After the session ran or was woken: queue what must happen next. */
static void
after_session(struct conn *c)
{
	if (c->dead)
		return;
	if (c->out.failed) {
		conn_kill(c, "out of memory for its replies");
		return;
	}
	if (buf_avail(&c->out) > limits.max_output) {
		char why[96];

		snprintf(why, sizeof(why), "output buffer over max_output "
		    "(%zu bytes): not reading its replies", limits.max_output);
		conn_kill(c, why);
		return;
	}
	if (c->state == SESSION_CLOSE || (c->eof && c->state == SESSION_MORE))
		buf_reset(&c->in);	/* a partial request that cannot end */
	if (buf_avail(&c->out) > 0)
		want_flush(c);
	else
		maybe_close(c);
	if (c->pending && can_run(c))
		want_ready(c);
	set_interest(c);
}

/* Run the session on P[0..N); keep what it did not take. */
static void
run_session(struct conn *c, char *p, size_t n, int shared)
{
	size_t used = 0;

	c->state = session_input(c->s, p, n, &used);
	/* What is left is whole requests only if the session stopped early;
	 * after SESSION_MORE it is the start of one, which waits for bytes
	 * (running the session on it again would only spin). */
	c->pending = used < n && (c->state == SESSION_BUSY ||
	    c->state == SESSION_WAIT);
	if (shared) {
		if (used < n && buf_append(&c->in, p + used, n - used) == -1) {
			conn_kill(c, "out of memory for its requests");
			return;
		}
	} else
		buf_consume(&c->in, used);
	if (buf_avail(&c->in) == 0)
		buf_shrink(&c->in, 0);
	after_session(c);
}

static void
conn_read(struct conn *c)
{
	char *dst = rbuf;
	size_t space = sizeof(rbuf);
	ssize_t n;
	int shared = buf_avail(&c->in) == 0;

	if (!shared) {
		/* A request is arriving in pieces: gather it here. */
		if (buf_reserve(&c->in, READ_CHUNK) == -1) {
			conn_kill(c, "out of memory for its requests");
			return;
		}
		dst = c->in.data + c->in.len;
		space = c->in.cap - c->in.len;
	}
	c->read_wants_write = 0;
	n = c->tr->read(c->ts, c->fd, dst, space);
	if (n == TR_WANT_READ) {
		set_interest(c);
		return;
	}
	if (n == TR_WANT_WRITE) {
		c->read_wants_write = 1;
		set_interest(c);
		return;
	}
	if (n == TR_ERROR) {
		conn_kill(c, c->tr->error(c->ts));
		return;
	}
	if (n == TR_EOF) {
		c->eof = 1;
		n = 0;
	}
	stats.received_bytes += (uint64_t)n;
	if (shared)
		run_session(c, rbuf, (size_t)n, 1);
	else {
		c->in.len += (size_t)n;
		run_session(c, buf_head(&c->in), buf_avail(&c->in), 0);
	}
	/* TLS may hold decrypted bytes the socket will not announce. */
	if (!c->dead && c->tr->pending(c->ts) > 0 && can_run(c))
		want_ready(c);
}

/* Send what can be sent now: 0 when all is sent, 1 if it must wait, -1
 * when the connection died. */
static int
conn_write(struct conn *c)
{
	ssize_t n;

	c->write_wants_read = 0;
	c->write_blocked = 0;
	while (buf_avail(&c->out) > 0) {
		n = c->tr->write(c->ts, c->fd, buf_head(&c->out),
		    buf_avail(&c->out));
		if (n > 0) {
			stats.sent_bytes += (uint64_t)n;
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n == TR_WANT_WRITE) {
			c->write_blocked = 1;
			return 1;
		}
		if (n == TR_WANT_READ) {
			c->write_wants_read = 1;
			return 1;
		}
		conn_kill(c, c->tr->error(c->ts));
		return -1;
	}
	buf_shrink(&c->out, OUT_KEEP);
	return 0;
}

static void
flush(struct conn *c)
{
	if (c->dead || conn_write(c) == -1)
		return;
	/* Output drained below the mark: buffered requests may go on. */
	if (c->pending && can_run(c))
		want_ready(c);
	maybe_close(c);
	set_interest(c);
}

static void
handshake(struct conn *c)
{
	char user[64];
	int rc;

	rc = c->tr->handshake(c->ts);
	if (rc == TR_WANT_READ || rc == TR_WANT_WRITE) {
		c->hs_want = rc == TR_WANT_READ ? LOOP_READ : LOOP_WRITE;
		set_interest(c);
		return;
	}
	if (rc != 1) {
		log_warn("client %llu from %s: TLS handshake failed: %s",
		    (unsigned long long)session_id(c->s), session_peer(c->s),
		    c->tr->error(c->ts));
		conn_kill(c, NULL);
		return;
	}
	c->handshaking = 0;
	log_debug("client %llu from %s: %s",
	    (unsigned long long)session_id(c->s), session_peer(c->s),
	    c->tr->describe(c->ts));
	rc = c->tr->peer_user(c->ts, user, sizeof(user));
	if (rc != 0)
		session_cert_user(c->s, rc == 1 ? user : NULL);
	c->state = session_state(c->s);
	after_session(c);
}

static void
on_io(int fd, unsigned events, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	if ((events & LOOP_ERROR) && !(events & LOOP_READ)) {
		conn_kill(c, NULL);
		return;
	}
	if (c->handshaking) {
		handshake(c);
		if (c->dead || c->handshaking || buf_avail(&c->out) > 0)
			return;
		events = LOOP_READ;	/* data may have come with it */
	}
	if ((events & LOOP_WRITE) && c->read_wants_write)
		conn_read(c);
	if (!c->dead && (events & LOOP_READ) && c->write_wants_read)
		flush(c);
	if (!c->dead && (events & LOOP_WRITE) && c->write_blocked)
		flush(c);
	if (c->dead || !(events & LOOP_READ))
		return;
	if (c->interest & LOOP_READ) {
		/* Requests still buffered from an earlier turn run first. */
		if (!c->pending)
			conn_read(c);
	} else if (events & LOOP_ERROR)
		conn_kill(c, NULL);
}

/* The session has output, or may run requests again. */
static void
conn_wake(void *arg)
{
	struct conn *c = arg;

	if (c->dead)
		return;
	c->state = session_state(c->s);
	after_session(c);
}

/* The local peer's identity, as the kernel saw it at connect(). */
static int
local_peer(int fd, struct peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t *g = NULL, *more;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_error("SO_PEERCRED: %s", strerror(errno));
		return -1;
	}
	p->uid = cred.uid;
	p->gid = cred.gid;
	p->pid = cred.pid;
	snprintf(p->addr, sizeof(p->addr), "local pid %d", (int)cred.pid);
	for (len = 64 * sizeof(gid_t);;) {
		if ((more = realloc(g, len ? len : sizeof(gid_t))) == NULL) {
			free(g);
			return -1;
		}
		g = more;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0)
			break;
		if (errno != ERANGE) {
			log_error("SO_PEERGROUPS: %s", strerror(errno));
			free(g);
			return -1;
		}
	}
	p->groups = g;
	p->ngroups = len / sizeof(gid_t);
	return 0;
}

static void
tcp_peer(int fd, struct peer *p)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	p->tcp = 1;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
	p->pid = -1;
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
			port = ntohs(s4->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, addr,
			    sizeof(addr));
			port = ntohs(s6->sin6_port);
		}
	}
	snprintf(p->addr, sizeof(p->addr), ss.ss_family == AF_INET6 ?
	    "[%s]:%u" : "%s:%u", addr, port);
	slots_host((struct sockaddr *)&ss, p->host, sizeof(p->host));
}

void
conn_refuse(int fd, const struct transport *tr, const char *msg)
{
	char junk[4096];
	size_t left = 64 * 1024;
	ssize_t n;

	/* Plaintext only where the transport starts with it (not before a
	 * TLS handshake); then what the peer sent is read away, so that
	 * the close does not reset the connection before it reads why. */
	if (tr->handshake == NULL) {
		(void)!send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
		shutdown(fd, SHUT_WR);
		while (left > 0 && (n = recv(fd, junk, sizeof(junk),
		    MSG_DONTWAIT)) > 0)
			left -= (size_t)n < left ? (size_t)n : left;
	}
	close(fd);
}

/* No slot: -LIMIT and the door closed, and a line in the log, but not
 * a line per refusal: a flood of them would flood the log. */
static void
refuse_busy(int fd, const struct transport *tr, const struct peer *p,
    const char *why)
{
	char msg[128];

	if (p->tcp)
		snprintf(msg, sizeof(msg), "-LIMIT too many clients; try "
		    "again later\r\n");
	else
		snprintf(msg, sizeof(msg), "-LIMIT too many clients "
		    "(max_clients is %zu)\r\n", slots_limit(SLOT_LOCAL));
	conn_refuse(fd, tr, msg);
	if (refused_logged != 0 && loop_now_ms() - refused_logged < 10000) {
		refused_quiet++;
		return;
	}
	if (refused_quiet > 0)
		log_warn("refused a client%s%s: %s (and %lu more since the "
		    "last such line)", p->tcp ? " from " : "", p->tcp ?
		    p->host : "", why, refused_quiet);
	else
		log_warn("refused a client%s%s: %s", p->tcp ? " from " : "",
		    p->tcp ? p->host : "", why);
	refused_logged = loop_now_ms();
	refused_quiet = 0;
}

/* Whoever has not shown who it is by now is closed. */
static void
auth_timeout(void *arg)
{
	struct conn *c = arg;

	c->auth_timer = 0;
	if (c->dead || session_authed(c->s))
		return;
	log_info("client %llu from %s: %s within auth_timeout (%llu ms); "
	    "closing", (unsigned long long)session_id(c->s),
	    session_peer(c->s), c->handshaking ? "no TLS handshake" :
	    "not authenticated", (unsigned long long)limits.auth_timeout_ms);
	conn_kill(c, NULL);
}

void
conn_new(int fd, int tcp, const struct transport *tr)
{
	struct peer p;
	struct conn *c;
	char why[128];
	int pool = tcp ? SLOT_TCP : SLOT_LOCAL;

	memset(&p, 0, sizeof(p));
	if (tcp)
		tcp_peer(fd, &p);
	if (slots_take(pool, p.host, why, sizeof(why)) == -1) {
		refuse_busy(fd, tr, &p, why);
		return;
	}
	if (!tcp && local_peer(fd, &p) == -1) {
		slots_give(pool, p.host);
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->fd = fd;
	c->tr = tr;
	c->pool = pool;
	snprintf(c->host, sizeof(c->host), "%s", p.host);
	if ((c->ts = tr->open(fd)) == NULL)
		goto fail;
	c->handshaking = tr->handshake != NULL;
	c->hs_want = LOOP_READ;
	if ((c->s = session_new(&p, &c->out, &io, c)) == NULL) {
		log_error("out of memory for a new client");
		tr->close(c->ts);
		goto fail;
	}
	c->state = session_state(c->s);
	c->interest = c->handshaking ? c->hs_want : can_run(c) ? LOOP_READ :
	    0;
	if ((c->w = loop_watch(fd, c->interest, on_io, c)) == NULL) {
		session_free(c->s);
		tr->close(c->ts);
		goto fail;
	}
	if (tcp && (c->auth_timer = loop_timer_add(limits.auth_timeout_ms,
	    auth_timeout, c)) == 0) {
		loop_unwatch(c->w);
		session_free(c->s);
		tr->close(c->ts);
		goto fail;
	}
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	if (++nconns > peak)
		peak = nconns;
	stats.clients[pool]++;
	/* Refused at the door: the session says why, then it closes. */
	if (c->state == SESSION_CLOSE)
		after_session(c);
	return;
fail:
	slots_give(pool, p.host);
	free(p.groups);
	free(c);
	close(fd);
}

static void
conn_free(struct conn *c)
{
	session_free(c->s);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static void
trim(void *arg)
{
	(void)arg;
	trim_timer = 0;
	malloc_trim(0);
	peak = nconns;
}

/* Free the closed connections no list still points to (the others wait
 * for a later turn); how many were freed. */
static size_t
free_dead(void)
{
	struct conn *c, *keep = NULL;
	size_t n = 0;

	while ((c = dead_list) != NULL) {
		dead_list = c->next_dead;
		if (c->on_ready || c->on_flush) {
			c->next_dead = keep;
			keep = c;
			continue;
		}
		conn_free(c);
		n++;
	}
	dead_list = keep;
	return n;
}

int
conn_before_sleep(void)
{
	struct conn *c, *turn;

	/* One more batch for each connection with requests left over from
	 * the last turn; those that still have some go on next turn. */
	turn = ready_now;
	ready_now = NULL;
	while ((c = turn) != NULL) {
		turn = c->next_ready;
		c->on_ready = 0;
		if (!can_run(c))
			continue;
		if (c->pending)
			run_session(c, buf_head(&c->in), buf_avail(&c->in), 0);
		else if (c->tr->pending(c->ts) > 0)
			conn_read(c);
	}
	/* Writing may let input resume, and a freed connection's plugins
	 * may push to others (or kill them): go on until nothing is left
	 * to write or to free. */
	while (flush_list != NULL || free_dead() > 0)
		while ((c = flush_list) != NULL) {
			flush_list = c->next_flush;
			c->on_flush = 0;
			flush(c);
		}
	/* A burst of clients has gone: give the memory back, once things
	 * are quiet. */
	if (peak >= TRIM_MIN_PEAK && nconns <= peak / 2 && trim_timer == 0)
		trim_timer = loop_timer_add(TRIM_DELAY_MS, trim, NULL);
	ready_now = ready_next;
	ready_next = NULL;
	return ready_now != NULL;
}

void
conn_close_all(void)
{
	while (conns != NULL)
		conn_kill(conns, NULL);
	/* Twice: a connection still queued for a batch is freed the turn
	 * after. */
	conn_before_sleep();
	conn_before_sleep();
	if (trim_timer != 0)
		loop_timer_cancel(trim_timer);
	trim_timer = 0;
}
