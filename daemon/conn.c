/*
 * Client connections: bounded input and output buffers, request parsing,
 * dispatch, replies strictly in request order, pushes only between
 * replies, and closing deferred to the end of the loop iteration so no
 * callback ever sees a freed connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "procctld.h"

#define READ_CHUNK	(16 * 1024)
#define READ_BUDGET	(256 * 1024)	/* per wakeup: fairness */
#define OUT_HIGH_WATER	(256 * 1024)	/* stop reading requests above */

struct conn {
	uint64_t		 id;
	int			 fd;
	struct watch		*w;
	unsigned		 interest;
	struct procctl_caller	 caller;
	char			 user[64];
	char			 peer[64];	/* "127.0.0.1:5555" or "local" */
	int			 tcp;
	int			 authed;	/* Unix peers: always */
	unsigned long		 auth_failures;
	gid_t			*groups;	/* supplementary, for [access] */
	size_t			 ngroups;
	unsigned		 policy_gen;	/* the policy it was judged by */
	SSL			*ssl;		/* TLS listeners */
	int			 handshaking;
	unsigned		 ssl_want;	/* what the handshake waits for */
	int			 read_wants_write;	/* TLS: SSL_read */
	int			 write_wants_read;	/* and SSL_write */
	int			 cert_user;	/* identity from a certificate */
	int			 proto;
	int			 subscribed;
	int			 quit;		/* close once output is sent */
	int			 eof;		/* peer sent no more */
	int			 dead;
	int			 dispatching;
	int			 on_resume;
	int			 on_flush;
	struct buf		 in;
	struct buf		 out;
	struct buf		 pushq;		/* pushes made mid-reply */
	struct resp_req		 req;
	struct procctl_ctx	 ctx;		/* synchronous replies */
	struct procctl_ctx	*deferred;	/* reply in flight, owned by
						 * the plugin until finish */
	uint64_t		 events_dropped;
	struct conn		*prev, *next;	/* all live connections */
	struct conn		*next_resume;	/* work lists, one link each */
	struct conn		*next_flush;
	struct conn		*next_dead;
};

static struct conn *conns;
static size_t nconns;
static uint64_t next_id = 1;
static struct conn *resume_list, *flush_list, *dead_list;
static size_t max_clients, max_output;
static struct resp_limits limits;

static void conn_kill(struct conn *c, const char *why);
static void conn_process(struct conn *c);

void
conn_limits(size_t clients, size_t request, size_t args, size_t output)
{
	max_clients = clients;
	limits.max_bulk = request;
	limits.max_args = args;
	limits.max_inline = request < 64 * 1024 ? request : 64 * 1024;
	max_output = output;
}

size_t
conn_count(void)
{
	return nconns;
}

uint64_t
conn_id(struct conn *c)
{
	return c->id;
}

const struct procctl_caller *
conn_caller(struct conn *c)
{
	return &c->caller;
}

void
conn_set_subscribed(struct conn *c)
{
	c->subscribed = 1;
	c->caller.interactive = 1;
}

void
conn_set_quit(struct conn *c)
{
	c->quit = 1;
}

void
conn_set_proto(struct conn *c, int proto)
{
	c->proto = proto;
}

int
conn_is_tcp(struct conn *c)
{
	return c->tcp;
}

int
conn_authed(struct conn *c)
{
	return c->authed;
}

const char *
conn_peer(struct conn *c)
{
	return c->peer;
}

unsigned long
conn_auth_failed(struct conn *c)
{
	return ++c->auth_failures;
}

int
conn_set_user(struct conn *c, const char *user)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	gid_t *groups;
	size_t n;
	int admin;

	if (getpwnam_r(user, &pw, tmp, sizeof(tmp), &res) != 0 || res == NULL)
		return -1;
	if (access_groups_of(pw.pw_name, pw.pw_gid, &groups, &n) == -1)
		return -1;
	free(c->groups);
	c->groups = groups;
	c->ngroups = n;
	c->caller.uid = pw.pw_uid;
	c->caller.gid = pw.pw_gid;
	snprintf(c->user, sizeof(c->user), "%s", pw.pw_name);
	if (!access_decide(pw.pw_uid, pw.pw_gid, groups, n, &admin)) {
		log_warn("refused %s (uid %u) from %s: not allowed by "
		    "[access]", c->user, (unsigned)pw.pw_uid, c->peer);
		return -2;
	}
	c->caller.admin = admin;
	c->policy_gen = access_generation();
	c->authed = 1;
	return 0;
}

