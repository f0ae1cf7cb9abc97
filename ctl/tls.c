/*
 * The TLS transport, built as the module tls.so (linked with libssl and
 * libcrypto) so that procctl loads OpenSSL only for a TLS target.  It
 * implements struct transport: TLS 1.2 at least, the server's certificate
 * checked against --cacert (or the system's CAs) and against the host name
 * or address dialled, and an optional client certificate.  It calls
 * nothing in procctl; failures go into c->why for the caller to say.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ctl.h"

struct tls {
	SSL_CTX	*ctx;
	SSL	*ssl;
	char	 failure[300];	/* the last TLS error, for tls_error */
};

/* The last error OpenSSL queued, or errno's. */
static const char *
ssl_reason(char *buf, size_t size)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return "timed out";	/* SO_RCVTIMEO, set by the caller */
	if (last == 0)
		return errno ? strerror(errno) : "the connection was closed";
	snprintf(buf, size, "%s", ERR_reason_error_string(last) ?
	    ERR_reason_error_string(last) : "unknown TLS error");
	return buf;
}

/* Trust and the client's own certificate.  0, or an exit code. */
static int
tls_setup(struct client *c, struct tls *s, const struct tls_opts *o)
{
	char r[256];

	SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
	if (o->cacert[0] != '\0') {
		if (SSL_CTX_load_verify_locations(s->ctx, o->cacert, NULL)
		    != 1) {
			snprintf(c->why, sizeof(c->why), "--cacert %.300s: %s",
			    o->cacert, ssl_reason(r, sizeof(r)));
			return EXIT_USAGE;
		}
	} else
		SSL_CTX_set_default_verify_paths(s->ctx);
	if ((o->cert[0] == '\0') != (o->key[0] == '\0')) {
		snprintf(c->why, sizeof(c->why), "--cert and --key go "
		    "together");
		return EXIT_USAGE;
	}
	if (o->cert[0] != '\0' &&
	    (SSL_CTX_use_certificate_chain_file(s->ctx, o->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s->ctx, o->key, SSL_FILETYPE_PEM)
	    != 1 || SSL_CTX_check_private_key(s->ctx) != 1)) {
		snprintf(c->why, sizeof(c->why), "--cert %.200s / --key %.200s: %s",
		    o->cert, o->key, ssl_reason(r, sizeof(r)));
		return EXIT_USAGE;
	}
	return 0;
}

/* The handshake, with the checks above; why it failed in c->why. */
static int
tls_start(struct client *c, const struct target *t)
{
	struct in6_addr a6;
	struct in_addr a4;
	struct tls *s;
	char r[256];
	long vr;
	int rc;

	ERR_clear_error();
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(c->why, sizeof(c->why), "out of memory");
		return EXIT_ERROR;
	}
	c->tpstate = s;
	if ((s->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	if ((rc = tls_setup(c, s, &t->tls)) != 0)
		return rc;
	if ((s->ssl = SSL_new(s->ctx)) == NULL ||
	    SSL_set_fd(s->ssl, c->fd) != 1)
		goto fail;
	if (inet_pton(AF_INET, t->host, &a4) == 1 ||
	    inet_pton(AF_INET6, t->host, &a6) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), t->host);
	else {
		SSL_set_tlsext_host_name(s->ssl, t->host);
		SSL_set1_host(s->ssl, t->host);
	}
	if (SSL_connect(s->ssl) == 1)
		return 0;
	if ((vr = SSL_get_verify_result(s->ssl)) != X509_V_OK) {
		snprintf(c->why, sizeof(c->why), "%s: the server's certificate "
		    "is not trusted: %s", c->target,
		    X509_verify_cert_error_string(vr));
		return EXIT_NOPERM;
	}
	rc = errno == EAGAIN || errno == EWOULDBLOCK ? EXIT_TIMEOUT :
	    EXIT_UNAVAIL;
	snprintf(c->why, sizeof(c->why), "%s: TLS handshake failed: %s",
	    c->target, ssl_reason(r, sizeof(r)));
	return rc;
fail:
	snprintf(c->why, sizeof(c->why), "TLS: %s", ssl_reason(r, sizeof(r)));
	return EXIT_ERROR;
}

/* SSL_read as read(2): the end of the stream is 0, however it came. */
static ssize_t
tls_read(struct client *c, void *p, size_t n)
{
	struct tls *s = c->tpstate;
	char r[256];
	int rc, err;

	ERR_clear_error();
	rc = SSL_read(s->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	if (rc > 0)
		return rc;
	err = SSL_get_error(s->ssl, rc);
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
		snprintf(s->failure, sizeof(s->failure), "TLS: %s",
		    ssl_reason(r, sizeof(r)));
		errno = EPROTO;
	}
	ERR_clear_error();
	return -1;
}

static ssize_t
tls_write(struct client *c, const void *p, size_t n)
{
	struct tls *s = c->tpstate;
	int rc, err;

	ERR_clear_error();
	rc = SSL_write(s->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	if (rc > 0)
		return rc;
	err = SSL_get_error(s->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		errno = EAGAIN;
	else if (err != SSL_ERROR_SYSCALL || errno == 0)
		errno = EPIPE;
	ERR_clear_error();
	return -1;
}

static int
tls_pending(const struct client *c)
{
	const struct tls *s = c->tpstate;

	return SSL_pending(s->ssl) > 0;
}

static const char *
tls_error(const struct client *c, int err)
{
	const struct tls *s = c->tpstate;

	if (err == EPROTO && s->failure[0] != '\0')
		return s->failure;
	return strerror(err);
}

static void
tls_close(struct client *c)
{
	struct tls *s = c->tpstate;

	if (s == NULL)
		return;
	if (s->ssl != NULL) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
	}
	if (s->ctx != NULL)
		SSL_CTX_free(s->ctx);
	ERR_clear_error();
	free(s);
	c->tpstate = NULL;
}

__attribute__((visibility("default")))
const struct transport procctl_ctl_tls = {
	CTL_MODULE_ABI, "tls", tls_start, tls_read, tls_write, tls_pending,
	tls_error, tls_close,
};
