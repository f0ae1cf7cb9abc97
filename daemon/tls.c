/*
 * TLS for the TCP listeners, with OpenSSL: TLS 1.2 at least (1.3 is
 * negotiated whenever the client has it), no renegotiation.  With a client
 * CA every client must present a certificate that CA signed, and its
 * subject's common name is the user it acts as (mutual TLS, as Docker's
 * --tlsverify); without one, clients authenticate with AUTH inside TLS.
 * This file is the TLS transport (struct transport): the connection code
 * drives the non-blocking handshake and I/O through it without knowing it
 * is TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "procctld.h"

static SSL_CTX *ctx;
static int client_certs;

int
tls_enabled(void)
{
	return ctx != NULL;
}

int
tls_client_certs(void)
{
	return client_certs;
}

static const char *
tls_error(void)
{
	static char msg[256];
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;	/* the last is the most specific */
	if (last == 0)
		return errno != 0 ? strerror(errno) : "connection closed";
	snprintf(msg, sizeof(msg), "%s%s", ERR_reason_error_string(last) ?
	    ERR_reason_error_string(last) : "unknown TLS error",
	    ERR_GET_REASON(last) == SSL_R_WRONG_VERSION_NUMBER ||
	    ERR_GET_REASON(last) == SSL_R_HTTP_REQUEST ?
	    " (not TLS: a plaintext client?)" : "");
	return msg;
}

/*
 * The private key's bytes into *OUT (the caller wipes and frees them):
 * 0, or -1 having said why.  A key anyone but its owner may read is no
 * longer private: refused, as ssh does, group included.  What is judged
 * is what is read: the file is opened first (never through a symbolic
 * link, never waiting on a FIFO), then its fd is checked.
 */
int
tls_key_read_as(const char *what, const char *path, char **out,
    size_t *len)
{
	struct stat st;
	char *buf = NULL, *grown;
	size_t cap = 0, n = 0;
	ssize_t r;
	int fd;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY)) == -1) {
		log_error("%s %s: %s", what, path, errno == ELOOP ?
		    "a symbolic link (name the file itself)" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_error("%s %s: not a regular file", what, path);
		goto fail;
	}
	if (st.st_mode & 077) {
		log_error("%s %s: mode %04o lets %s read it; "
		    "chmod 600 it", what, path, (unsigned)(st.st_mode & 07777),
		    st.st_mode & 007 ? "others" : "its group");
		goto fail;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_error("%s %s: owned by uid %u, not by root or "
		    "the daemon's user", what, path, (unsigned)st.st_uid);
		goto fail;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= 1024 * 1024) {
				log_error("%s %s: too big", what, path);
				goto fail;
			}
			cap = cap ? 2 * cap : 4096;
			if ((grown = malloc(cap)) == NULL)
				goto fail;
			if (n > 0)
				memcpy(grown, buf, n);
			if (buf != NULL)
				explicit_bzero(buf, n);
			free(buf);
			buf = grown;
		}
		if ((r = read(fd, buf + n, cap - n)) == 0)
			break;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			log_error("%s %s: %s", what, path,
			    strerror(errno));
			goto fail;
		}
		n += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;
fail:
	if (buf != NULL)
		explicit_bzero(buf, n);
	free(buf);
	close(fd);
	return -1;
}

int
tls_key_read(const char *path, char **out, size_t *len)
{
	return tls_key_read_as("[tcp] tls_key", path, out, len);
}

static int use_key(SSL_CTX *nctx, const char *key, size_t len);

/* TLS 1.2's suites: forward secrecy (ECDHE) and AEAD only, no static
 * RSA key exchange, no CBC.  TLS 1.3's are all of that already. */
#define TLS12_CIPHERS	"ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305"

/* A server context as every listener has it: TLS 1.2 at least, with
 * only forward-secret AEAD suites, no renegotiation, our cipher order. */
