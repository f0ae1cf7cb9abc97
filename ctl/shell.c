/*
 * The interactive shell: connect / disconnect / exit, commands sent as
 * they are typed (pipelined: nothing waits for a reply), replies and
 * events printed above the prompt as they arrive without disturbing the
 * line being typed.  One thread: a poll loop over the terminal and the
 * socket; on a terminal the line editor (the module edit.so, GNU
 * readline's callback interface) is handed each keystroke.  With stdin
 * not a terminal, the same loop reads lines without an editor and prints
 * no prompt, so the shell can be scripted.  Tab completion is complete.c's,
 * from what the daemon says of its commands; the shell keeps its
 * candidates current by running the commands they come from at connect
 * and passing it every event.
 *
 * The connection is link.c's: the handshake, which request a reply
 * answers, and, on a terminal, the connection made again (as the same
 * session) when it is lost.  The link tells the shell what to print and
 * when the prompt changes through its hooks; the shell calls down into
 * it and owns the terminal.
 *
 * A following command (given its option named `follow`: `logs -f`; the
 * daemon's command maps say which commands have one) holds the terminal
 * as a program run from a shell would: its reply, then each line it
 * pushes, with no prompt and the keys left unread (nothing typed is
 * echoed into its output), until Ctrl-C.  Ctrl-C sends UNFOLLOW on the
 * same connection and gives the prompt back at once; lines still on
 * their way until UNFOLLOW's reply are dropped (docs/protocol.md).
 * Events go on appearing meanwhile.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "paths.h"

/* The reply to an UNFOLLOW the shell sent (LINK_USER and LINK_FOLLOW are
 * the user's, 0... completion's sources). */
#define TAG_UNFOLLOW	((size_t)-3)

static struct {
	int		 tty;
	int		 json;
	const struct editor *ed;	/* on a terminal */
	int		 ed_on;		/* the editor shows the line */
	int		 done;
	int		 rc;
	int		 stdin_eof;
	char		 prompt[400];
	struct buf	 lines;		/* non-tty input not yet a line */
	char		 histfile[4096];
	struct cmd_table cmds;		/* the daemon's, from HELLO */
	int		 following;	/* a following command holds the
					 * terminal: no prompt, keys wait */
	size_t		 unfollows;	/* UNFOLLOWs not answered yet: the
					 * follow pushes before them are stale */
} sh;

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
static void
show(const char *text, size_t len)
{
	if (sh.ed_on)
		sh.ed->hide();
	fwrite(text, 1, len, stdout);
	if (len > 0 && text[len - 1] != '\n')
		fputc('\n', stdout);
	fflush(stdout);
	if (sh.ed_on)
		sh.ed->show();
}

static void
showf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
showf(const char *fmt, ...)
{
	struct buf b = { 0 };
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	show(b.data ? b.data : "", b.len);
	buf_free(&b);
}

/* A message about the session rather than a reply: above the prompt on a
 * terminal; on stderr when scripted, so stdout holds one line per reply. */
