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
 * Every request sent is remembered in a FIFO; each non-push value read
 * answers the oldest one.  Pushes (events) are told apart by their type,
 * so a reply is never taken for an event or lost among them.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"
#include "paths.h"

enum pending_kind {
	P_HELLO,	/* the handshake: command maps for completion */
	P_QUIET,	/* SUBSCRIBE: nothing to show */
	P_SOURCE,	/* candidates for completion (complete_source) */
	P_USER,		/* what the user typed: show it */
};

struct pending {
	enum pending_kind	 kind;
	size_t			 source;	/* P_SOURCE: which */
	struct pending		*next;
};

static struct {
	struct target	 t;
	struct client	 c;
	int		 connected;
	int		 tty;
	int		 json;
	const struct editor *ed;	/* on a terminal */
	int		 ed_on;		/* the editor shows the line */
	int		 done;
	int		 rc;
	int		 stdin_eof;
	char		 prompt[400];
	struct pending	*head, *tail;
	struct buf	 lines;		/* non-tty input not yet a line */
	char		 histfile[4096];
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

static void
set_prompt(void)
{
	char def[sizeof(sh.t.path)];

	if (!sh.connected)
		snprintf(sh.prompt, sizeof(sh.prompt),
		    "procctl (not connected)> ");
	else if (!sh.t.tcp && paths_default_socket(def, sizeof(def)) == 0 &&
	    (strcmp(def, sh.t.path) == 0 ||
	    strcmp(PROCCTL_SYSTEM_SOCKET, sh.t.path) == 0))
		snprintf(sh.prompt, sizeof(sh.prompt), "procctl> ");
	else if (sh.t.tcp)
		snprintf(sh.prompt, sizeof(sh.prompt), "procctl %s@%s> ",
		    sh.t.user, sh.c.target);
	else
		snprintf(sh.prompt, sizeof(sh.prompt), "procctl %s> ",
		    sh.c.target);
	if (sh.ed != NULL)
		sh.ed->prompt(sh.prompt, sh.ed_on);
}

static void
expect(enum pending_kind kind, size_t source)
{
	struct pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->kind = kind;
	p->source = source;
	if (sh.tail != NULL)
		sh.tail->next = p;
	else
		sh.head = p;
	sh.tail = p;
}

static size_t
drop_pending(void)
{
	struct pending *p;
	size_t users = 0;

	while ((p = sh.head) != NULL) {
		sh.head = p->next;
		users += p->kind == P_USER;
		free(p);
	}
	sh.tail = NULL;
	return users;
}

static void
disconnect(const char *why)
{
	size_t lost;

	if (!sh.connected)
		return;
	client_close(&sh.c);
	sh.connected = 0;
	lost = drop_pending();
	complete_reset();
	if (why != NULL) {
		notef("%s", why);
		if (lost)
			notef("%zu command(s) got no reply", lost);
		if (!sh.tty)
			sh.rc = EXIT_UNAVAIL;
	}
	set_prompt();
}

static int
send_argv(int argc, const char *const *argv, const size_t *lens,
    enum pending_kind kind)
{
	struct buf b = { 0 };
	int rc;

