/*
 * The interactive shell: connect / disconnect / exit, commands sent as
 * they are typed (pipelined: nothing waits for a reply), replies and
 * events printed above the prompt as they arrive without disturbing the
 * line being typed.  One thread: a poll loop over the terminal and the
 * socket.  The terminal is term.c's: on a terminal the line editor (the
 * module edit.so, GNU readline's callback interface) is handed each
 * keystroke; with stdin not a terminal, lines are read without an editor
 * and no prompt is printed, so the shell can be scripted.  Tab completion
 * is complete.c's, from what the daemon says of its commands; the shell
 * keeps its candidates current by running the commands they come from at
 * connect and passing it every event.
 *
 * The connection is link.c's: the handshake, which request a reply
 * answers, and, on a terminal, the connection made again (as the same
 * session) when it is lost.  The link and the terminal tell the shell
 * what happened through their hooks (what to print, the prompt to
 * change; a line typed, Ctrl-C); the shell calls down into both.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"
#include "paths.h"

/* The reply to an UNFOLLOW the shell sent (LINK_USER and LINK_FOLLOW are
 * the user's, 0... completion's sources). */
#define TAG_UNFOLLOW	((size_t)-3)

static struct {
	int		 tty;		/* the editor has a terminal */
	int		 json;
	int		 done;
	int		 rc;
	char		 prompt[400];
	struct cmd_table cmds;		/* the daemon's, from HELLO */
	int		 following;	/* a following command holds the
					 * terminal: no prompt, keys wait */
	size_t		 unfollows;	/* UNFOLLOWs not answered yet: the
					 * follow pushes before them are stale */
} sh;

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
	term_show(b.data ? b.data : "", b.len);
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
		term_show(b.data ? b.data : "", b.len);
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
	term_prompt(sh.prompt);
}

/* Ask for the candidates of completion: each source command, once. */
static void
ask_sources(void)
{
	struct buf b = { 0 };
	size_t i, n = complete_nsources();

	for (i = 0; i < n; i++) {
		if (complete_put_source(&b, i) == -1) {
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
	term_show(text, len);
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
		term_show(line.data, line.len);
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
		term_show(line.data, line.len);
	buf_free(&line);
}

static void
show_reply(const struct resp_value *v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if (v->type == RESP_T_ERROR) {
		struct buf msg = { 0 };

		render_error(&msg, v);
		showf("error: %.*s", (int)msg.len, msg.data ? msg.data : "");
		buf_free(&msg);
		fail(error_exit_code(v->str));
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
		term_show(text, len);
	free(text);
}

/* ---- following ---- */

/* The terminal is the user's again: the prompt, and what was typed
 * meanwhile dropped, as Ctrl-C does to a program run from a shell. */
static void
end_follow(void)
{
	sh.following = 0;
	term_drop_input();
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
	    "  connect <path>             a Unix socket (or unix:///path,\n"
	    "                             tcp://[user@]host:port)\n"
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

/* A line from the terminal: the shell's or the daemon's command. */
static int
on_line(const char *line, size_t len)
{
	run_line(line, len);
	return sh.done;
}

static void
on_eof(void)				/* Ctrl-D */
{
	sh.done = 1;
}

/* Ctrl-C: it ends a follow; otherwise the line typed is dropped. */
static int
on_interrupt(void)
{
	if (!sh.following)
		return 0;
	stop_follow();
	return 1;
}

/* ---- the loop ---- */

/* One turn of the loop: a retry if due, then whatever is ready.  0 when
 * piped input is over and every reply is in. */
static int
turn(void)
{
	int fd;

	link_tick();
	/* Piped input is over: finish once every reply is in. */
	if (term_input_done() && !link_waiting())
		return 0;
	/* TLS may hold decrypted bytes the socket no longer shows. */
	if (link_buffered()) {
		link_read();
		return 1;
	}
	/* Keys wait while a following command has the terminal.  What they
	 * ran may have closed the connection (disconnect, connect). */
	fd = link_fd();
	if (term_wait(!sh.following, fd, link_timeout()) && !sh.done &&
	    fd == link_fd())
		link_read();
	return 1;
}

/* The terminal (editor, signals) if there is one, and the first
 * connection when there is a daemon; otherwise say how. */
static void
start(const struct target *t, int have_target, int json)
{
	static const struct term_hooks hooks = { on_line, on_eof,
	    on_interrupt, complete_words };

	memset(&sh, 0, sizeof(sh));
	sh.json = json;
	/* A person at a terminal (with or without the editor) waits for a
	 * daemon that comes back; a script is told at once. */
	link_init(&link_hooks, term_init(&hooks));
	sh.tty = term_tty();
	set_prompt();
	if (have_target || t->tcp || access(t->path, F_OK) == 0)
		link_connect(t);
	else if (sh.tty)
		showf("procctld is not running at %s; start it, then "
		    "connect [<path> | [<user>@]<host> <port>]", t->path);
	term_start(sh.prompt);
}

int
shell_run(const struct target *t, int have_target, int json)
{
	start(t, have_target, json);
	while (!sh.done && turn())
		;
	term_stop();
	link_disconnect(NULL);
	complete_reset();
	cmdinfo_free(&sh.cmds);
	return sh.rc;
}
