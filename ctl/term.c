/*
 * The shell's terminal, below the shell: the line editor (the module
 * edit.so) when standard input and output are a terminal, plain lines
 * read from standard input otherwise; output shown above the prompt
 * without disturbing the line being typed; Ctrl-C and window resizes.
 * It knows nothing of the daemon: lines, Ctrl-D, Ctrl-C and Tab go up
 * through struct term_hooks, and the shell's loop waits here
 * (term_wait) for the keys and for the one descriptor it names.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

static struct {
	const struct term_hooks *hooks;
	int		 tty;		/* the editor has the terminal */
	const struct editor *ed;	/* on a terminal */
	int		 ed_on;		/* the editor shows the line */
	int		 input_done;	/* plain input is over */
	struct buf	 lines;		/* plain input not yet a line */
	char		 histfile[4096];
} tm;

static volatile sig_atomic_t got_sigint, got_sigwinch;

static void
on_signal(int sig)
{
	if (sig == SIGINT)
		got_sigint = 1;
	else
		got_sigwinch = 1;
}

/* Print TEXT above the prompt, then put the prompt and whatever the user
 * had typed (and the cursor) back as they were. */
void
term_show(const char *text, size_t len)
{
	if (tm.ed_on)
		tm.ed->hide();
	fwrite(text, 1, len, stdout);
	if (len > 0 && text[len - 1] != '\n')
		fputc('\n', stdout);
	fflush(stdout);
	if (tm.ed_on)
		tm.ed->show();
}

int
term_tty(void)
{
	return tm.tty;
}

int
term_input_done(void)
{
	return tm.input_done;
}

void
term_prompt(const char *prompt)
{
	if (tm.ed != NULL)
		tm.ed->prompt(prompt, tm.ed_on);
}

void
term_drop_input(void)
{
	if (tm.tty)
		tcflush(STDIN_FILENO, TCIFLUSH);
}

/* The editor's line (NULL at Ctrl-D), between two prompts: what the
 * shell shows meanwhile is printed without redrawing. */
static void
on_edited(char *line)
{
	if (line == NULL) {
		fputc('\n', stdout);
		tm.hooks->eof();
		return;
	}
	tm.ed_on = 0;
	tm.hooks->line(line, strlen(line));
	tm.ed_on = 1;
	free(line);
}

/* Plain input: each whole line up, and the last one at the end even
 * without its newline. */
static void
read_plain_lines(void)
{
	char *nl;
	ssize_t n;
	size_t len;
	int done;

	if (buf_reserve(&tm.lines, 65536) == -1)
		return;
	n = read(STDIN_FILENO, tm.lines.data + tm.lines.len,
	    tm.lines.cap - tm.lines.len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		tm.input_done = 1;
		if (buf_avail(&tm.lines) > 0)
			tm.hooks->line(buf_head(&tm.lines),
			    buf_avail(&tm.lines));
		buf_reset(&tm.lines);
		return;
	}
	tm.lines.len += (size_t)n;
	while ((nl = memchr(buf_head(&tm.lines), '\n',
	    buf_avail(&tm.lines))) != NULL) {
		len = (size_t)(nl - buf_head(&tm.lines));
		done = tm.hooks->line(buf_head(&tm.lines), len);
		buf_consume(&tm.lines, len + 1);
		if (done)
			return;
	}
}

int
term_init(const struct term_hooks *hooks)
{
	struct sigaction sa;
	char why[600];
	int terminal = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);

	memset(&tm, 0, sizeof(tm));
	tm.hooks = hooks;
	if (!terminal)
		return 0;
	if ((tm.ed = module_load("edit", CTL_EDIT_SYMBOL, why,
	    sizeof(why))) == NULL) {
		fprintf(stderr, "procctl: %s; reading plain lines\n", why);
		return 1;
	}
	tm.tty = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	return 1;
}

void
term_start(const char *prompt)
{
	static struct edit_hooks hooks = { on_edited, NULL };
	const char *home = getenv("HOME"), *hist = getenv("PROCCTL_HISTORY");

	if (tm.ed == NULL)
		return;
	hooks.complete = tm.hooks->complete;
	if (hist != NULL)
		snprintf(tm.histfile, sizeof(tm.histfile), "%s", hist);
	else if (home != NULL)
		snprintf(tm.histfile, sizeof(tm.histfile),
		    "%s/.procctl_history", home);
	tm.ed->start(prompt, tm.histfile, &hooks);
	tm.ed_on = 1;
}

void
term_stop(void)
{
	if (tm.ed != NULL)
		tm.ed->stop();
	tm.ed_on = 0;
	tm.ed = NULL;
	buf_free(&tm.lines);
}

static void
after_signals(void)
{
	if (got_sigint) {
		got_sigint = 0;
		/* Ctrl-C is the shell's, or drops the line, as in a shell. */
		if (!tm.hooks->interrupt() && tm.ed_on)
			tm.ed->cancel();
	}
	if (got_sigwinch) {
		got_sigwinch = 0;
		if (tm.ed_on)
			tm.ed->resize();
	}
}

/*
 * The wait ends for input, a signal, or after MS (-1: none).  A signal
 * caught before it (while a line was being shown) ends it at once:
 * SIGINT and SIGWINCH are held from the look at their flags until ppoll
 * lets them in, so none can slip between the two and leave Ctrl-C
 * waiting for the next keystroke or line.
 */
static int
wait_ready(struct pollfd *pfd, int fds, int ms)
{
	struct timespec ts, *tsp = NULL;
	sigset_t held, old;
	int n;

	sigemptyset(&held);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGWINCH);
	sigprocmask(SIG_BLOCK, &held, &old);
	if (got_sigint || got_sigwinch)
		ms = 0;
	if (ms >= 0) {
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000;
		tsp = &ts;
	}
	n = ppoll(pfd, (nfds_t)fds, tsp, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return n;
}

int
term_wait(int keys, int fd, int ms)
{
	struct pollfd pfd[2];
	int n, fds = 0, k = -1, f = -1;
	const short ready = POLLIN | POLLHUP | POLLERR;

	if (keys && !tm.input_done) {
		pfd[k = fds].fd = STDIN_FILENO;
		pfd[fds++].events = POLLIN;
	}
	if (fd != -1) {
		pfd[f = fds].fd = fd;
		pfd[fds++].events = POLLIN;
	}
	n = wait_ready(pfd, fds, ms);
	after_signals();
	if (n <= 0)
		return 0;
	if (k != -1 && (pfd[k].revents & ready)) {
		if (tm.ed != NULL)
			tm.ed->input();
		else
			read_plain_lines();
	}
	return f != -1 && (pfd[f].revents & ready);
}
