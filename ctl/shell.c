/*
 * The interactive shell: connect / disconnect / exit, commands sent as
 * they are typed (pipelined: nothing waits for a reply), replies and
 * events printed above the prompt as they arrive without disturbing the
 * line being typed.  One thread: a poll loop over the terminal and the
 * socket, with GNU readline's callback interface.  With stdin not a
 * terminal, the same loop reads lines without readline and prints no
 * prompt, so the shell can be scripted.
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

#include <readline/history.h>
#include <readline/readline.h>

#include "ctl.h"
#include "paths.h"

enum pending_kind {
	P_HELLO,	/* the handshake: commands list for completion */
	P_QUIET,	/* SUBSCRIBE: nothing to show */
	P_PROCS,	/* list, for completing close */
	P_USER,		/* what the user typed: show it */
};

struct pending {
	enum pending_kind	 kind;
	struct pending		*next;
};

static const char *const local_cmds[] = {
	"connect", "disconnect", "exit", "quit", NULL
};

static struct {
	struct target	 t;
	struct client	 c;
	int		 connected;
	int		 tty;
	int		 json;
	int		 rl_on;		/* readline owns the terminal */
	int		 rl_installed;	/* its callback handler is set */
	int		 done;
	int		 rc;
	int		 stdin_eof;
	char		 prompt[400];
	struct pending	*head, *tail;
	char		**cmds;		/* daemon command names */
	size_t		 ncmds;
	char		**procs;	/* running names and pids */
	size_t		 nprocs;
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
	char *saved = NULL;
	int point = 0;

	if (sh.rl_on) {
		saved = rl_copy_text(0, rl_end);
		point = rl_point;
		rl_set_prompt("");
		rl_replace_line("", 0);
		rl_redisplay();
	}
	fwrite(text, 1, len, stdout);
	if (len > 0 && text[len - 1] != '\n')
		fputc('\n', stdout);
	fflush(stdout);
	if (sh.rl_on) {
		rl_set_prompt(sh.prompt);
		rl_replace_line(saved, 0);
		rl_point = point;
		rl_redisplay();
		free(saved);
	}
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
	/* Also between lines (in on_line): readline shows this prompt
	 * for the next line when the handler returns. */
	if (sh.rl_installed)
		rl_set_prompt(sh.prompt);
	if (sh.rl_on)
		rl_redisplay();
}

static void
free_list(char ***list, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
	*n = 0;
}

static void
add_word(char ***list, size_t *n, const char *w)
{
	char **l;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i], w) == 0)
			return;
	if ((l = realloc(*list, (*n + 1) * sizeof(*l))) == NULL)
		return;
	*list = l;
	if ((l[*n] = strdup(w)) != NULL)
		(*n)++;
}

static void
expect(enum pending_kind kind)
{
	struct pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->kind = kind;
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
	free_list(&sh.procs, &sh.nprocs);
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
	expect(kind);
	return 0;
}

static int
do_connect(const struct target *t)
{
	static const char *const sub[] = { "SUBSCRIBE" };
	static const char *const list[] = { "list" };
	struct buf b = { 0 };
	char *secret = NULL;
	int rc;

	disconnect(NULL);
	if (target_needs_secret(t) && (secret = target_secret(t)) == NULL)
		return -1;
	sh.t = *t;
	if (client_connect(&sh.c, t) != 0) {
		free(secret);
		set_prompt();
		return -1;
	}
	/* Handshake, events on, and the process names for completion, in
	 * one write. */
	rc = client_put_hello(&b, t, secret ? secret : "") == -1 ||
	    resp_put_command(&b, 1, sub, NULL) == -1 ||
	    resp_put_command(&b, 1, list, NULL) == -1 ? -1 :
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
	expect(P_HELLO);
	expect(P_QUIET);
	expect(P_PROCS);
	set_prompt();
	return 0;
}

/* ---- values from the daemon ---- */

static void
note_procs(const struct resp_value *list)
{
	const struct resp_value *name, *pid;
	char num[32];
	size_t i;

	free_list(&sh.procs, &sh.nprocs);
	for (i = 0; list->type == RESP_T_ARRAY && i < list->n; i++) {
		name = resp_map_get(&list->elem[i], "name");
		pid = resp_map_get(&list->elem[i], "pid");
		if (name != NULL && name->str != NULL)
			add_word(&sh.procs, &sh.nprocs, name->str);
		if (pid != NULL && pid->type == RESP_T_INT) {
			snprintf(num, sizeof(num), "%lld", pid->integer);
			add_word(&sh.procs, &sh.nprocs, num);
		}
	}
}

