/*
 * Small helpers shared by the benchmark clients in bench/ (each is one .c
 * file that includes this): connect to a Unix socket or a loopback TCP
 * port, encode a request as a RESP array, read one single-line reply,
 * probe another client's round trip, fetch /metrics over HTTP, take the
 * time, and summarise a set of samples.  Nothing here allocates per
 * request.
 */
#ifndef BENCHLIB_H
#define BENCHLIB_H

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline void
die(const char *what)
{
	perror(what);
	exit(1);
}

static inline int
unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die(path);
	return fd;
}

static inline int
tcp_connect(int port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect 127.0.0.1");
	return fd;
}

/* argv as a RESP array of bulk strings into out; its length. */
static inline size_t
resp_encode(char *out, size_t cap, int argc, char **argv)
{
	size_t n;
	int i;

	n = (size_t)snprintf(out, cap, "*%d\r\n", argc);
	for (i = 0; i < argc && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "$%zu\r\n%s\r\n",
		    strlen(argv[i]), argv[i]);
	if (n >= cap) {
		fprintf(stderr, "request too long\n");
		exit(2);
	}
	return n;
}

static inline void
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Read one single-line reply (+..., -..., :...) into buf, NUL-terminated
 * without its CRLF.  Blocking.  Exits if the peer closes.
 */
static inline size_t
read_line_reply(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	for (;;) {
		if ((r = read(fd, buf + n, cap - 1 - n)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			fprintf(stderr, "connection closed\n");
			exit(1);
		}
		n += (size_t)r;
		if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n')
			break;
		if (n >= cap - 1) {
			fprintf(stderr, "reply too long\n");
			exit(1);
		}
	}
	buf[n - 2] = '\0';
	return n - 2;
}

/* One probe on fd, another client's `add 1 2` (fairness, scrape): its
 * round trip in microseconds; exits unless the reply is ":3". */
static inline double
probe_once(int fd)
{
	static const char req[] = "*3\r\n$3\r\nadd\r\n$1\r\n1\r\n"
	    "$1\r\n2\r\n";
	char rep[256];
	double t0;

	t0 = now_us();
	write_all(fd, req, sizeof(req) - 1);
	read_line_reply(fd, rep, sizeof(rep));
	if (strcmp(rep, ":3") != 0) {
		fprintf(stderr, "probe: add 1 2 answered '%s'\n", rep);
		exit(3);
	}
	return now_us() - t0;
}

/* Sleep (never spin: the machine has 2 cores) until `until`; 1 if pfd
 * (when not NULL) became readable first. */
static inline int
pause_until(struct pollfd *pfd, double until)
{
	struct timespec ts;
	double left;

	for (;;) {
		if ((left = until - now_us()) <= 0)
			return pfd != NULL && poll(pfd, 1, 0) > 0;
		ts.tv_sec = (time_t)(left / 1e6);
		ts.tv_nsec = (long)((left - (double)ts.tv_sec * 1e6) * 1e3);
		if (ppoll(pfd, pfd != NULL, &ts, NULL) > 0)
			return 1;
	}
}

/*
 * GET /metrics over HTTP/1.1 on *fd, connected to 127.0.0.1:port first
 * if it is -1 (a scrape that must connect pays for it, as Prometheus
 * would): the whole response read into buf (cap bytes), the body's
 * length returned.  A response saying "Connection: close" closes *fd
 * (-1 again).  Anything but a 200 with a Content-Length, a body that
 * does not end in a newline, or a connection closed early exits: an
 * error is never timed.
 */
static inline size_t
http_scrape(int *fd, int port, char *buf, size_t cap)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nAccept: text/plain\r\n\r\n";
	size_t n = 0, head = 0, body = 0;
	char *end, *cl;
	ssize_t r;

	if (*fd == -1)
		*fd = tcp_connect(port);
	write_all(*fd, req, sizeof(req) - 1);
	for (;;) {
		if (n == cap - 1) {
			fprintf(stderr, "scrape: a response over %zu bytes\n",
			    cap);
			exit(1);
		}
		if ((r = read(*fd, buf + n, cap - 1 - n)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			fprintf(stderr, "scrape: connection closed\n");
			exit(1);
		}
		n += (size_t)r;
		buf[n] = '\0';
		if (head == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			head = (size_t)(end - buf) + 4;
			if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 ||
			    (cl = strcasestr(buf, "\r\nContent-Length:")) ==
			    NULL || cl > end) {
				fprintf(stderr, "scrape: answered %.*s\n",
				    (int)head, buf);
				exit(3);
			}
			body = (size_t)strtoul(cl + 17, NULL, 10);
		}
		if (head != 0 && n >= head + body)
			break;
	}
	if (n != head + body || body == 0 || buf[n - 1] != '\n') {
		fprintf(stderr, "scrape: %zu bytes after a head saying %zu\n",
		    n - head, body);
		exit(3);
	}
	buf[head] = '\0';
	if (strcasestr(buf, "\r\nConnection: close\r\n") != NULL) {
		close(*fd);
		*fd = -1;
	}
	return body;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v.  Prints "n p50 p90 p99 max mean" (microseconds). */
static inline void
print_stats(const char *label, double *v, size_t n)
{
	double sum = 0;
	size_t i;

	if (n == 0) {
		printf("%s 0 0 0 0 0 0\n", label);
		return;
	}
	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("%s %zu %.3f %.3f %.3f %.3f %.3f\n", label, n, v[n / 2],
	    v[n * 9 / 10], v[n * 99 / 100], v[n - 1], sum / (double)n);
}

#endif
