/*
 * Small helpers shared by the benchmark clients in bench/ (each is one .c
 * file that includes this): connect to a Unix socket, encode a request as
 * a RESP array, read one single-line reply, take the time, and summarise
 * a set of samples.  Nothing here allocates per request.
 */
#ifndef BENCHLIB_H
#define BENCHLIB_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
