/*
 * The client side of a connection: connect, send, read one value.  Bytes
 * go through the connection's transport (struct transport): the plain one
 * below, or TLS, which the module tls.so provides and which is loaded only
 * for a target that asks for it.  Nothing here knows what a transport does
 * with the bytes.  A failure is said in one line, on stderr unless the
 * caller asked for quiet (then only in c->why).
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* ---- the plain transport ---- */

static int
plain_start(struct client *c, const struct target *t)
{
	return 0;
}

static ssize_t
plain_read(struct client *c, void *p, size_t n)
{
	return read(c->fd, p, n);
}

static ssize_t
plain_write(struct client *c, const void *p, size_t n)
{
	return send(c->fd, p, n, MSG_NOSIGNAL);
}

static int
plain_pending(const struct client *c)
{
	return 0;
}

static const char *
plain_error(const struct client *c, int err)
{
	/* A TLS server drops a peer that speaks plain RESP to it. */
	if ((err == ECONNRESET || err == EPIPE) && c->target[0] != '/')
		return "connection reset (does the daemon want TLS? try "
		    "--tls)";
	return strerror(err);
}

static void
plain_close(struct client *c)
{
}

static const struct transport plain = {
	CTL_MODULE_ABI, "plain", plain_start, plain_read, plain_write,
	plain_pending, plain_error, plain_close,
};

/* ---- connecting ---- */

/* Say what c->why holds, unless the client is quiet; return RC. */
static int
report(struct client *c, int rc)
{
	if (!c->quiet)
		fprintf(stderr, "procctl: %s\n", c->why);
	return rc;
}

static int
fail(struct client *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct client *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return report(c, rc);
}

static int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n == -1 && errno == EINTR);
	return n;
}

static int
connect_unix(struct client *c, const char *path)
{
	struct sockaddr_un sun;
	int fd, err;

	snprintf(c->target, sizeof(c->target), "%s", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return fail(c, EXIT_USAGE, "socket path too long: %s",
		    path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return fail(c, EXIT_UNAVAIL, "socket: %s",
		    strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		c->fd = fd;
		return 0;
	}
	err = errno;
	close(fd);
	if (err == EACCES || err == EPERM)
		return fail(c, EXIT_NOPERM, "%s: permission denied",
		    path);
	if (err == EAGAIN)
		return fail(c, EXIT_TIMEOUT, "%s: the daemon is too "
		    "busy to accept connections", path);
	return fail(c, EXIT_UNAVAIL, "cannot reach procctld at %s: "
	    "%s%s", path, strerror(err), err == ENOENT || err == ECONNREFUSED ?
	    " (is the daemon running? start it with procctld)" : "");
}

/* connect(2) that gives up after TIMEOUT_MS: 0, or -1 with errno. */
static int
connect_within(int fd, const struct sockaddr *sa, socklen_t len,
    int timeout_ms)
{
	socklen_t elen = sizeof(int);
	int fl, err = 0, rc = -1;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	if (connect(fd, sa, len) == 0)
		rc = 0;
	else if (errno == EINPROGRESS) {
		if (wait_fd(fd, POLLOUT, timeout_ms) == 0)
			err = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) ==
		    -1)
			err = errno;
		rc = err == 0 ? 0 : -1;
	} else
		err = errno;
	fcntl(fd, F_SETFL, fl);
	errno = err;
	return rc;
}

/* Each address the name has, until one connects. */
static int
connect_tcp(struct client *c, const struct target *t, int timeout_ms)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, rc, err = 0, one = 1;

	snprintf(c->target, sizeof(c->target), "%s%s%s:%s",
	    strchr(t->host, ':') ? "[" : "", t->host,
	    strchr(t->host, ':') ? "]" : "", t->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(t->host, t->port, &hints, &res)) != 0)
		return fail(c, EXIT_UNAVAIL, "%s: %s", t->host,
		    gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect_within(fd, ai->ai_addr, ai->ai_addrlen,
		    timeout_ms) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		return fail(c, EXIT_UNAVAIL, "cannot reach procctld at "
		    "%s: %s", c->target, strerror(err ? err : ECONNREFUSED));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	return 0;
}

