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
 *
 * On a terminal the shell is one session however many connections it
 * takes: it names itself with a random token in every HELLO, and when a
 * connection is lost without the user asking it connects again to the
 * same target, with the same credentials and token, until it succeeds or
 * the user says disconnect.  The daemon then knows it for the session
 * whose processes it kept.  Retrying is a deadline in the same poll loop,
 * never a sleep, so the user keeps typing meanwhile; every request the
 * lost connection owed a reply gets an error line instead.  Scripted, a
 * lost connection ends the run (exit 69) as it always did: nobody is
 * there to wait for the daemon.
 */
#include <sys/random.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

/* A lost connection is tried again RETRY_FIRST_MS later, then after
 * doubling waits up to RETRY_MAX_MS, for as long as it takes: a daemon
 * being restarted may be a while.  A try over TCP waits at most
 * RETRY_WAIT_MS for the connect and the TLS handshake, which (unlike the
 * wait between tries) hold up the loop; a Unix socket answers at once. */
#define RETRY_FIRST_MS	100
#define RETRY_MAX_MS	2000
#define RETRY_WAIT_MS	1000

/* The shell's session token: 16 random bytes in hex. */
#define TOKEN_BYTES	16

static struct {
	struct target	 t;
	struct client	 c;
	int		 connected;
	char		*secret;	/* t's, kept to reconnect; owned */
	char		 token[2 * TOKEN_BYTES + 1];	/* "": none */
	int		 resume;	/* retry lost connections */
	int		 lost;		/* from a loss until HELLO answers */
	int		 retrying;	/* not connected; retry_at is set */
	long long	 retry_at;	/* now_ms() of the next try */
	int		 retry_ms;	/* the wait after that one */
	char		 refused[512];	/* the daemon's last refusal, shown */
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