	if (resp_put_command(&b, argc, argv, lens) == -1) {
		buf_free(&b);
		return -1;
	}
	rc = client_send(&sh.c, &b, 30000);
	buf_free(&b);
	if (rc != 0) {
		disconnect("connection lost");
		return -1;
	}
	expect(kind, 0);
	return 0;
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
	if (n == 0 || client_send(&sh.c, &b, 30000) != 0) {
		buf_free(&b);
		if (n > 0)
			disconnect("connection lost");
		return;
	}
	buf_free(&b);
	for (i = 0; i < n; i++)
		expect(P_SOURCE, i);
}

static int
do_connect(const struct target *t)
{
	static const char *const sub[] = { "SUBSCRIBE" };
	struct buf b = { 0 };
	char *secret = NULL;
	int rc;

	disconnect(NULL);
	if (target_needs_secret(t) && (secret = target_secret(t)) == NULL)
		return -1;
	sh.t = *t;
	if (client_connect(&sh.c, t, 30000, 0) != 0) {
		free(secret);
		set_prompt();
		return -1;
	}
	/* Handshake and events on, in one write; what completion needs
	 * follows once the handshake has said what that is. */
	rc = client_put_hello(&b, t, secret ? secret : "") == -1 ||
	    resp_put_command(&b, 1, sub, NULL) == -1 ? -1 :
	    client_send(&sh.c, &b, 30000);
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	explicit_bzero(b.data, b.cap);
	buf_free(&b);
	if (rc != 0) {
		client_close(&sh.c);
		fprintf(stderr, "procctl: %s: connection lost\n", sh.c.target);
		set_prompt();
		return -1;
	}
	sh.connected = 1;
	expect(P_HELLO, 0);
	expect(P_QUIET, 0);
	set_prompt();
	return 0;
}

/* ---- values from the daemon ---- */

static void
on_event(const struct resp_value *v)
{
	struct buf line = { 0 };

	complete_note_event(v);
	if (sh.json) {
		FILE *fp = open_memstream(&line.data, &line.len);

		if (fp != NULL) {
			render_json(fp, v);
			fclose(fp);
			show(line.data, line.len);
			free(line.data);
		}
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
		if (!sh.tty)
			sh.rc = error_exit_code(v->str);
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

static void
on_reply(const struct resp_value *v)
{
	struct pending *p = sh.head;
	struct cmd_table tab;

	if (p == NULL) {
		notef("a reply nobody asked for; disconnecting");
		disconnect(NULL);
		return;
	}
	sh.head = p->next;
	if (sh.head == NULL)
		sh.tail = NULL;
	switch (p->kind) {
	case P_HELLO:
		if (v->type == RESP_T_ERROR) {
			notef("%s: %s", sh.c.target, error_message(v->str));
			if (!sh.tty)
				sh.rc = error_exit_code(v->str);
			free(p);
			disconnect(NULL);
			return;
		}
		/* Completion is for a terminal. */
		if (sh.tty && cmdinfo_parse(&tab,
		    resp_map_get(v, "commands")) == 0) {
			complete_set_commands(&tab);
			ask_sources();
		}
		if (sh.tty && sh.t.tcp)
			showf("connected to %s as %s", sh.c.target, sh.t.user);
		else if (sh.tty)
			showf("connected to %s", sh.c.target);
		break;
	case P_SOURCE:
		complete_note_reply(p->source, v);
		break;
	case P_QUIET:
		break;
	case P_USER:
		show_reply(v);
		break;
	}
	free(p);
}

static void
read_socket(void)
{
	struct resp_value v;
	const char *err;
	size_t used;
	ssize_t n;
	int rc;

	if (buf_reserve(&sh.c.in, 65536) == -1)
		return;
	n = client_recv(&sh.c, sh.c.in.data + sh.c.in.len,
	    sh.c.in.cap - sh.c.in.len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		disconnect("connection lost");
		return;
	}
	sh.c.in.len += (size_t)n;
	while (sh.connected && buf_avail(&sh.c.in) > 0) {
		rc = resp_parse_value(buf_head(&sh.c.in), buf_avail(&sh.c.in),
		    &used, &v, &err);
		if (rc == RESP_MORE)
			break;
		if (rc == RESP_BAD) {
			notef("protocol error from %s: %s", sh.c.target, err);
			disconnect(NULL);
			return;
		}
		buf_consume(&sh.c.in, used);
		if (v.type == RESP_T_PUSH)
			on_event(&v);
		else
			on_reply(&v);
		resp_value_free(&v);
	}
}

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
	    "  disconnect                 stay here, unconnected\n"
	    "  exit                       disconnect and leave (also quit, "
	    "Ctrl-D)\n"
	    "daemon commands: %s",
	    sh.connected ? "below" : "connect first, then 'help'");
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
		do_connect(&t);
		return;
	}
	goto bad;
usage:
	showf("usage: connect [--tls] [--cacert F] [--cert F --key F] "
	    "[<path> | [<user>@]<host> <port>]");
bad:
	if (!sh.tty)
		sh.rc = EXIT_USAGE;
}

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
	if (strcasecmp(argv[0], "exit") == 0 ||
	    strcasecmp(argv[0], "quit") == 0) {
		sh.done = 1;
		goto done;
	}
	if (strcasecmp(argv[0], "disconnect") == 0) {
		if (sh.connected) {
			disconnect(NULL);
			if (sh.tty)
				showf("disconnected");
		} else
			showf("not connected");
		goto done;
	}
	if (strcasecmp(argv[0], "connect") == 0) {
		connect_cmd(argc, argv);
		goto done;
	}
	if (strcasecmp(argv[0], "help") == 0 && argc == 1)
		local_help();
	if (!sh.connected) {
		if (strcasecmp(argv[0], "help") != 0)
			showf("not connected: connect [<path> | "
			    "[<user>@]<host> <port>] first");
		if (!sh.tty)
			sh.rc = EXIT_UNAVAIL;
		goto done;
	}
	send_argv(argc, argv, lens, P_USER);
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

int
shell_run(const struct target *t, int have_target, int json)
{
	struct sigaction sa;
	struct pollfd pfd[2];
	int n, fds;

	memset(&sh, 0, sizeof(sh));
	sh.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	sh.json = json;
	if (sh.tty)
		load_editor();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	if (sh.tty) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGWINCH, &sa, NULL);
	}
	set_prompt();
	/* Start connected when there is a daemon; otherwise say how. */
	if (have_target || t->tcp || access(t->path, F_OK) == 0)
		do_connect(t);
	else {
		sh.t = *t;
		if (sh.tty)
			showf("procctld is not running at %s; start it, then "
			    "connect [<path> | [<user>@]<host> <port>]", t->path);
	}
	if (sh.ed != NULL)
		start_editor();
	while (!sh.done) {
		fds = 0;
		if (!sh.stdin_eof) {
			pfd[fds].fd = STDIN_FILENO;
			pfd[fds++].events = POLLIN;
		}
		if (sh.connected) {
			pfd[fds].fd = sh.c.fd;
			pfd[fds++].events = POLLIN;
		}
		/* Piped input is over: finish once every reply is in. */
		if (sh.stdin_eof && (!sh.connected || sh.head == NULL))
			break;
		/* TLS may hold decrypted bytes the socket no longer shows. */
		if (sh.connected && client_pending(&sh.c)) {
			read_socket();
			continue;
		}
		n = poll(pfd, (nfds_t)fds, -1);
		if (got_sigint) {
			got_sigint = 0;
			/* Ctrl-C drops the line, as in a shell. */
			if (sh.ed_on)
				sh.ed->cancel();
		}
		if (got_sigwinch) {
			got_sigwinch = 0;
			if (sh.ed_on)
				sh.ed->resize();
		}
		if (n <= 0)
			continue;
		for (n = 0; n < fds; n++) {
			if (!(pfd[n].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (pfd[n].fd == STDIN_FILENO) {
				if (sh.ed != NULL)
					sh.ed->input();
				else
					read_stdin_lines();
			} else if (sh.connected && pfd[n].fd == sh.c.fd)
				read_socket();
			if (sh.done)
				break;
		}
	}
	if (sh.ed != NULL) {
		sh.ed->stop();
		sh.ed_on = 0;
		sh.ed = NULL;
	}
	disconnect(NULL);
	complete_reset();
	buf_free(&sh.lines);
	return sh.rc;
}