static void
on_event(const struct resp_value *v)
{
	const struct resp_value *name = NULL, *pid = NULL;
	struct buf line = { 0 };
	char num[32];

	if (v->n >= 3) {
		name = resp_map_get(&v->elem[2], "name");
		pid = resp_map_get(&v->elem[2], "pid");
	}
	if (v->n >= 3 && v->elem[1].str != NULL && name != NULL &&
	    name->str != NULL && strcmp(v->elem[1].str, "started") == 0) {
		add_word(&sh.procs, &sh.nprocs, name->str);
		if (pid != NULL && pid->type == RESP_T_INT) {
			snprintf(num, sizeof(num), "%lld", pid->integer);
			add_word(&sh.procs, &sh.nprocs, num);
		}
	}
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
	const struct resp_value *cmds;
	size_t i;

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
		free_list(&sh.cmds, &sh.ncmds);
		cmds = resp_map_get(v, "commands");
		for (i = 0; cmds != NULL && i < cmds->n; i++) {
			const struct resp_value *n;

			n = resp_map_get(&cmds->elem[i], "name");
			if (n != NULL && n->str != NULL)
				add_word(&sh.cmds, &sh.ncmds, n->str);
		}
		if (sh.tty && sh.t.tcp)
			showf("connected to %s as %s", sh.c.target, sh.t.user);
		else if (sh.tty)
			showf("connected to %s", sh.c.target);
		break;
	case P_PROCS:
		note_procs(v);
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
history_save(const char *line)
{
	if (sh.histfile[0] == '\0')
		return;
	if (append_history(1, sh.histfile) != 0)
		write_history(sh.histfile);
	history_truncate_file(sh.histfile, 1000);
}

static void
on_line(char *line)
{
	if (line == NULL) {		/* Ctrl-D */
		sh.done = 1;
		fputc('\n', stdout);
		return;
	}
	if (*line != '\0') {
		add_history(line);
		history_save(line);
	}
	/* Readline is between lines here: print without redrawing. */
	sh.rl_on = 0;
	run_line(line, strlen(line));
	sh.rl_on = 1;
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

/* ---- completion ---- */

static const char *const *comp_words;
static char **comp_words2;
static size_t comp_n2;

static char *
comp_gen(const char *text, int state)
{
	static size_t i, j;
	size_t len = strlen(text);

	if (state == 0)
		i = j = 0;
	while (comp_words != NULL && comp_words[i] != NULL) {
		const char *w = comp_words[i++];

		if (strncmp(w, text, len) == 0)
			return strdup(w);
	}
	while (j < comp_n2) {
		const char *w = comp_words2[j++];

		if (strncmp(w, text, len) == 0)
			return strdup(w);
	}
	return NULL;
}

static char **
complete(const char *text, int start, int end)
{
	char first[64];
	size_t n;

	(void)end;
	rl_attempted_completion_over = 1;	/* no file names by default */
	n = strcspn(rl_line_buffer + strspn(rl_line_buffer, " \t"), " \t");
	snprintf(first, sizeof(first), "%.*s", (int)n,
	    rl_line_buffer + strspn(rl_line_buffer, " \t"));
	comp_words = NULL;
	comp_words2 = NULL;
	comp_n2 = 0;
	if ((size_t)start <= strspn(rl_line_buffer, " \t")) {
		comp_words = local_cmds;
		comp_words2 = sh.cmds;
		comp_n2 = sh.ncmds;
	} else if (strcasecmp(first, "close") == 0) {
		comp_words2 = sh.procs;
		comp_n2 = sh.nprocs;
	} else if (strcasecmp(first, "help") == 0) {
		comp_words2 = sh.cmds;
		comp_n2 = sh.ncmds;
	} else if (strcasecmp(first, "connect") == 0 ||
	    strcasecmp(first, "run") == 0) {
		rl_attempted_completion_over = 0;	/* paths */
		return NULL;
	}
	return rl_completion_matches(text, comp_gen);
}

/* ---- the loop ---- */

static void
setup_readline(void)
{
	const char *home = getenv("HOME"), *hist = getenv("PROCCTL_HISTORY");

	rl_readline_name = "procctl";
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_attempted_completion_function = complete;
	if (hist != NULL)
		snprintf(sh.histfile, sizeof(sh.histfile), "%s", hist);
	else if (home != NULL)
		snprintf(sh.histfile, sizeof(sh.histfile),
		    "%s/.procctl_history", home);
	using_history();
	stifle_history(1000);
	if (sh.histfile[0] != '\0')
		read_history(sh.histfile);
	rl_callback_handler_install(sh.prompt, on_line);
	sh.rl_on = 1;
	sh.rl_installed = 1;
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
	if (sh.tty)
		setup_readline();
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
			if (sh.rl_on) {
				/* Ctrl-C drops the line, as in a shell. */
				rl_replace_line("", 0);
				rl_crlf();
				rl_on_new_line();
				rl_redisplay();
			}
		}
		if (got_sigwinch) {
			got_sigwinch = 0;
			if (sh.rl_on)
				rl_resize_terminal();
		}
		if (n <= 0)
			continue;
		for (n = 0; n < fds; n++) {
			if (!(pfd[n].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (pfd[n].fd == STDIN_FILENO) {
				if (sh.tty)
					rl_callback_read_char();
				else
					read_stdin_lines();
			} else if (sh.connected && pfd[n].fd == sh.c.fd)
				read_socket();
			if (sh.done)
				break;
		}
	}
	if (sh.tty) {
		rl_callback_handler_remove();
		sh.rl_on = 0;
		sh.rl_installed = 0;
	}
	disconnect(NULL);
	free_list(&sh.cmds, &sh.ncmds);
	buf_free(&sh.lines);
	return sh.rc;
}