static SSL_CTX *
new_ctx(void)
{
	static const unsigned char sid[] = "procctld";
	SSL_CTX *c;

	if ((c = SSL_CTX_new(TLS_server_method())) == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_id_context(c, sid, sizeof(sid) - 1);
	return c;
}

int
tls_init(const struct config *c)
{
	STACK_OF(X509_NAME) *names;
	char *key;
	size_t keylen;
	int ok;

	if (c->tls_cert == NULL)
		return 0;
	if (tls_key_read(c->tls_key, &key, &keylen) == -1)
		return -1;
	if ((ctx = new_ctx()) == NULL) {
		explicit_bzero(key, keylen);
		free(key);
		log_error("TLS: %s", tls_error());
		return -1;
	}
	ok = SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) == 1;
	if (!ok)
		log_error("[tcp] tls_cert %s: %s", c->tls_cert, tls_error());
	else if (!(ok = use_key(ctx, key, keylen)))
		log_error("[tcp] tls_key %s: %s", c->tls_key, tls_error());
	explicit_bzero(key, keylen);
	free(key);
	if (!ok)
		goto fail;
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_error("[tcp] tls_key %s does not match tls_cert %s",
		    c->tls_key, c->tls_cert);
		goto fail;
	}
	if (c->tls_client_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, c->tls_client_ca,
		    NULL) != 1 ||
		    (names = SSL_load_client_CA_file(c->tls_client_ca))
		    == NULL) {
			log_error("[tcp] tls_client_ca %s: %s",
			    c->tls_client_ca, tls_error());
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		client_certs = 1;
	}
	log_info("TLS on TCP listeners (certificate %s%s%s)", c->tls_cert,
	    client_certs ? ", client certificates from " : "",
	    client_certs ? c->tls_client_ca : "");
	return 0;
fail:
	SSL_CTX_free(ctx);
	ctx = NULL;
	return -1;
}

/* PEM text as a memory BIO (text may be NULL: an empty one). */
static BIO *
pem_bio(const char *text, size_t len)
{
	return BIO_new_mem_buf(text != NULL ? text : "", (int)len);
}

/* The certificate chain in CERT (leaf first) onto NCTX. */
static int
use_chain(SSL_CTX *nctx, const char *cert, size_t len)
{
	X509 *x;
	BIO *b;
	int ok = 0;

	if (len > INT_MAX || (b = pem_bio(cert, len)) == NULL)
		return 0;
	if ((x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL)) != NULL &&
	    SSL_CTX_use_certificate(nctx, x) == 1) {
		ok = 1;
		X509_free(x);
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (SSL_CTX_add0_chain_cert(nctx, x) != 1) {
				X509_free(x);
				ok = 0;
			}
		ERR_clear_error();	/* the end of the PEM */
	} else
		X509_free(x);
	BIO_free(b);
	return ok;
}

static int
use_key(SSL_CTX *nctx, const char *key, size_t len)
{
	EVP_PKEY *k = NULL;
	BIO *b;
	int ok;

	if (len > INT_MAX || (b = pem_bio(key, len)) == NULL)
		return 0;
	ok = (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) != NULL &&
	    SSL_CTX_use_PrivateKey(nctx, k) == 1;
	EVP_PKEY_free(k);
	BIO_free(b);
	return ok;
}

/* Every certificate in CA trusted for clients, and named to them. */
static int
use_client_ca(SSL_CTX *nctx, const char *ca, size_t len)
{
	X509 *x;
	BIO *b;
	int n = 0;

	if (len > INT_MAX || (b = pem_bio(ca, len)) == NULL)
		return 0;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(SSL_CTX_get_cert_store(nctx), x) == 1 &&
		    SSL_CTX_add_client_CA(nctx, x) == 1)
			n++;
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(b);
	if (n > 0)
		SSL_CTX_set_verify(nctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return n > 0;
}

int
tls_reload_pem(const struct mon_files *f, const struct config *c)
{
	SSL_CTX *nctx;
	const char *what = "tls_cert";

	if (ctx == NULL || f->data[MON_FILE_TLS_CERT] == NULL)
		return 0;	/* TLS comes and goes with a restart */
	if ((nctx = new_ctx()) == NULL)
		goto fail;
	if (!use_chain(nctx, f->data[MON_FILE_TLS_CERT],
	    f->len[MON_FILE_TLS_CERT]))
		goto fail;
	what = "tls_key";
	if (!use_key(nctx, f->data[MON_FILE_TLS_KEY], f->len[MON_FILE_TLS_KEY])
	    || SSL_CTX_check_private_key(nctx) != 1)
		goto fail;
	what = "tls_client_ca";
	if (client_certs && !use_client_ca(nctx, f->data[MON_FILE_TLS_CA],
	    f->len[MON_FILE_TLS_CA]))
		goto fail;
	/* Connections made with the old context keep a reference to it. */
	SSL_CTX_free(ctx);
	ctx = nctx;
	log_info("SIGHUP: TLS certificate and key reloaded (%s)",
	    c->tls_cert ? c->tls_cert : "");
	return 0;
fail:
	log_error("SIGHUP: [tcp] %s: %s: TLS not reloaded, the running "
	    "certificate stays", what, tls_error());
	SSL_CTX_free(nctx);
	return -1;
}

