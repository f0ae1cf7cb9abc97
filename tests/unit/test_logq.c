/*
 * The daemon's log on its way out (common/logq.c, common/escape.c):
 * escaping, table-driven; then the queue on a pipe nobody reads, which
 * never blocks, drops what does not fit and counts it exactly, keeps
 * every line whole, and leaves stderr's own open file description
 * blocking (it is shared with the other process and with children).
 */
#include <sys/stat.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "escape.h"
#include "logq.h"

static const struct {
	const char	*in;
	size_t		 len;		/* 0: strlen */
	const char	*out;
} cases[] = {
	{ "plain text", 0, "plain text" },
	{ "a\nb\rc", 0, "a\\x0ab\\x0dc" },
	{ "\x1b[31mred\x07", 0, "\\x1b[31mred\\x07" },
	{ "nul\0byte", 8, "nul\\x00byte" },
	{ "del\x7f", 0, "del\\x7f" },
	{ "back\\slash", 0, "back\\\\slash" },
	{ "lit\\x1b", 0, "lit\\\\x1b" },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0,
	  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },	/* é € 😀 */
	{ "c1 \xc2\x9b", 0, "c1 \\xc2\\x9b" },		/* U+009B CSI */
	{ "c1 \xc2\x80", 0, "c1 \\xc2\\x80" },
	{ "nbsp \xc2\xa0", 0, "nbsp \xc2\xa0" },		/* U+00A0: kept */
	{ "bidi \xe2\x80\xae!", 0, "bidi \\xe2\\x80\\xae!" },	/* U+202E */
	{ "ls \xe2\x80\xa8", 0, "ls \\xe2\\x80\\xa8" },	/* U+2028 */
	{ "bad \xff\xfe", 0, "bad \\xff\\xfe" },
	{ "cut \xe2\x82", 0, "cut \\xe2\\x82" },		/* truncated */
	{ "overlong \xc0\xaf", 0, "overlong \\xc0\\xaf" },
	{ "surrogate \xed\xa0\x80", 0, "surrogate \\xed\\xa0\\x80" },
	{ "big \xf4\x90\x80\x80", 0, "big \\xf4\\x90\\x80\\x80" },
	{ "lone \x80", 0, "lone \\x80" },
};

static const struct {
	const char	*in;
	const char	*shown;		/* escape_display */
	const char	*lines;		/* escape_lines */
} display[] = {
	{ "plain", "plain", "plain" },
	{ "a\\b", "a\\b", "a\\b" },
	{ "a\nb\tc", "a\\x0ab\\x09c", "a\nb\tc" },
	{ "a\r\nb", "a\\x0d\\x0ab", "a\\x0d\nb" },
	{ "\x1b]0;t\x07", "\\x1b]0;t\\x07", "\\x1b]0;t\\x07" },
	{ "c1 \xc2\x9b raw \x9b", "c1 \\xc2\\x9b raw \\x9b",
	  "c1 \\xc2\\x9b raw \\x9b" },
	{ "del\x7f", "del\\x7f", "del\\x7f" },
	{ "caf\xc3\xa9", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "\xe2\x81\xa6iso", "\\xe2\\x81\\xa6iso", "\\xe2\\x81\\xa6iso" },
};

