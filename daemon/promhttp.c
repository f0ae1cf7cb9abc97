/*
 * [metrics] listen = ADDR:PORT: the metrics page (metrics.c) over HTTP,
 * at /metrics, for Prometheus to scrape.  libmicrohttpd parses HTTP on
 * a thread of its own (its internal epoll thread), so that scrapes in a
 * tight loop cost the server's loop one page a second and no accept,
 * send or close: the thread serves a snapshot of the page that the loop
 * writes when scrapes ask for one (promsnap.c says how fresh).  Nothing
 * here touches the loop's state from that thread: the handlers read the
 * request, take a snapshot and hand it to libmicrohttpd; its log lines
 * go through promsnap too.  The thread is joined in promhttp_stop, also
 * before a server ends for `daemon upgrade`; the server itself never
 * forks or execs (the monitor spawns, and re-execs itself), so a second
 * thread costs those paths nothing.
 *
 * What a scraper may do is bounded: GET and HEAD of /metrics and nothing
 * else (404 for another path, 405 for another method, 413 for a request
 * with a body), few connections (in all and per address), each closed
 * after a while idle, each with a small memory budget; none of it costs
 * a procctl client anything.  Plain HTTP only on loopback: another
 * address needs tls_cert and tls_key (HTTPS, the PEM read by us, the key
 * checked as [tcp]'s is).  The address is bound with SO_REUSEADDR, so a
 * restarted server binds it again.
 */
#include <sys/resource.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "procctld.h"

#define HTTP_MAX_CONNS		16	/* scrapers at once */
#define HTTP_MAX_PER_IP		4
#define HTTP_TIMEOUT_S		10	/* idle, then closed */
#define HTTP_MEMORY		(32 * 1024)	/* per connection, for the
						 * request's head */
#define CONTENT_TYPE		"text/plain; version=0.0.4; charset=utf-8"

#define RETRY_AFTER		"1"	/* seconds, with a 503 */
#define HTTP_NICE		19	/* the thread's; the loop's is 0 */

static struct MHD_Daemon *httpd;
static char *cert_pem, *key_pem;	/* owned: HTTPS */
static size_t key_len;

static void
format_line(char *line, size_t size, const char *fmt, va_list ap)
{
	size_t n;

	vsnprintf(line, size, fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
}

/* The probe's (promhttp_check), on the caller's thread. */
static void
on_log_here(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	format_line(line, sizeof(line), fmt, ap);
	log_info("metrics http: %s", line);
}

/* The serving daemon's, mostly on its thread: the loop logs it. */
static void
on_log_thread(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	format_line(line, sizeof(line), fmt, ap);
	promsnap_note(line);
}

/* R queued with STATUS and a header (NAME: VALUE, unless NULL); R is
 * released (libmicrohttpd holds it while it sends). */
static enum MHD_Result
queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r,
    const char *type, const char *name, const char *value)
{
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (name != NULL)
		MHD_add_response_header(r, name, value);
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
refuse(struct MHD_Connection *conn, unsigned status, const char *text,
    const char *name, const char *value)
{
	return queue(conn, status, MHD_create_response_from_buffer(
	    strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT),
	    "text/plain; charset=utf-8", name, value);
}

/* libmicrohttpd is done sending a snapshot. */
static void
release(void *cls)
{
	promsnap_put(cls);
}

/* The snapshot, sent from where it is (no copy). */
static enum MHD_Result
serve(struct MHD_Connection *conn)
{
	struct promsnap *p;
	struct MHD_Response *r;
	const char *data;
	size_t len;

	if ((p = promsnap_get()) == NULL)
		return refuse(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the server "
		    "did not write the metrics in time; try again\n",
		    MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER);
	data = promsnap_data(p, &len);
	r = MHD_create_response_from_buffer_with_free_callback_cls(len,
	    (void *)data, release, p);	/* only read */
	if (r == NULL) {
		promsnap_put(p);
		return MHD_NO;
	}
	return queue(conn, MHD_HTTP_OK, r, CONTENT_TYPE, NULL, NULL);
}

/* A body announced: Content-Length other than 0, or chunked. */
static int
has_body(struct MHD_Connection *conn)
{
	const char *cl, *te;

	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return te != NULL || (cl != NULL && strcmp(cl, "0") != 0);
}

/* libmicrohttpd's thread gives way to the loop: scrapers in a tight
 * loop keep it busy (accept, send, close), and on a small machine it
 * would take the loop's CPU; niced, it runs when the loop does not.  On
 * Linux a thread has a nice value of its own. */
static void
give_way(void)
{
	static int done;	/* only that thread reads it */

	if (!done)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), HTTP_NICE);
	done = 1;
}

/* On libmicrohttpd's thread.  Every request is answered on its first
 * call, before any body is read: nothing here takes one. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	give_way();
	if (strcmp(url, "/metrics") != 0)
		return refuse(conn, MHD_HTTP_NOT_FOUND, "not found: the "
		    "metrics are at /metrics\n", NULL, NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return refuse(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not "
		    "allowed: GET or HEAD\n", MHD_HTTP_HEADER_ALLOW,
		    "GET, HEAD");
	if (has_body(conn))
		return refuse(conn, MHD_HTTP_CONTENT_TOO_LARGE, "a request "
		    "for the metrics has no body\n", NULL, NULL);
	return serve(conn);
}

/* LEN bytes at *P as a string (MHD takes PEM so): 0, or -1 when they
 * hold a NUL.  *P is replaced (the old copy wiped). */