/* Reads and writes on FD give up after MS (0: never). */
static void
io_timeout(int fd, int ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Pick the transport, connect the socket, let the transport start. */
int
client_connect(struct client *c, const struct target *t, int timeout_ms,
    int quiet)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->quiet = quiet;
	c->tp = &plain;
	/* The transport first: a missing module is said without a try. */
	if (t->tcp && t->tls.on && (c->tp = module_load("tls",
	    CTL_TLS_SYMBOL, c->why, sizeof(c->why))) == NULL) {
		c->tp = &plain;
		return report(c, EXIT_UNAVAIL);
	}
	if (t->tcp)
		rc = connect_tcp(c, t, timeout_ms);
	else
		rc = connect_unix(c, t->path);
	if (rc != 0)
		return rc;
	/* A handshake is bounded like the connect (TCP: TLS). */
	if (t->tcp)
		io_timeout(c->fd, timeout_ms);
	rc = c->tp->start(c, t);
	if (t->tcp)
		io_timeout(c->fd, 0);
	if (rc != 0) {
		client_close(c);
		return report(c, rc);
	}
	return 0;
}

/* ---- bytes ---- */

ssize_t
client_recv(struct client *c, void *p, size_t n)
{
	return c->tp->read(c, p, n);
}

const char *
client_error(const struct client *c, int err)
{
	return c->tp->error(c, err);
}

int
client_pending(const struct client *c)
{
	return c->tp->pending(c);
}

int
client_send(struct client *c, const struct buf *b, int timeout_ms)
{
	size_t off = 0, len = buf_avail(b);
	const char *p = buf_head(b);
	ssize_t n;

	while (off < len) {
		n = c->tp->write(c, p + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(c->fd, POLLOUT, timeout_ms) == 0)
				return fail(c, EXIT_TIMEOUT, "timed out "
				    "sending to %s", c->target);
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return CLIENT_PEER_CLOSED;	/* it may have said why */
		return fail(c, EXIT_UNAVAIL, "connection to %s lost: %s",
		    c->target, client_error(c, errno));
	}
	return 0;
}

/* Each byte received is looked at once by the scan, however many reads
 * a value takes; the value is made once it is whole. */
int
client_next(struct client *c, struct resp_value *v, const char **err)
{
	size_t used;
	int rc;

	if (buf_avail(&c->in) == 0 || resp_scan_value(&c->scan,
	    buf_head(&c->in), buf_avail(&c->in)) == RESP_MORE)
		return RESP_MORE;
	rc = resp_parse_value(buf_head(&c->in), buf_avail(&c->in), &used, v,
	    err);
	memset(&c->scan, 0, sizeof(c->scan));
	if (rc == RESP_OK)
		buf_consume(&c->in, used);
	return rc;
}

int
client_read(struct client *c, struct resp_value *v, int timeout_ms,
    void (*on_push)(const struct resp_value *))
{
	const char *err = NULL;
	ssize_t n;
	int rc;

	for (;;) {
		rc = client_next(c, v, &err);
		if (rc == RESP_BAD)
			return fail(c, EXIT_PROTO, "protocol error from %s: %s",
			    c->target, err);
		if (rc == RESP_OK) {
			if (v->type != RESP_T_PUSH)
				return 0;
			if (on_push != NULL)
				on_push(v);
			resp_value_free(v);
			continue;
		}
		rc = client_pending(c) ? 1 : wait_fd(c->fd, POLLIN, timeout_ms);
		if (rc == 0)
			return fail(c, EXIT_TIMEOUT, "no reply from %s within "
			    "the timeout", c->target);
		if (buf_reserve(&c->in, 16384) == -1)
			return fail(c, EXIT_ERROR, "out of memory");
		n = client_recv(c, c->in.data + c->in.len,
		    c->in.cap - c->in.len);
		if (n > 0) {
			c->in.len += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		return fail(c, EXIT_UNAVAIL, "connection to %s lost%s%s",
		    c->target, n == 0 ? "" : ": ",
		    n == 0 ? " (the daemon closed it)" :
		    client_error(c, errno));
	}
}

void
client_close(struct client *c)
{
	if (c->tp != NULL)
		c->tp->close(c);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	memset(&c->scan, 0, sizeof(c->scan));
}

int
client_hello_reply(const struct resp_value *v)
{
	/* RESP3's map, or RESP2's flat array of the same pairs. */
	return v->type == RESP_T_MAP || v->type == RESP_T_ARRAY;
}

int
client_put_hello(struct buf *b, const struct target *t, const char *secret,
    const char *session)
{
	const char *argv[7] = { "HELLO", "3" };
	int argc = 2;

	/* AUTH first: the daemon names a session only for a peer it knows. */
	if (target_needs_secret(t)) {
		argv[argc++] = "AUTH";
		argv[argc++] = t->user;
		argv[argc++] = secret;
	}
	if (session != NULL) {
		argv[argc++] = "SESSION";
		argv[argc++] = session;
	}
	return resp_put_command(b, argc, argv, NULL);
}