static void
test_escape(void)
{
	char out[256];
	size_t i, len, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		n = escape_log(out, sizeof(out), cases[i].in, len);
		CHECK(strcmp(out, cases[i].out) == 0 && n == strlen(out),
		    "case %zu: got '%s', want '%s'", i, out, cases[i].out);
	}
	/* A full buffer ends at a whole escape, NUL-terminated. */
	n = escape_log(out, 6, "ab\x1b", 3);
	CHECK(n == 2 && strcmp(out, "ab") == 0, "cut: '%s' (%zu)", out, n);
	n = escape_log(out, 7, "ab\x1b", 3);
	CHECK(n == 6 && strcmp(out, "ab\\x1b") == 0, "fits: '%s'", out);
	n = escape_log(out, 1, "abc", 3);
	CHECK(n == 0 && out[0] == '\0', "size 1: '%s'", out);
	/* What procctl shows: the same, a backslash as it is; text of
	 * several lines keeps its newlines and tabs, nothing else. */
	for (i = 0; i < sizeof(display) / sizeof(display[0]); i++) {
		len = strlen(display[i].in);
		n = escape_display(out, sizeof(out), display[i].in, len);
		CHECK(strcmp(out, display[i].shown) == 0 && n == strlen(out),
		    "display %zu: got '%s', want '%s'", i, out,
		    display[i].shown);
		n = escape_lines(out, sizeof(out), display[i].in, len);
		CHECK(strcmp(out, display[i].lines) == 0 && n == strlen(out),
		    "lines %zu: got '%s', want '%s'", i, out,
		    display[i].lines);
		CHECK(escape_needed(display[i].in, len) ==
		    (strcmp(display[i].in, display[i].shown) != 0),
		    "needed %zu", i);
	}
}

/* What the pipe holds now, appended to *ALL (LEN bytes so far). */
static void
read_all(int fd, char **all, size_t *len)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		*all = realloc(*all, *len + (size_t)n + 1);
		memcpy(*all + *len, chunk, (size_t)n);
		*len += (size_t)n;
		(*all)[*len] = '\0';
	}
}

static void
test_queue(void)
{
	enum { LINES = 20000 };
	char text[128], *all = NULL, *line, *next;
	size_t len = 0;
	unsigned long long seen = 0, dropped = 0, notices = 0, bad = 0, d;
	int p[2], saved, flags, i, wait_fd, reopened;

	if (pipe(p) == -1 || (saved = dup(2)) == -1) {
		CHECK(0, "pipe: %m");
		return;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	dup2(p[1], 2);
	close(p[1]);
	alarm(60);	/* a write that blocks fails the test, not hangs it */
	logq_init();
	reopened = logq_fd();
	for (i = 0; i < LINES; i++) {
		snprintf(text, sizeof(text), "info: line %d of a stderr "
		    "nobody reads (and \x1b[1m some bytes to escape)", i);
		logq_put(LOGQ_INFO, text, strlen(text));
	}
	wait_fd = logq_wait_fd();
	/* The reader comes back: everything queued, then the count. */
	for (i = 0; i < 10000 && logq_wait_fd() != -1; i++) {
		read_all(p[0], &all, &len);
		logq_flush();
	}
	read_all(p[0], &all, &len);
	alarm(0);
	flags = fcntl(2, F_GETFL);
	dup2(saved, 2);
	close(saved);
	close(p[0]);

	CHECK(reopened > 2, "stderr on a pipe is opened again: %d", reopened);
	CHECK(wait_fd == reopened, "full: wait for %d, not %d", reopened,
	    wait_fd);
	CHECK(logq_wait_fd() == -1, "drained");
	CHECK(!(flags & O_NONBLOCK), "fd 2's own description stays blocking");
	for (line = all; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (sscanf(line, "procctld: warn: %llu log lines dropped "
		    "(stderr not read)", &d) == 1) {
			dropped += d;
			notices++;
		} else if (strncmp(line, "procctld: info: line ", 21) == 0 &&
		    strstr(line, "(and \\x1b[1m some bytes to escape)"))
			seen++;
		else
			bad++;
	}
	CHECK(bad == 0, "%llu lines are not whole", bad);
	CHECK(notices >= 1, "a drop count was written");
	CHECK(seen + dropped == LINES, "%llu written + %llu dropped != %d",
	    seen, dropped, LINES);
	CHECK(seen * 100 > LOGQ_MAX, "the queue was used: %llu lines", seen);
	free(all);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_escape();
	test_queue();
	return check_report("test_logq");
}