void
tls_free(void)
{
	SSL_CTX_free(ctx);
	ctx = NULL;
	client_certs = 0;
}

/* ---- the transport ---- */

static void *
tls_open(int fd)
{
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL) {
		log_error("TLS: %s", tls_error());
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1) {
		log_error("TLS: %s", tls_error());
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

/* An OpenSSL error as a transport result; EOF in its several forms. */
static int
tls_result_of(int err)
{
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return TR_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TR_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TR_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			return TR_EOF;
		return TR_ERROR;
	case SSL_ERROR_SSL:
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return TR_EOF;
		}
		return TR_ERROR;
	default:
		return TR_ERROR;
	}
}


/* The same for RC from an SSL call.  After a fatal error OpenSSL forbids
 * SSL_shutdown: the close that follows is made quiet. */
static int
tls_result(SSL *ssl, int rc)
{
	int r = tls_result_of(SSL_get_error(ssl, rc));

	if (r == TR_ERROR)
		SSL_set_quiet_shutdown(ssl, 1);
	return r;
}

static int
tls_handshake(void *state)
{
	SSL *ssl = state;
	int rc;

	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_do_handshake(ssl)) == 1)
		return 1;
	rc = tls_result(ssl, rc);
	return rc == TR_EOF ? TR_ERROR : rc;
}

/* Without read-ahead OpenSSL takes one record at a time from the socket,
 * and what it holds decrypted is reported by pending(): nothing waits
 * inside OpenSSL unseen. */
static ssize_t
tls_read(void *state, int fd, void *p, size_t n)
{
	SSL *ssl = state;
	int rc;

	(void)fd;
	ERR_clear_error();
	errno = 0;
	rc = SSL_read(ssl, p, n < INT_MAX ? (int)n : INT_MAX);
	return rc > 0 ? rc : tls_result(ssl, rc);
}

static ssize_t
tls_write(void *state, int fd, const void *p, size_t n)
{
	SSL *ssl = state;
	int rc;

	(void)fd;
	ERR_clear_error();
	errno = 0;
	rc = SSL_write(ssl, p, n < INT_MAX ? (int)n : INT_MAX);
	if (rc > 0)
		return rc;
	rc = tls_result(ssl, rc);
	return rc == TR_EOF ? TR_ERROR : rc;
}

static size_t
tls_pending(void *state)
{
	int n = SSL_pending(state);

	return n > 0 ? (size_t)n : 0;
}

/* With client certificates, the certificate says who the peer is:
 * its subject's common name. */
static int
tls_peer_user(void *state, char *out, size_t size)
{
	SSL *ssl = state;
	X509_NAME *subject;
	X509 *cert;
	int i, n;

	if (!client_certs)
		return 0;
	if (SSL_get_verify_result(ssl) != X509_V_OK ||
	    (cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return -1;
	/* Two CNs name two users: which is meant, nobody can say. */
	subject = X509_get_subject_name(cert);
	if ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(subject, NID_commonName, i) >= 0) {
		X509_free(cert);
		return -1;
	}
	n = X509_NAME_get_text_by_NID(subject, NID_commonName, out, (int)size);
	X509_free(cert);
	/* A CN with a NUL in it, or too long, names nobody. */
	if (n <= 0 || (size_t)n >= size || strlen(out) != (size_t)n)
		return -1;
	return 1;
}

static const char *
tls_error_text(void *state)
{
	(void)state;
	return tls_error();
}

static const char *
tls_describe(void *state)
{
	static char text[128];

	snprintf(text, sizeof(text), "%s, %s", SSL_get_version(state),
	    SSL_get_cipher_name(state));
	return text;
}

static void
tls_close(void *state)
{
	SSL *ssl = state;

	if (SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);	/* close_notify */
	SSL_free(ssl);
	ERR_clear_error();
}

const struct transport transport_tls = {
	.name = "tls",
	.open = tls_open,
	.handshake = tls_handshake,
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.peer_user = tls_peer_user,
	.error = tls_error_text,
	.describe = tls_describe,
	.close = tls_close,
};
