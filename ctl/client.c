/* The client side of a connection: connect, send, read one value. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ctl.h"

static char tls_failure[300];

static const char *
ssl_reason(void)
{
	static char msg[256];
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		return errno ? strerror(errno) : "the connection was closed";
	snprintf(msg, sizeof(msg), "%s", ERR_reason_error_string(last) ?
	    ERR_reason_error_string(last) : "unknown TLS error");
	return msg;
}

/* TLS 1.2 at least; the server's certificate checked against CACERT (or
 * the system's CAs) and against the host name or address we dialled. */
static int
start_tls(struct client *c, const struct target *t)
{
	const struct tls_opts *o = &t->tls;
	struct in6_addr a6;
	struct in_addr a4;
	long vr;
	int is_ip;

	ERR_clear_error();
	if ((c->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (o->cacert[0] != '\0') {
		if (SSL_CTX_load_verify_locations(c->ssl_ctx, o->cacert, NULL)
		    != 1) {
			fprintf(stderr, "procctl: --cacert %s: %s\n",
			    o->cacert, ssl_reason());
			return EXIT_USAGE;
		}
	} else
		SSL_CTX_set_default_verify_paths(c->ssl_ctx);
	if ((o->cert[0] == '\0') != (o->key[0] == '\0')) {
		fprintf(stderr, "procctl: --cert and --key go together\n");
		return EXIT_USAGE;
	}
	if (o->cert[0] != '\0' &&
	    (SSL_CTX_use_certificate_chain_file(c->ssl_ctx, o->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c->ssl_ctx, o->key, SSL_FILETYPE_PEM)
	    != 1 || SSL_CTX_check_private_key(c->ssl_ctx) != 1)) {
		fprintf(stderr, "procctl: --cert %s / --key %s: %s\n",
		    o->cert, o->key, ssl_reason());
		return EXIT_USAGE;
	}
	if ((c->ssl = SSL_new(c->ssl_ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	is_ip = inet_pton(AF_INET, t->host, &a4) == 1 ||
	    inet_pton(AF_INET6, t->host, &a6) == 1;
	if (is_ip)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), t->host);
	else {
		SSL_set_tlsext_host_name(c->ssl, t->host);
		SSL_set1_host(c->ssl, t->host);
	}
	if (SSL_connect(c->ssl) == 1)
		return 0;
	if ((vr = SSL_get_verify_result(c->ssl)) != X509_V_OK) {
		fprintf(stderr, "procctl: %s: the server's certificate is not "
		    "trusted: %s\n", c->target,
		    X509_verify_cert_error_string(vr));
		return EXIT_NOPERM;
	}
	fprintf(stderr, "procctl: %s: TLS handshake failed: %s\n", c->target,
	    ssl_reason());
	return EXIT_UNAVAIL;
fail:
	fprintf(stderr, "procctl: TLS: %s\n", ssl_reason());
	return EXIT_ERROR;
}

ssize_t
client_recv(struct client *c, void *p, size_t n)
{
	int r, err;

	if (c->ssl == NULL)
		return read(c->fd, p, n);
	ERR_clear_error();
	r = SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	if (r > 0)
		return r;
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_ZERO_RETURN ||
	    (err == SSL_ERROR_SYSCALL && errno == 0))
		return 0;
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	if (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) ==
	    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return 0;
	}
	if (err != SSL_ERROR_SYSCALL) {
		snprintf(tls_failure, sizeof(tls_failure), "TLS: %s",
		    ssl_reason());
		errno = EPROTO;
	}
	ERR_clear_error();
	return -1;
}

const char *
client_error(const struct client *c, int err)
{
	if (err == EPROTO && tls_failure[0] != '\0')
		return tls_failure;
	if ((err == ECONNRESET || err == EPIPE) && c->ssl == NULL &&
	    c->target[0] != '/')
		return "connection reset (does the daemon want TLS? try "
		    "--tls)";
	return strerror(err);
}

int
client_pending(const struct client *c)
{
	return c->ssl != NULL && SSL_pending(c->ssl) > 0;
}

static ssize_t
client_write(struct client *c, const void *p, size_t n)
{
	int r, err;

	if (c->ssl == NULL)
		return send(c->fd, p, n, MSG_NOSIGNAL);
	ERR_clear_error();
	r = SSL_write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	if (r > 0)
		return r;
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		errno = EAGAIN;
	else if (err != SSL_ERROR_SYSCALL || errno == 0)
		errno = EPIPE;
	ERR_clear_error();
	return -1;
}

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
	if (t->tls.on && (rc = start_tls(c, t)) != 0) {
		client_close(c);
		return rc;
	}
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
		n = client_write(c, p + off, len - off);
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
		    c->target, client_error(c, errno));
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
		rc = client_pending(c) ? 1 : wait_fd(c->fd, POLLIN, timeout_ms);
		if (rc == 0) {
			fprintf(stderr, "procctl: no reply from %s within the "
			    "timeout\n", c->target);
			return EXIT_TIMEOUT;
		}
		if (buf_reserve(&c->in, 16384) == -1) {
			fprintf(stderr, "procctl: out of memory\n");
			return EXIT_ERROR;
		}
		n = client_recv(c, c->in.data + c->in.len,
		    c->in.cap - c->in.len);
		if (n > 0) {
			c->in.len += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		fprintf(stderr, "procctl: connection to %s lost%s%s\n",
		    c->target, n == 0 ? "" : ": ",
		    n == 0 ? " (the daemon closed it)" :
		    client_error(c, errno));
		return EXIT_UNAVAIL;
	}
}

void
client_close(struct client *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->ssl_ctx != NULL) {
		SSL_CTX_free(c->ssl_ctx);
		c->ssl_ctx = NULL;
	}
	ERR_clear_error();
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
}

int
client_put_hello(struct buf *b, const struct target *t, const char *secret)
{
	const char *argv[5] = { "HELLO", "3", "AUTH", t->user, secret };

	return resp_put_command(b, target_needs_secret(t) ? 5 : 2, argv, NULL);
}