static int
as_string(char **p, size_t len)
{
	char *s;

	if (memchr(*p, '\0', len) != NULL || (s = malloc(len + 1)) == NULL)
		return -1;
	memcpy(s, *p, len);
	s[len] = '\0';
	explicit_bzero(*p, len);
	free(*p);
	*p = s;
	return 0;
}

static int
read_tls(const struct config *c)
{
	size_t len;

	if (confread_slurp(c->metrics_tls_cert, 1, &cert_pem, &len) == -1)
		return -1;
	if (as_string(&cert_pem, len) == -1) {
		log_error("[metrics] tls_cert %s: not PEM text",
		    c->metrics_tls_cert);
		return -1;
	}
	if (tls_key_read_as("[metrics] tls_key", c->metrics_tls_key, &key_pem,
	    &key_len) == -1)
		return -1;
	if (as_string(&key_pem, key_len) == -1) {
		log_error("[metrics] tls_key %s: not PEM text",
		    c->metrics_tls_key);
		return -1;
	}
	key_len++;	/* the NUL, wiped too */
	return 0;
}

/* A daemon with every limit serving on listener FD from a thread of its
 * own (MHD_USE_EPOLL_INTERNAL_THREAD), or a probe with no listener and
 * no thread (-1: to try the certificate and key).  The thread is made
 * with every signal blocked, as logfile.c's is: the server's signals
 * are read from its signalfd, which works only while no thread takes
 * them. */
static struct MHD_Daemon *
start_mhd(int fd)
{
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	MHD_LogCallback logger = on_log_here;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNS, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTP_MAX_PER_IP, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_S, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_MEMORY, NULL },
		{ MHD_OPTION_END, 0, NULL },	/* the listener, */
		{ MHD_OPTION_END, 0, NULL },	/* the certificate, */
		{ MHD_OPTION_END, 0, NULL },	/* its key */
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_Daemon *d;
	sigset_t all, old;
	size_t n = 4;

	if (fd != -1) {
		flags |= MHD_USE_INTERNAL_POLLING_THREAD;
		logger = on_log_thread;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET,
		    fd, NULL };
	} else
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	if (cert_pem != NULL) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT,
		    0, cert_pem };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY,
		    0, key_pem };
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, logger, NULL,
	    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return d;
}

/* Loopback, or TLS that works; the files read now for promhttp_start. */
int
promhttp_check(struct config *c)
{
	const char *file = c->file ? c->file : "defaults";
	struct MHD_Daemon *probe;
	char where[PATH_MAX + 32];

	if (c->metrics_listen == NULL) {
		if (c->metrics_tls_cert != NULL)
			log_warn("%s:%d: [metrics] has tls_cert but no listen: "
			    "no metrics over HTTP", file, c->metrics_line);
		return 0;
	}
	snprintf(where, sizeof(where), "%s:%d: ", file, c->metrics_line);
	if (listen_check_plain(where, "metrics", c->metrics_listen,
	    c->metrics_tls_cert != NULL, "plain HTTP", 0) == -1)
		return -1;
	if (c->metrics_tls_cert == NULL)
		return 0;
	if (reload_beside(c, &c->metrics_tls_cert) == -1 ||
	    reload_beside(c, &c->metrics_tls_key) == -1 || read_tls(c) == -1)
		return -1;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		log_error("%s:%d: [metrics] tls_cert: this libmicrohttpd has "
		    "no TLS", file, c->metrics_line);
		return -1;
	}
	/* The certificate and key as MHD will take them. */
	if ((probe = start_mhd(-1)) == NULL) {
		log_error("%s:%d: [metrics] tls_cert %s and tls_key %s: not a "
		    "certificate and its key", file, c->metrics_line,
		    c->metrics_tls_cert, c->metrics_tls_key);
		return -1;
	}
	MHD_stop_daemon(probe);
	return 0;
}

/* Bound here (as root), served from libmicrohttpd's thread from now. */
int
promhttp_start(const struct config *c)
{
	int fds[8], n, i;

	if (c->metrics_listen == NULL)
		return 0;
	if ((n = listen_bind_tcp(c->metrics_listen, fds, 8)) == -1)
		return -1;
	for (i = 1; i < n; i++) {
		log_warn("[metrics] listen = %s: more than one address; "
		    "serving on the first only", c->metrics_listen);
		close(fds[i]);
	}
	if (promsnap_init() == -1) {
		close(fds[0]);
		return -1;
	}
	if ((httpd = start_mhd(fds[0])) == NULL) {
		log_error("[metrics] listen = %s: libmicrohttpd did not "
		    "start", c->metrics_listen);
		close(fds[0]);
		promhttp_stop();
		return -1;
	}
	log_info("metrics on %s://%s/metrics", cert_pem ? "https" : "http",
	    c->metrics_listen);
	return 0;
}

/* The thread joined before anything it uses goes: a scrape waiting for
 * a page is answered first, so that the join does not wait for it. */
void
promhttp_stop(void)
{
	promsnap_quit();
	if (httpd != NULL)
		MHD_stop_daemon(httpd);	/* closes the listener too */
	httpd = NULL;
	promsnap_fini();
	free(cert_pem);
	cert_pem = NULL;
	if (key_pem != NULL)
		explicit_bzero(key_pem, key_len);
	free(key_pem);
	key_pem = NULL;
	key_len = 0;
}