int
conn_recheck(struct conn *c)
{
	int admin;

	/* Judged already by this policy: nothing to do (the common case,
	 * on every command). */
	if (!c->authed || c->policy_gen == access_generation())
		return 1;
	if (!access_decide(c->caller.uid, c->caller.gid, c->groups,
	    c->ngroups, &admin))
		return 0;
	c->caller.admin = admin;
	c->policy_gen = access_generation();
	return 1;
}

int
conn_cert_user(struct conn *c)
{
	return c->cert_user;
}

static void
peer_name(int fd, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

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
	snprintf(out, size, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	    addr, port);
}

/* The name of UID, cached: NSS lookups may be slow and the loop must not
 * wait on them more than once per user. */
static void
user_name(uid_t uid, char *out, size_t size)
{
	static struct { uid_t uid; char name[64]; } cache[32];
	static size_t next;
	struct passwd pw, *res = NULL;
	char tmp[1024];
	size_t i;

	for (i = 0; i < sizeof(cache) / sizeof(cache[0]); i++)
		if (cache[i].name[0] != '\0' && cache[i].uid == uid) {
			snprintf(out, size, "%s", cache[i].name);
			return;
		}
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(out, size, "%s", pw.pw_name);
	else
		snprintf(out, size, "%u", (unsigned)uid);
	i = next++ % (sizeof(cache) / sizeof(cache[0]));
	cache[i].uid = uid;
	snprintf(cache[i].name, sizeof(cache[i].name), "%s", out);
}

