/* The client side of a connection: connect, send, read one value. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

int
client_connect_unix(struct client *c, const char *path)
{
	struct sockaddr_un sun;
	int fd, err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->target, sizeof(c->target), "%s", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "procctl: socket path too long: %s\n", path);
		return EXIT_USAGE;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "procctl: socket: %s\n", strerror(errno));
		return EXIT_UNAVAIL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		err = errno;
		close(fd);
		if (err == EACCES || err == EPERM) {
			fprintf(stderr, "procctl: %s: permission denied\n",
			    path);
			return EXIT_NOPERM;
		}
		if (err == EAGAIN) {
			fprintf(stderr, "procctl: %s: the daemon is too busy "
			    "to accept connections\n", path);
			return EXIT_TIMEOUT;
		}
		fprintf(stderr, "procctl: cannot reach procctld at %s: %s%s\n",
		    path, strerror(err), err == ENOENT || err == ECONNREFUSED ?
		    " (is the daemon running? start it with procctld)" : "");
		return EXIT_UNAVAIL;
	}
	c->fd = fd;
	return 0;
}

static int
connect_tcp(struct client *c, const struct target *t)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, rc, err = 0, one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->target, sizeof(c->target), "%s%s%s:%s",
	    strchr(t->host, ':') ? "[" : "", t->host,
	    strchr(t->host, ':') ? "]" : "", t->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(t->host, t->port, &hints, &res)) != 0) {
		fprintf(stderr, "procctl: %s: %s\n", t->host, gai_strerror(rc));
		return EXIT_UNAVAIL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "procctl: cannot reach procctld at %s: %s\n",
		    c->target, strerror(err ? err : ECONNREFUSED));
		return EXIT_UNAVAIL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	return 0;
}

int
client_connect(struct client *c, const struct target *t)
{
	if (t->tcp)
		return connect_tcp(c, t);
	return client_connect_unix(c, t->path);
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

int
client_send(struct client *c, const struct buf *b, int timeout_ms)
{
	size_t off = 0, len = buf_avail(b);
	const char *p = buf_head(b);
	ssize_t n;

	while (off < len) {
		n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(c->fd, POLLOUT, timeout_ms) == 0) {
				fprintf(stderr, "procctl: timed out sending "
				    "to %s\n", c->target);
				return EXIT_TIMEOUT;
			}
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return CLIENT_PEER_CLOSED;	/* it may have said why */
		fprintf(stderr, "procctl: connection to %s lost: %s\n",
		    c->target, strerror(errno));
		return EXIT_UNAVAIL;
	}
	return 0;
}

int
client_read(struct client *c, struct resp_value *v, int timeout_ms,
    void (*on_push)(const struct resp_value *))
{
	const char *err = NULL;
	size_t used;
	ssize_t n;
	int rc;

	for (;;) {
		if (buf_avail(&c->in) > 0) {
			rc = resp_parse_value(buf_head(&c->in),
			    buf_avail(&c->in), &used, v, &err);
			if (rc == RESP_BAD) {
				fprintf(stderr, "procctl: protocol error from "
				    "%s: %s\n", c->target, err);
				return EXIT_PROTO;
			}
			if (rc == RESP_OK) {
				buf_consume(&c->in, used);
				if (v->type != RESP_T_PUSH)
					return 0;
				if (on_push != NULL)
					on_push(v);
				resp_value_free(v);
				continue;
			}
		}
		rc = wait_fd(c->fd, POLLIN, timeout_ms);
		if (rc == 0) {
			fprintf(stderr, "procctl: no reply from %s within the "
			    "timeout\n", c->target);
			return EXIT_TIMEOUT;
		}
		if (buf_reserve(&c->in, 16384) == -1) {
			fprintf(stderr, "procctl: out of memory\n");
			return EXIT_ERROR;
		}
		n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
		if (n > 0) {
			c->in.len += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		fprintf(stderr, "procctl: connection to %s lost%s%s\n",
		    c->target, n == 0 ? "" : ": ",
		    n == 0 ? " (the daemon closed it)" : strerror(errno));
		return EXIT_UNAVAIL;
	}
}

void
client_close(struct client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
}

int
client_put_hello(struct buf *b, const struct target *t, const char *secret)
{
	const char *argv[5] = { "HELLO", "3", "AUTH", t->user, secret };

	return resp_put_command(b, t->tcp ? 5 : 2, argv, NULL);
}