	if (sh.lost)
		snprintf(sh.prompt, sizeof(sh.prompt),
		    "procctl (reconnecting)> ");
	else if (!sh.connected)
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

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The token that makes every connection of this shell one session to the
 * daemon.  Without randomness there is none: the shell still reconnects,
 * but as a new session. */
static void
make_token(void)
{
	unsigned char r[TOKEN_BYTES];
	ssize_t n;
	size_t i;

	do
		n = getrandom(r, sizeof(r), 0);
	while (n == -1 && errno == EINTR);
	sh.token[0] = '\0';
	if (n != (ssize_t)sizeof(r))
		return;
	for (i = 0; i < sizeof(r); i++)
		snprintf(sh.token + 2 * i, 3, "%02x", r[i]);
}

static void
forget_secret(void)
{
	if (sh.secret == NULL)
		return;
	explicit_bzero(sh.secret, strlen(sh.secret));
	free(sh.secret);
	sh.secret = NULL;
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

/* Forget what the connection owed; TELL: answer each of the user's
 * requests with an error line, in order, so none vanishes. */
static size_t
drop_pending(int tell)
{
	struct pending *p;
	size_t users = 0;

	while ((p = sh.head) != NULL) {
		sh.head = p->next;
		if (p->kind == P_USER) {
			users++;
			if (tell)
				showf("error: connection lost before the "
				    "reply");
		}
		free(p);
	}
	sh.tail = NULL;
	return users;
}

/* Close the connection; the number of the user's requests unanswered. */
static size_t
hang_up(int tell)
{
	size_t lost;

	client_close(&sh.c);
	sh.connected = 0;
	lost = drop_pending(tell);
	complete_reset();
	return lost;
}

/* Not connected, and not trying to be: the user asked, or the daemon
 * said something no retry would change. */
static void
disconnect(const char *why)
{
	int was = sh.connected || sh.retrying || sh.lost;
	size_t lost;

	sh.lost = sh.retrying = 0;
	sh.refused[0] = '\0';
	forget_secret();
	if (!sh.connected) {
		if (was)
			set_prompt();
		return;
	}
	lost = hang_up(0);
	if (why != NULL) {
		notef("%s", why);
		if (lost)
			notef("%zu command(s) got no reply", lost);
		if (!sh.tty)
			sh.rc = EXIT_UNAVAIL;
	}
	set_prompt();
}

/* Try again after the current wait, which then doubles.  WHY, the
 * daemon's refusal, is shown the first time: the same again is not news. */
static void
retry_later(const char *why)
{
	if (why != NULL && strcmp(why, sh.refused) != 0) {
		snprintf(sh.refused, sizeof(sh.refused), "%s", why);
		notef("%s", why);
	}
	sh.retrying = 1;
	sh.retry_at = now_ms() + sh.retry_ms;
	sh.retry_ms = sh.retry_ms >= RETRY_MAX_MS / 2 ? RETRY_MAX_MS :
	    sh.retry_ms * 2;
	set_prompt();
}

/* The socket ended (EOF, an error) without the user asking.  A loss
 * during the handshake that follows one is the same outage: said once. */
static void
connection_lost(void)
{
	if (!sh.resume) {
		disconnect("connection lost");
		return;
	}
	hang_up(1);
	if (!sh.lost) {
		notef("connection lost; reconnecting...");
		sh.lost = 1;
		sh.retry_ms = RETRY_FIRST_MS;
	}
	retry_later(NULL);
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
	/* Expected before it is sent: if sending fails, it is answered
	 * with the others the connection owed. */
	expect(kind, 0);
	rc = client_send(&sh.c, &b, 30000);
	buf_free(&b);
	if (rc != 0) {
		connection_lost();
		return -1;
	}
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
			connection_lost();
		return;
	}
	buf_free(&b);
	for (i = 0; i < n; i++)
		expect(P_SOURCE, i);
}

/* On the new connection: HELLO (the secret, the token) and events on, in
 * one write; what completion needs follows once HELLO has said what that
 * is.  0, or -1 with the connection closed. */
static int
handshake(void)
{
	static const char *const sub[] = { "SUBSCRIBE" };
	struct buf b = { 0 };
	int rc;

	rc = client_put_hello(&b, &sh.t, sh.secret ? sh.secret : "",
	    sh.token[0] ? sh.token : NULL) == -1 ||
	    resp_put_command(&b, 1, sub, NULL) == -1 ? -1 :
	    client_send(&sh.c, &b, 30000);
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	if (rc != 0) {
		client_close(&sh.c);
		return -1;
	}
	sh.connected = 1;
	expect(P_HELLO, 0);
	expect(P_QUIET, 0);
	return 0;
}

static int
do_connect(const struct target *t)
{
	char *secret = NULL;

	disconnect(NULL);
	if (target_needs_secret(t) && (secret = target_secret(t)) == NULL)
		return -1;
	sh.t = *t;
	sh.secret = secret;
	if (client_connect(&sh.c, t, 30000, 0) != 0) {
		forget_secret();
		set_prompt();
		return -1;
	}
	if (handshake() == -1) {
		forget_secret();
		fprintf(stderr, "procctl: %s: connection lost\n", sh.c.target);
		set_prompt();
		return -1;
	}
	set_prompt();
	return 0;
}

/* The retry's time has come: the same target, credentials and token.
 * Quiet about a daemon not there yet; "reconnected" once HELLO answers. */
static void
retry(void)
{
	sh.retrying = 0;
	if (client_connect(&sh.c, &sh.t, RETRY_WAIT_MS, 1) != 0 ||
	    handshake() == -1) {
		retry_later(NULL);
		return;
	}
	set_prompt();
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

/* HELLO's reply: the session is on, or the daemon refused it.  After a
 * loss a refusal (too many clients, a secret changed) is retried like a
 * daemon not there: only the user gives up. */
static void
on_hello(const struct resp_value *v)
{
	struct cmd_table tab;
	char why[sizeof(sh.refused)];

	if (v->type == RESP_T_ERROR && sh.lost) {
		snprintf(why, sizeof(why), "%s: %s", sh.c.target,
		    error_message(v->str));
		hang_up(1);
		retry_later(why);
		return;
	}
	if (v->type == RESP_T_ERROR) {
		notef("%s: %s", sh.c.target, error_message(v->str));
		if (!sh.tty)
			sh.rc = error_exit_code(v->str);
		disconnect(NULL);
		return;
	}
	if (sh.lost) {
		sh.lost = 0;
		sh.refused[0] = '\0';
		notef("reconnected");
		set_prompt();
	} else if (sh.tty && sh.t.tcp)
		showf("connected to %s as %s", sh.c.target, sh.t.user);
	else if (sh.tty)
		showf("connected to %s", sh.c.target);
	/* Completion is for a terminal. */
	if (sh.tty && cmdinfo_parse(&tab, resp_map_get(v, "commands")) == 0) {
		complete_set_commands(&tab);
		ask_sources();
	}
}

static void
on_reply(const struct resp_value *v)
{
	struct pending *p = sh.head;

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
		free(p);
		on_hello(v);
		return;
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
		connection_lost();
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
	    "  disconnect                 stay here, unconnected (and stop "
	    "reconnecting)\n"
	    "  exit                       disconnect and leave (also quit, "
	    "Ctrl-D)\n"
	    "a lost connection is made again until it works or you type "
	    "disconnect\n"
	    "daemon commands: %s",
	    sh.connected ? "below" : sh.lost ? "once reconnected, 'help'" :
	    "connect first, then 'help'");
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
		/* Also while retrying: the user gives up on the daemon. */
		if (sh.connected || sh.lost) {
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
		/* Said at once: nothing waits for a daemon that is away. */
		if (strcasecmp(argv[0], "help") != 0)
			showf("%s", sh.lost ? "not connected: reconnecting "
			    "(type disconnect to stop)" : "not connected: "
			    "connect [<path> | [<user>@]<host> <port>] first");
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

/* How long the loop may wait for input: until the next try, if any. */
static int
poll_timeout(void)
{
	long long left;

	if (!sh.retrying)
		return -1;
	left = sh.retry_at - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static void
after_signals(void)
{
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
	/* A person at a terminal (with or without the editor) waits for a
	 * daemon that comes back; a script is told at once. */
	if ((sh.resume = sh.tty))
		make_token();
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
		if (sh.retrying && sh.retry_at <= now_ms())
			retry();
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
		n = poll(pfd, (nfds_t)fds, poll_timeout());
		after_signals();
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
