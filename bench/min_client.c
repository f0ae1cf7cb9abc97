/*
 * The baseline for the one-shot CLI: the least a client can do for
 * `procctl add 1 2`.  Connect to the Unix socket, send HELLO 3 and the
 * command in one write (as procctl does), read both replies, print the
 * second (an integer, a simple string or an error line), exit.
 *
 * usage: min_client SOCKET ARG...
 */
#include "benchlib.h"

static char buf[1 << 20];
static size_t len, pos;

static void
need(size_t n, int fd)
{
	ssize_t r;

	while (len - pos < n) {
		if (len == sizeof(buf) ||
		    (r = read(fd, buf + len, sizeof(buf) - len)) <= 0)
			exit(69);
		len += (size_t)r;
	}
}

/* The line at pos (without CRLF); pos moves past it. */
static char *
line(int fd)
{
	char *p, *l;

	for (;;) {
		if ((p = memmem(buf + pos, len - pos, "\r\n", 2)) != NULL)
			break;
		need(len - pos + 1, fd);
	}
	*p = '\0';
	l = buf + pos;
	pos = (size_t)(p - buf) + 2;
	return l;
}

/* Skip one RESP3 value; return its first line. */
static char *
skip(int fd)
{
	char *l = line(fd);
	long n, i;

	switch (l[0]) {
	case '$': case '=': case '!':
		if ((n = atol(l + 1)) >= 0) {
			need((size_t)n + 2, fd);
			pos += (size_t)n + 2;
		}
		break;
	case '*': case '~': case '>':
		for (i = 0, n = atol(l + 1); i < n; i++)
			skip(fd);
		break;
	case '%': case '|':
		for (i = 0, n = atol(l + 1); i < 2 * n; i++)
			skip(fd);
		break;
	}
	return l;
}

int
main(int argc, char **argv)
{
	static char req[8192];
	char *hello[2] = { "HELLO", "3" }, *l;
	size_t n;
	int fd;

	if (argc < 3)
		return 2;
	fd = unix_connect(argv[1]);
	n = resp_encode(req, sizeof(req), 2, hello);
	n += resp_encode(req + n, sizeof(req) - n, argc - 2, argv + 2);
	write_all(fd, req, n);
	skip(fd);
	l = skip(fd);
	if (l[0] == '-') {
		fprintf(stderr, "min_client: %s\n", l + 1);
		return 1;
	}
	printf("%s\n", l + 1);
	return 0;
}
