/*
 * A process that does nothing but log: COUNT lines of LEN bytes each
 * (the newline included) to stdout as fast as it can, then exits 0.
 * Line i (1 to COUNT) is "<i, 10 digits> xxx...x\n", so that a reader
 * can check that every line arrived, in order, and the last one is
 * known.  Lines are written whole, CHUNK bytes or a little less at a
 * time (a pipe's capacity by default), the way a program with a
 * buffered stdout writes.  The same binary is the baseline (stdout a
 * file) and the child procctld captures (bench.py, figure log-rate).
 *
 * usage: logwriter COUNT [LEN [CHUNK]]   (LEN 12 to 4096, default 80)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIGITS	10

/* The decimal counter D (DIGITS wide) plus one. */
static void
incr(char *d)
{
	int k;

	for (k = DIGITS - 1; k >= 0 && d[k] == '9'; k--)
		d[k] = '0';
	if (k >= 0)
		d[k]++;
}

int
main(int argc, char **argv)
{
	char num[DIGITS], *buf;
	size_t len = 80, chunk = 65536, per, n, off;
	unsigned long count, i;
	ssize_t w;

	if (argc < 2 || argc > 4)
		return 2;
	count = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		len = strtoul(argv[2], NULL, 10);
	if (argc > 3)
		chunk = strtoul(argv[3], NULL, 10);
	if (len < DIGITS + 2 || len > 4096 || chunk < len)
		return 2;
	per = chunk / len;
	if ((buf = malloc(per * len)) == NULL)
		return 1;
	/* The template: only the digits change from line to line. */
	for (n = 0; n < per; n++) {
		memset(buf + n * len, 'x', len - 1);
		buf[n * len + DIGITS] = ' ';
		buf[n * len + len - 1] = '\n';
	}
	memset(num, '0', DIGITS);
	for (i = 0; i < count; ) {
		for (n = 0; n < per && i < count; n++, i++) {
			incr(num);
			memcpy(buf + n * len, num, DIGITS);
		}
		for (off = 0; off < n * len; off += (size_t)w)
			if ((w = write(1, buf + off, n * len - off)) == -1) {
				if (errno == EINTR) {
					w = 0;
					continue;
				}
				perror("logwriter: write");
				return 1;
			}
	}
	return 0;
}