static void
set_interest(struct conn *c)
{
	unsigned want = 0;

	if (c->dead)
		return;
	if (c->handshaking)
		want = c->ssl_want;
	else {
		if (!c->deferred && !c->quit && !c->eof &&
		    buf_avail(&c->out) < OUT_HIGH_WATER)
			want |= LOOP_READ;
		if (buf_avail(&c->out) > 0)
			want |= LOOP_WRITE;
		if (c->read_wants_write)
			want |= LOOP_WRITE;
		if (c->write_wants_read)
			want |= LOOP_READ;
	}
	if (want != c->interest && loop_modify(c->w, want) == 0)
		c->interest = want;
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
want_resume(struct conn *c)
{
	if (c->on_resume || c->dead)
		return;
	c->on_resume = 1;
	c->next_resume = resume_list;
	resume_list = c;
}

static void
on_io(int fd, unsigned events, void *arg);

/* The peer's supplementary groups as the kernel saw them at connect(). */
static int
peer_groups(int fd, struct conn *c)
{
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *g = NULL, *more;

	for (;;) {
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
	c->groups = g;
	c->ngroups = len / sizeof(gid_t);
	return 0;
}

/* One clear error, a log line with who it was, and the door closed. */
static void
refuse_local(int fd, struct conn *c)
{
	char msg[192];
	int n;

	n = snprintf(msg, sizeof(msg), "-NOPERM user '%s' (uid %u) may not "
	    "use this procctld\r\n", c->user, (unsigned)c->caller.uid);
	(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	log_warn("refused uid %u (%s) pid %d: not allowed by [access]",
	    (unsigned)c->caller.uid, c->user, (int)c->caller.pid);
	close(fd);
	free(c->groups);
	free(c);
}

void
conn_new(int fd, int tcp)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;
	char msg[128];
	int n;

	if (max_clients > 0 && nconns >= max_clients) {
		n = snprintf(msg, sizeof(msg),
		    "-LIMIT too many clients (max_clients is %zu)\r\n",
		    max_clients);
		if (!tcp || !tls_enabled())	/* no plaintext into TLS */
			(void)!send(fd, msg, (size_t)n,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		log_warn("refused a client: max_clients (%zu) reached",
		    max_clients);
		return;
	}
	if (tcp) {
		/* No kernel identity: nobody until AUTH says who. */
		cred.uid = (uid_t)-1;
		cred.gid = (gid_t)-1;
		cred.pid = -1;
	} else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)
	    == -1) {
		log_error("SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("out of memory for a new client");
		close(fd);
		return;
	}
	if (!tcp && peer_groups(fd, c) == -1) {
		free(c);
		close(fd);
		return;
	}
	if (tcp && tls_enabled()) {
		if ((c->ssl = tls_new(fd)) == NULL) {
			log_error("TLS: %s", tls_error());
			free(c);
			close(fd);
			return;
		}
		c->handshaking = 1;
		c->ssl_want = LOOP_READ;
	}
	c->id = next_id++;
	c->fd = fd;
	c->proto = 2;
	c->caller.conn_id = c->id;
	c->caller.uid = cred.uid;
	c->caller.gid = cred.gid;
	c->caller.pid = cred.pid;
	c->caller.user = c->user;
	c->tcp = tcp;
	if (tcp) {
		snprintf(c->user, sizeof(c->user), "-");
		peer_name(fd, c->peer, sizeof(c->peer));
	} else {
		user_name(cred.uid, c->user, sizeof(c->user));
		snprintf(c->peer, sizeof(c->peer), "local pid %d",
		    (int)cred.pid);
		if (!access_decide(cred.uid, cred.gid, c->groups, c->ngroups,
		    &c->caller.admin)) {
			refuse_local(fd, c);
			return;
		}
		c->policy_gen = access_generation();
		c->authed = 1;
	}
	if ((c->w = loop_watch(fd, LOOP_READ, on_io, c)) == NULL) {
		if (c->ssl != NULL)
			SSL_free(c->ssl);
		close(fd);
		free(c->groups);
		free(c);
		return;
	}
	c->interest = LOOP_READ;
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	if (tcp)
		log_debug("client %llu connected from %s",
		    (unsigned long long)c->id, c->peer);
	else
		log_debug("client %llu connected: uid %u (%s) pid %d",
		    (unsigned long long)c->id, (unsigned)cred.uid, c->user,
		    (int)cred.pid);
}

static void
conn_kill(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (why != NULL)
		log_info("client %llu (uid %u pid %d): %s; closing",
		    (unsigned long long)c->id, (unsigned)c->caller.uid,
		    (int)c->caller.pid, why);
	loop_unwatch(c->w);
	if (c->ssl != NULL) {
		if (!c->handshaking)
			(void)SSL_shutdown(c->ssl);	/* close_notify */
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	close(c->fd);
	c->fd = -1;
	if (c->deferred != NULL) {
		c->deferred->conn = NULL;	/* the plugin still owns it */
		c->deferred = NULL;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nconns--;
	/* Freed (and plugins told) once the current callbacks are done. */
	c->next_dead = dead_list;
	dead_list = c;
}

static void
conn_free(struct conn *c)
{
	plugin_run_disconnect(&c->caller);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->pushq);
	resp_req_free(&c->req);
	free(c->groups);
	free(c);
}

static void
check_output(struct conn *c)
{
	char why[96];

	if (buf_avail(&c->out) > max_output) {
		snprintf(why, sizeof(why), "output buffer over max_output "
		    "(%zu bytes): not reading its replies", max_output);
		conn_kill(c, why);
		return;
	}
	if (buf_avail(&c->out) > 0)
		want_flush(c);
}

static void
dispatch(struct conn *c, int argc, const struct procctl_arg *argv)
{
	struct procctl_ctx *ctx = &c->ctx;

	memset(ctx, 0, sizeof(*ctx));
	ctx->conn = c;
	ctx->out = &c->out;
	ctx->proto = c->proto;
	ctx->kind = CTX_SYNC;
	ctx->expect = 1;
	c->dispatching = 1;
	command_dispatch(ctx, argc, argv);
	c->dispatching = 0;
	if (c->deferred == NULL)
		reply_complete(ctx);
	if (buf_avail(&c->pushq) > 0) {
		buf_append(&c->out, buf_head(&c->pushq), buf_avail(&c->pushq));
		buf_reset(&c->pushq);
	}
	check_output(c);
}

static void
protocol_error(struct conn *c, const char *err)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "Protocol error: %s", err);
	resp_put_error(&c->out, "PROTO", msg);
	log_info("client %llu (uid %u pid %d): protocol error: %s; closing",
	    (unsigned long long)c->id, (unsigned)c->caller.uid,
	    (int)c->caller.pid, err);
	c->quit = 1;
	buf_reset(&c->in);
	want_flush(c);
}

static void
conn_process(struct conn *c)
{
	const char *err = NULL;
	size_t used;
	int rc = RESP_OK;

	while (!c->dead && !c->quit && c->deferred == NULL &&
	    buf_avail(&c->out) < OUT_HIGH_WATER && buf_avail(&c->in) > 0) {
		rc = resp_parse_request(&c->req, buf_head(&c->in),
		    buf_avail(&c->in), &used, &limits, &err);
		if (rc == RESP_MORE)
			break;
		if (rc == RESP_BAD) {
			protocol_error(c, err);
			break;
		}
		if (c->req.argc > 0)
			dispatch(c, c->req.argc, c->req.argv);
		buf_consume(&c->in, used);
	}
	if (c->eof && rc == RESP_MORE)
		buf_reset(&c->in);	/* a partial request that cannot end */
	if (buf_avail(&c->in) == 0)
		buf_compact(&c->in);
	if (c->eof && !c->dead && c->deferred == NULL &&
	    buf_avail(&c->out) == 0 && buf_avail(&c->in) == 0 &&
	    !c->on_flush)
		conn_kill(c, NULL);
	set_interest(c);
}

/* After the handshake: with client certificates, the certificate says who
 * the peer is; otherwise it authenticates with AUTH, as over plain TCP. */
static void
tls_ready(struct conn *c)
{
	char user[64], msg[192];
	int rc;

	c->handshaking = 0;
	log_debug("client %llu from %s: %s, %s", (unsigned long long)c->id,
	    c->peer, SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	if (!tls_client_certs())
		return;
	if (tls_peer_user(c->ssl, user, sizeof(user)) == -1) {
		log_warn("client %llu from %s: client certificate names no "
		    "user; closing", (unsigned long long)c->id, c->peer);
		resp_put_error(&c->out, "NOPERM", "your certificate names no "
		    "user (its subject needs a CN)");
		c->quit = 1;
		want_flush(c);
		return;
	}
	if ((rc = conn_set_user(c, user)) == 0) {
		c->cert_user = 1;
		log_info("client %llu (%s) authenticated as %s by certificate",
		    (unsigned long long)c->id, c->peer, user);
		return;
	}
	if (rc == -1)
		log_warn("client %llu from %s: certificate for '%.64s', who "
		    "has no local account; closing",
		    (unsigned long long)c->id, c->peer, user);
	snprintf(msg, sizeof(msg), "user '%.64s' may not use this procctld",
	    user);
	resp_put_error(&c->out, "NOPERM", msg);
	c->quit = 1;
	want_flush(c);
}

static void
tls_handshake(struct conn *c)
{
	int rc, err;

	ERR_clear_error();
	if ((rc = SSL_do_handshake(c->ssl)) == 1) {
		tls_ready(c);
		set_interest(c);
		return;
	}
	err = SSL_get_error(c->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		c->ssl_want = err == SSL_ERROR_WANT_READ ? LOOP_READ :
		    LOOP_WRITE;
		set_interest(c);
		return;
	}
	log_warn("client %llu from %s: TLS handshake failed: %s",
	    (unsigned long long)c->id, c->peer, tls_error());
	conn_kill(c, NULL);
}

static void
tls_read(struct conn *c)
{
	size_t total = 0;
	int n, err;

	c->read_wants_write = 0;
	/* Without read-ahead OpenSSL takes one record at a time from the
	 * socket and a READ_CHUNK holds a whole record, so nothing waits
	 * inside OpenSSL when we stop: the level-triggered loop sees the
	 * rest. */
	while (total < READ_BUDGET || SSL_pending(c->ssl) > 0) {
		if (buf_reserve(&c->in, READ_CHUNK) == -1) {
			conn_kill(c, "out of memory");
			return;
		}
		ERR_clear_error();
		n = SSL_read(c->ssl, c->in.data + c->in.len,
		    (int)(c->in.cap - c->in.len < INT_MAX ?
		    c->in.cap - c->in.len : INT_MAX));
		if (n > 0) {
			c->in.len += (size_t)n;
			total += (size_t)n;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			break;
		if (err == SSL_ERROR_WANT_WRITE) {
			c->read_wants_write = 1;
			break;
		}
		if (err == SSL_ERROR_ZERO_RETURN ||
		    (err == SSL_ERROR_SYSCALL && errno == 0) ||
		    (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error())
		    == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
			ERR_clear_error();
			c->eof = 1;
			break;
		}
		conn_kill(c, tls_error());
		return;
	}
	conn_process(c);
}

static void
conn_read(struct conn *c)
{
	size_t total = 0;
	ssize_t n;

	if (c->ssl != NULL) {
		tls_read(c);
		return;
	}
	while (total < READ_BUDGET) {
		if (buf_reserve(&c->in, READ_CHUNK) == -1) {
			conn_kill(c, "out of memory");
			return;
		}
		n = read(c->fd, c->in.data + c->in.len,
		    c->in.cap - c->in.len);
		if (n > 0) {
			c->in.len += (size_t)n;
			total += (size_t)n;
			continue;
		}
		if (n == 0) {
			c->eof = 1;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		conn_kill(c, strerror(errno));
		return;
	}
	conn_process(c);
}

static int
tls_write(struct conn *c)
{
	size_t len;
	int n, err;

	if (c->handshaking)
		return buf_avail(&c->out) > 0;
	c->write_wants_read = 0;
	while (buf_avail(&c->out) > 0) {
		len = buf_avail(&c->out);
		ERR_clear_error();
		n = SSL_write(c->ssl, buf_head(&c->out),
		    (int)(len < INT_MAX ? len : INT_MAX));
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE)
			return 1;
		if (err == SSL_ERROR_WANT_READ) {
			c->write_wants_read = 1;
			return 1;
		}
		conn_kill(c, tls_error());
		return -1;
	}
	buf_compact(&c->out);
	return 0;
}

/* Send what can be sent now; 0 when all is sent, 1 if more remains. */
static int
conn_write(struct conn *c)
{
	ssize_t n;

	if (c->ssl != NULL)
		return tls_write(c);
	while (buf_avail(&c->out) > 0) {
		n = send(c->fd, buf_head(&c->out), buf_avail(&c->out),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		conn_kill(c, n == -1 ? strerror(errno) : "write failed");
		return -1;
	}
	buf_compact(&c->out);
	return 0;
}

static void
after_write(struct conn *c)
{
	if (c->dead)
		return;
	if (buf_avail(&c->out) == 0 && c->deferred == NULL &&
	    (c->quit || (c->eof && buf_avail(&c->in) == 0))) {
		conn_kill(c, NULL);
		return;
	}
	/* Output drained below the mark: pipelined requests may go on. */
	if (buf_avail(&c->in) > 0 && c->deferred == NULL && !c->quit)
		want_resume(c);
	set_interest(c);
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
		tls_handshake(c);
		if (c->dead || c->handshaking)
			return;
		if (buf_avail(&c->out) > 0)	/* a refusal to send */
			return;
		events = LOOP_READ;	/* data may have come with it */
	}
	if ((events & LOOP_WRITE) && c->read_wants_write) {
		conn_read(c);
		if (c->dead)
			return;
	}
	if ((events & LOOP_READ) && c->write_wants_read) {
		if (conn_write(c) == -1)
			return;
		after_write(c);
		if (c->dead)
			return;
	}
	if (events & LOOP_WRITE) {
		if (conn_write(c) == -1)
			return;
		after_write(c);
	}
	if (!c->dead && (events & LOOP_READ)) {
		if (c->interest & LOOP_READ)
			conn_read(c);
		else if (events & LOOP_ERROR)
			conn_kill(c, NULL);
	}
}

struct procctl_ctx *
conn_defer(struct procctl_ctx *ctx)
{
	struct procctl_ctx *d;
	struct conn *c = ctx->conn;

	if (ctx->kind != CTX_SYNC || c == NULL || ctx->started ||
	    c->deferred != NULL) {
		log_error("defer() called outside a fresh command reply");
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->conn = c;
	d->out = &d->own;
	d->proto = ctx->proto;
	d->kind = CTX_DEFERRED;
	d->expect = 1;
	d->cmd = ctx->cmd;
	ctx->expect = 0;	/* the sync ctx owes nothing now */
	c->deferred = d;
	return d;
}

void
conn_finish_deferred(struct procctl_ctx *d)
{
	struct conn *c;

	if (d == NULL)
		return;
	if ((c = d->conn) != NULL) {
		reply_complete(d);
		buf_append(&c->out, buf_head(&d->own), buf_avail(&d->own));
		c->deferred = NULL;
		check_output(c);
		if (!c->dead) {
			want_resume(c);
			want_flush(c);
		}
	}
	buf_free(&d->own);
	free(d);
}

static void
deliver(struct conn *c, const struct buf *frame)
{
	struct buf *dst = c->dispatching ? &c->pushq : &c->out;
	char note[96];
	int n;

	if (buf_avail(&c->out) + buf_avail(&c->pushq) > max_output / 4) {
		c->events_dropped++;
		return;
	}
	if (c->events_dropped > 0) {
		/* Tell the reader what it missed before the next event. */
		n = snprintf(note, sizeof(note), c->proto >= 3 ?
		    ">3\r\n$5\r\nevent\r\n$7\r\ndropped\r\n:%llu\r\n" :
		    "*3\r\n$5\r\nevent\r\n$7\r\ndropped\r\n:%llu\r\n",
		    (unsigned long long)c->events_dropped);
		buf_append(dst, note, (size_t)n);
		c->events_dropped = 0;
	}
	buf_append(dst, buf_head(frame), buf_avail(frame));
	if (dst == &c->out)
		want_flush(c);
}

void
conn_push(struct procctl_ctx *p)
{
	struct buf v2 = { 0 };
	struct resp_value val;
	const char *err;
	struct conn *c;
	size_t used;
	int have_v2 = 0;

	reply_complete(p);
	for (c = conns; c != NULL; c = c->next) {
		if (c->dead || !c->subscribed)
			continue;
		if (p->push_conn != 0 ? c->id != p->push_conn :
		    c->caller.uid != p->push_uid && !c->caller.admin)
			continue;
		if (c->proto >= 3) {
			deliver(c, &p->own);
			continue;
		}
		if (!have_v2) {
			/* RESP2 has no push type: send the same array. */
			if (resp_parse_value(buf_head(&p->own),
			    buf_avail(&p->own), &used, &val, &err) == RESP_OK) {
				resp_put_value(&v2, 2, &val);
				resp_value_free(&val);
			}
			have_v2 = 1;
		}
		deliver(c, &v2);
	}
	buf_free(&v2);
	buf_free(&p->own);
	free(p);
}

void
conn_idle(void)
{
	struct conn *c;

	/* Resuming may produce output, writing may let input resume, and a
	 * freed connection's plugins may push to others: run until no list
	 * has work.  The dead are freed only when they are on no list. */
	while (resume_list != NULL || flush_list != NULL || dead_list != NULL) {
		while ((c = resume_list) != NULL) {
			resume_list = c->next_resume;
			c->on_resume = 0;
			if (!c->dead)
				conn_process(c);
		}
		while ((c = flush_list) != NULL) {
			flush_list = c->next_flush;
			c->on_flush = 0;
			if (c->dead || conn_write(c) == -1)
				continue;
			after_write(c);
		}
		if (resume_list != NULL || flush_list != NULL)
			continue;
		while ((c = dead_list) != NULL) {
			dead_list = c->next_dead;
			conn_free(c);
		}
	}
}

void
conn_close_all(void)
{
	while (conns != NULL)
		conn_kill(conns, NULL);
	conn_idle();
}