static void
notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
notef(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (sh.tty) {
		struct buf b = { 0 };

		buf_vprintf(&b, fmt, ap);
		show(b.data ? b.data : "", b.len);
		buf_free(&b);
	} else {
		fputs("procctl: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

/* The exit status of a script; on a terminal, the user saw why. */
static void
fail(int code)
{
	if (!sh.tty)
		sh.rc = code;
}

static void
set_prompt(void)
{
	const struct target *t = link_target();
	char def[sizeof(t->path)];

	if (sh.following)
		sh.prompt[0] = '\0';	/* the command's output has the screen */
	else if (link_lost())
		snprintf(sh.prompt, sizeof(sh.prompt),
		    "procctl (reconnecting)> ");
	else if (!link_connected())
		snprintf(sh.prompt, sizeof(sh.prompt),
		    "procctl (not connected)> ");
	else if (!t->tcp && paths_default_socket(def, sizeof(def)) == 0 &&
	    (strcmp(def, t->path) == 0 ||
	    strcmp(PROCCTL_SYSTEM_SOCKET, t->path) == 0))
		snprintf(sh.prompt, sizeof(sh.prompt), "procctl> ");
	else if (t->tcp)
		snprintf(sh.prompt, sizeof(sh.prompt), "procctl %s@%s> ",
		    t->user, link_name());
	else
		snprintf(sh.prompt, sizeof(sh.prompt), "procctl %s> ",
		    link_name());
	if (sh.ed != NULL)
		sh.ed->prompt(sh.prompt, sh.ed_on);
}

/* Ask for the candidates of completion: each source command, once. */
static void
ask_sources(void)
{
	struct buf b = { 0 };
	const char *argv[1];
	size_t i, n = complete_nsources();

	for (i = 0; i < n; i++) {
		argv[0] = complete_source(i);
		if (resp_put_command(&b, 1, argv, NULL) == -1) {
			buf_free(&b);
			return;
		}
	}
	if (n > 0 && link_send(&b) == 0)
		for (i = 0; i < n; i++)
			link_expect(i);
	buf_free(&b);
}

/* ---- what the link tells the shell ---- */

/* The session is on: say so the first time, and learn what to complete
 * from the daemon's commands (completion is for a terminal). */
static void
on_hello(const struct resp_value *v, int again)
{
	if (!again && sh.tty && link_target()->tcp)
		showf("connected to %s as %s", link_name(),
		    link_target()->user);
	else if (!again && sh.tty)
		showf("connected to %s", link_name());
	complete_reset();
	cmdinfo_free(&sh.cmds);
	if (cmdinfo_parse(&sh.cmds, resp_map_get(v, "commands")) == 0 &&
	    sh.tty) {
		complete_set_commands(&sh.cmds);
		ask_sources();
	}
}

/* V as JSON, shown as its own line. */
static void
show_json(const struct resp_value *v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return;
	render_json(fp, v);
	fclose(fp);
	show(text, len);
	free(text);
}

/* A following command's push: its line, or with --json its map. */
static void
show_followed(const struct resp_value *v)
{
	struct buf line = { 0 };

	if (sh.json)
		show_json(v->n >= 3 ? &v->elem[2] : v);
	else if (render_followed(&line, v) == 0)
		show(line.data, line.len);
	buf_free(&line);
}

static void
on_event(const struct resp_value *v)
{
	struct buf line = { 0 };

	if (render_is_followed(v)) {
		/* Sent before the daemon had our UNFOLLOW: stale. */
		if (sh.unfollows == 0)
			show_followed(v);
		return;
	}
	complete_note_event(v);
	if (sh.json) {
		show_json(v);
		return;
	}
	if (render_event(&line, v) == 0)
		show(line.data, line.len);
	buf_free(&line);
}

static void
show_reply(const struct resp_value *v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if (v->type == RESP_T_ERROR) {
		showf("error: %s", error_message(v->str));
		fail(error_exit_code(v->str));
		return;
	}
	if (!sh.json && v->type == RESP_T_ARRAY && v->n == 0) {
		showf("(empty)");
		return;
	}
	if ((fp = open_memstream(&text, &len)) == NULL)
		return;
	if (sh.json)
		render_json(fp, v);
	else
		render_human(fp, v);
	fclose(fp);
	if (len > 0)
		show(text, len);
	free(text);
}

/* ---- following ---- */

/* The terminal is the user's again: the prompt, and what was typed
 * meanwhile dropped, as Ctrl-C does to a program run from a shell. */
static void
end_follow(void)
{
	sh.following = 0;
	tcflush(STDIN_FILENO, TCIFLUSH);
	set_prompt();
}

/* Ctrl-C: UNFOLLOW on this connection, and the prompt back now. */
static void
stop_follow(void)
{
	static const char *const unfollow[] = { "UNFOLLOW" };
	struct buf b = { 0 };

	end_follow();
	if (resp_put_command(&b, 1, unfollow, NULL) == 0) {
		link_expect(TAG_UNFOLLOW);
		if (link_send(&b) == 0)
			sh.unfollows++;
	}
	buf_free(&b);
}

/* A following command's reply: the first lines of its stream (with
 * --json one element a line, as its pushes will be); an error, and
 * nothing follows. */
static void
show_follow_reply(const struct resp_value *v)
{
	size_t i;

	if (v->type == RESP_T_ERROR) {
		show_reply(v);
		if (sh.following)
			end_follow();
	} else if (v->type != RESP_T_ARRAY)
		show_reply(v);
	else if (sh.json)
		for (i = 0; i < v->n; i++)
			show_json(&v->elem[i]);
	else if (v->n > 0)
		show_reply(v);
}

static void
on_reply(size_t tag, const struct resp_value *v)
{
	if (tag == LINK_USER)
		show_reply(v);
	else if (tag == LINK_FOLLOW)
		show_follow_reply(v);
	else if (tag == TAG_UNFOLLOW) {
		if (sh.unfollows > 0)
			sh.unfollows--;
		if (v->type == RESP_T_ERROR)
			show_reply(v);
	} else
		complete_note_reply(tag, v);
}

/* The connection is gone, and with it what it said and what it was
 * following. */
static void
on_closed(void)
{
	complete_reset();
	cmdinfo_free(&sh.cmds);
	sh.unfollows = 0;
	if (sh.following)
		end_follow();
}

static const struct link_hooks link_hooks = {
	.show = showf,
	.note = notef,
	.state = set_prompt,
	.fail = fail,
	.hello = on_hello,
	.reply = on_reply,
	.event = on_event,
	.closed = on_closed,
};

/* ---- lines from the user ---- */

static void
local_help(void)
{
	showf("shell commands:\n"
	    "  connect                    the local daemon\n"
	    "  connect <path>             a Unix socket (or unix:///path, "
	    "tcp://[user@]host:port)\n"
	    "  connect [<user>@]<host> <port>\n"
	    "                             a daemon over TCP (IPv4 or IPv6)\n"
	    "  connect --tls [--cacert F] [--cert F --key F] <host> <port>\n"
	    "                             the same over TLS\n"
	    "  disconnect                 stay here, unconnected (and stop "
	    "reconnecting)\n"
	    "  exit                       disconnect and leave (also quit, "
	    "Ctrl-D)\n"
	    "a lost connection is made again until it works or you type "
	    "disconnect\n"
	    "a command given --follow (-f) shows what follows until Ctrl-C\n"
	    "daemon commands: %s",
	    link_connected() ? "below" : link_lost() ?
	    "once reconnected, 'help'" : "connect first, then 'help'");
}

/* connect [<user>@]<host> <port>: the user for this target only. */
static int
connect_host_port(const char *spec, const char *port, struct target *t)
{
	const char *at = strrchr(spec, '@');
	char user[sizeof(t->user)];

	if (at == NULL)
		return target_host_port(spec, port, t);
	if (at == spec || (size_t)(at - spec) >= sizeof(user)) {
		showf("procctl: bad user in '%s'", spec);
		return -1;
	}
	snprintf(user, sizeof(user), "%.*s", (int)(at - spec), spec);
	if (target_host_port(at + 1, port, t) == -1)
		return -1;
	snprintf(t->user, sizeof(t->user), "%s", user);
	return 0;
}

static struct tls_opts tls_defaults;

void
shell_tls_defaults(const struct tls_opts *o)
{
	tls_defaults = *o;
}

/* connect [--tls] [--cacert F] [--cert F --key F] [<path> | [<user>@]<host>
 * <port>]: TLS options start from the command line's. */
static void
connect_cmd(int argc, const char **argv)
{
	struct tls_opts tls = tls_defaults;
	const char *pos[3];
	struct target t;
	int i = 1, n = 0, explicit_tls = 0, rc;

	while (i < argc) {
		if ((rc = target_tls_option(&tls, argc, argv, &i)) == -1)
			goto bad;
		if (rc == 1) {
			explicit_tls = 1;
			continue;
		}
		if (n == 2)
			goto usage;
		pos[n++] = argv[i++];
	}
	if ((n == 0 && target_default(&t) == 0) ||
	    (n == 1 && target_parse(pos[0], &t) == 0) ||
	    (n == 2 && connect_host_port(pos[0], pos[1], &t) == 0)) {
		if (t.tcp)
			target_apply_tls(&t, &tls);
		else if (explicit_tls) {
			showf("TLS options go with a TCP target: connect --tls "
			    "<host> <port>");
			goto bad;
		}
		link_connect(&t);
		return;
	}
	goto bad;
usage:
	showf("usage: connect [--tls] [--cacert F] [--cert F --key F] "
	    "[<path> | [<user>@]<host> <port>]");
bad:
	fail(EXIT_USAGE);
}

/* The user's command.  Expected before it is sent: if sending fails, it is
 * answered with the others the connection owed.  A following command
 * holds a terminal until Ctrl-C. */
static void
send_argv(int argc, const char *const *argv, const size_t *lens)
{
	const struct cmd_info *ci = cmdinfo_find(&sh.cmds, argv[0]);
	struct buf b = { 0 };
	int follows;

	follows = ci != NULL && cmdinfo_option_given(ci, argc, argv,
	    CMD_FOLLOW_OPTION);
	if (resp_put_command(&b, argc, argv, lens) == 0) {
		link_expect(follows ? LINK_FOLLOW : LINK_USER);
		if (link_send(&b) == 0 && follows && sh.tty) {
			sh.following = 1;
			set_prompt();
		}
	}
	buf_free(&b);
}

/* The shell's own commands, or one for the daemon. */
static void
run_argv(int argc, const char **argv, const size_t *lens)
{
	if (strcasecmp(argv[0], "exit") == 0 ||
	    strcasecmp(argv[0], "quit") == 0) {
		sh.done = 1;
		return;
	}
	if (strcasecmp(argv[0], "disconnect") == 0) {
		/* Also while retrying: the user gives up on the daemon. */
		if (link_connected() || link_lost()) {
			link_disconnect(NULL);
			if (sh.tty)
				showf("disconnected");
		} else
			showf("not connected");
		return;
	}
	if (strcasecmp(argv[0], "connect") == 0) {
		connect_cmd(argc, argv);
		return;
	}
	if (strcasecmp(argv[0], "help") == 0 && argc == 1)
		local_help();
	if (!link_connected()) {
		/* Said at once: nothing waits for a daemon that is away. */
		if (strcasecmp(argv[0], "help") != 0)
			showf("%s", link_lost() ? "not connected: reconnecting "
			    "(type disconnect to stop)" : "not connected: "
			    "connect [<path> | [<user>@]<host> <port>] first");
		fail(EXIT_UNAVAIL);
		return;
	}
	send_argv(argc, argv, lens);
}

/* LINE split into words as the daemon would (quotes, escapes), then run. */
static void
run_line(const char *line, size_t len)
{
	struct buf words = { 0 };
	size_t *offs = NULL, offs_cap = 0, *lens = NULL;
	const char **argv = NULL;
	const char *err;
	int argc, i;

	argc = resp_split_line(line, len, &words, &offs, &offs_cap, 4096,
	    &err);
	if (argc < 0) {
		showf("error: %s", err);
		goto done;
	}
	if (argc == 0)
		goto done;
	argv = calloc((size_t)argc, sizeof(*argv));
	lens = calloc((size_t)argc, sizeof(*lens));
	if (argv == NULL || lens == NULL)
		goto done;
	for (i = 0; i < argc; i++) {
		argv[i] = words.data + offs[i];
		lens[i] = (i + 1 < argc ? offs[i + 1] : words.len) - offs[i] -
		    1;
	}
	run_argv(argc, argv, lens);
done:
	free(argv);
	free(lens);
	free(offs);
	buf_free(&words);
}

static void
on_line(char *line)
{
	if (line == NULL) {		/* Ctrl-D */
		sh.done = 1;
		fputc('\n', stdout);
		return;
	}
	/* The editor is between lines here: print without redrawing. */
	sh.ed_on = 0;
	run_line(line, strlen(line));
	sh.ed_on = 1;
	free(line);
}

static void
read_stdin_lines(void)
{
	char *nl;
	ssize_t n;

	if (buf_reserve(&sh.lines, 65536) == -1)
		return;
	n = read(STDIN_FILENO, sh.lines.data + sh.lines.len,
	    sh.lines.cap - sh.lines.len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		sh.stdin_eof = 1;
		if (buf_avail(&sh.lines) > 0)
			run_line(buf_head(&sh.lines), buf_avail(&sh.lines));
		buf_reset(&sh.lines);
		return;
	}
	sh.lines.len += (size_t)n;
	while ((nl = memchr(buf_head(&sh.lines), '\n',
	    buf_avail(&sh.lines))) != NULL) {
		size_t len = (size_t)(nl - buf_head(&sh.lines));

		run_line(buf_head(&sh.lines), len);
		buf_consume(&sh.lines, len + 1);
		if (sh.done)
			return;
	}
}

/* ---- the loop ---- */

/* The line editor, on a terminal; without its module, plain lines. */
static void
load_editor(void)
{
	char why[600];

	if ((sh.ed = module_load("edit", CTL_EDIT_SYMBOL, why,
	    sizeof(why))) == NULL) {
		fprintf(stderr, "procctl: %s; reading plain lines\n", why);
		sh.tty = 0;
	}
}

static void
start_editor(void)
{
	static const struct edit_hooks hooks = { on_line, complete_words };
	const char *home = getenv("HOME"), *hist = getenv("PROCCTL_HISTORY");

	if (hist != NULL)
		snprintf(sh.histfile, sizeof(sh.histfile), "%s", hist);
	else if (home != NULL)
		snprintf(sh.histfile, sizeof(sh.histfile),
		    "%s/.procctl_history", home);
	sh.ed->start(sh.prompt, sh.histfile, &hooks);
	sh.ed_on = 1;
}

static void
after_signals(void)
{
	if (got_sigint) {
		got_sigint = 0;
		/* Ctrl-C ends a follow, or drops the line, as in a shell. */
		if (sh.following)
			stop_follow();
		else if (sh.ed_on)
			sh.ed->cancel();
	}
	if (got_sigwinch) {
		got_sigwinch = 0;
		if (sh.ed_on)
			sh.ed->resize();
	}
}

/* Whatever input poll found: keystrokes or lines, and the daemon's. */
static void
read_ready(const struct pollfd *pfd, int fds)
{
	int i;

	for (i = 0; i < fds; i++) {
		if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (pfd[i].fd == STDIN_FILENO) {
			if (sh.ed != NULL)
				sh.ed->input();
			else
				read_stdin_lines();
		} else if (pfd[i].fd == link_fd())
			link_read();
		if (sh.done)
			break;
	}
}

/*
 * The wait ends for input, a signal, or the link's next retry (MS; -1:
 * none).  A signal caught before it (while a line was being shown) ends
 * it at once: SIGINT and SIGWINCH are held from the look at their flags
 * until ppoll lets them in, so none can slip between the two and leave
 * Ctrl-C waiting for the next keystroke or line.
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

/* One turn of the loop: a retry if due, then whatever is ready.  0 when
 * piped input is over and every reply is in. */
static int
turn(void)
{
	struct pollfd pfd[2];
	int n, fds = 0;

	link_tick();
	/* Keys wait while a following command has the terminal. */
	if (!sh.stdin_eof && !sh.following) {
		pfd[fds].fd = STDIN_FILENO;
		pfd[fds++].events = POLLIN;
	}
	if (link_connected()) {
		pfd[fds].fd = link_fd();
		pfd[fds++].events = POLLIN;
	}
	/* Piped input is over: finish once every reply is in. */
	if (sh.stdin_eof && !link_waiting())
		return 0;
	/* TLS may hold decrypted bytes the socket no longer shows. */
	if (link_buffered()) {
		link_read();
		return 1;
	}
	n = wait_ready(pfd, fds, link_timeout());
	after_signals();
	if (n > 0)
		read_ready(pfd, fds);
	return 1;
}

/* The terminal (editor, signals) if there is one, and the first
 * connection when there is a daemon; otherwise say how. */
static void
start(const struct target *t, int have_target, int json)
{
	struct sigaction sa;

	memset(&sh, 0, sizeof(sh));
	sh.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	sh.json = json;
	/* A person at a terminal (with or without the editor) waits for a
	 * daemon that comes back; a script is told at once. */
	link_init(&link_hooks, sh.tty);
	if (sh.tty)
		load_editor();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	if (sh.tty) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGWINCH, &sa, NULL);
	}
	set_prompt();
	if (have_target || t->tcp || access(t->path, F_OK) == 0)
		link_connect(t);
	else if (sh.tty)
		showf("procctld is not running at %s; start it, then "
		    "connect [<path> | [<user>@]<host> <port>]", t->path);
	if (sh.ed != NULL)
		start_editor();
}

int
shell_run(const struct target *t, int have_target, int json)
{
	start(t, have_target, json);
	while (!sh.done && turn())
		;
	if (sh.ed != NULL) {
		sh.ed->stop();
		sh.ed_on = 0;
		sh.ed = NULL;
	}
	link_disconnect(NULL);
	complete_reset();
	cmdinfo_free(&sh.cmds);
	buf_free(&sh.lines);
	return sh.rc;
}
