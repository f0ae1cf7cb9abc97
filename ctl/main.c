/*
 * procctl: the command-line client.  One-shot: connect, send HELLO 3 and
 * the command in one write, print the reply, exit with a code that says
 * how it went.  It names no daemon command: what it sends is what was
 * typed, and help comes from the daemon (help.c).  Kept lean for this
 * path: procctl links only libc, and loads TLS or line editing (module.c)
 * only for a target or a shell that needs them.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"

static int following;	/* the command goes on after its reply */
static int streams;	/* it could: its --json output is NDJSON */
static int unknown;	/* the daemon listed its commands, not this one */

/*
 * What the handshake's command table (HELLO) says of ARGV, a command
 * line: does the daemon know it (unknown), may it stream (streams), and
 * does it ask to follow (following)?  By the protocol's convention
 * (docs/protocol.md), a command given its option named `follow` goes on
 * after its reply, in pushes to the connection, until it closes.  Only
 * ARGV[0]'s map is read: this path stays lean.
 */
static void
note_command(const struct resp_value *hello, int argc, char **argv)
{
	const struct resp_value *cmds = resp_map_get(hello, "commands");
	struct cmd_table tab;
	size_t i;

	following = streams = unknown = 0;
	if (argc < 1 || cmdinfo_parse_one(&tab, cmds, argv[0]) == -1)
		return;
	/* A daemon that lists its commands and not this one will refuse
	 * it: bad usage, as a typo is. */
	unknown = tab.n == 0 && cmds != NULL && cmds->type == RESP_T_ARRAY &&
	    cmds->n > 0;
	/* A command that can follow prints its lines the same way whether
	 * it does or not: with --json, one object a line (NDJSON). */
	for (i = 0; tab.n == 1 && i < tab.v[0].nopts; i++)
		if (strcmp(tab.v[0].opts[i].name, CMD_FOLLOW_OPTION) == 0)
			streams = 1;
	following = argc >= 2 && tab.n == 1 && cmdinfo_option_given(
	    &tab.v[0], argc, (const char *const *)argv, CMD_FOLLOW_OPTION);
	cmdinfo_free(&tab);
}

/*
 * Ctrl-C ends what goes on until interrupted (a following command,
 * `events`) with status 130, 128 + SIGINT, as a shell reports a command
 * Ctrl-C ended.  Whole lines only: SIGINT waits while one is printed
 * (hold_interrupt), and the handler leaves between two, every line
 * already flushed.  On a terminal it ends the line the terminal's "^C"
 * began (on stderr: stdout may be a file), so the shell's prompt starts
 * a line of its own.  The daemon sees the connection close, which ends
 * the follow.
 */
static sigset_t interrupt_set;
static int interrupt_caught;
static int interrupt_newline;

static void
on_interrupt(int sig)
{
	ssize_t n = 0;

	(void)sig;
	if (interrupt_newline)
		n = write(STDERR_FILENO, "\n", 1);
	(void)n;
	_exit(EXIT_INTERRUPTED);
}

/* Unless SIGINT is ignored (a background job of a shell without job
 * control): then it stays so. */
static void
catch_interrupt(void)
{
	struct sigaction sa, old;

	interrupt_newline = isatty(STDERR_FILENO);
	sigemptyset(&interrupt_set);
	sigaddset(&interrupt_set, SIGINT);
	if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	interrupt_caught = sigaction(SIGINT, &sa, NULL) == 0;
}

static void
hold_interrupt(int hold)
{
	if (interrupt_caught)
		sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &interrupt_set,
		    NULL);
}

/* Error reply V on stderr, its message escaped; after WHERE if set. */
static void
print_error(const char *where, const struct resp_value *v)
{
	struct buf msg = { 0 };

	render_error(&msg, v);
	fprintf(stderr, "procctl: %s%s%.*s\n", where ? where : "",
	    where ? ": " : "", (int)msg.len, msg.data ? msg.data : "");
	buf_free(&msg);
}

/* Connect and send the handshake (and COMMAND, if any) in one write;
 * read the handshake's reply.  0, or an exit code after printing why. */
static int
open_session(struct client *c, const struct target *t, int argc,
    char **argv, int timeout_ms)
{
	struct resp_value v;
	struct buf req = { 0 };
	char *secret = NULL;
	int rc;

	if (target_needs_secret(t) && (secret = target_secret(t)) == NULL)
		return EXIT_NOPERM;
	if ((rc = client_connect(c, t, timeout_ms, 0)) != 0)
		goto done;
	if (client_put_hello(&req, t, secret ? secret : "", NULL) == -1 ||
	    (argc > 0 && resp_put_command(&req, argc,
	    (const char *const *)argv, NULL) == -1)) {
		fprintf(stderr, "procctl: out of memory\n");
		rc = EXIT_ERROR;
		goto done;
	}
	if ((rc = client_send(c, &req, timeout_ms)) > 0)
		goto done;
	if ((rc = client_read(c, &v, timeout_ms, NULL)) != 0)
		goto done;
	note_command(&v, argc, argv);
	if (v.type == RESP_T_ERROR) {
		/* Refused before any command: busy, not allowed, ... */
		print_error(c->target, &v);
		rc = error_exit_code(v.str);
		if (rc == EXIT_ERROR)
			rc = EXIT_PROTO;
	} else if (!client_hello_reply(&v)) {
		fprintf(stderr, "procctl: protocol error from %s: HELLO "
		    "answered with something else than a map\n", c->target);
		rc = EXIT_PROTO;
	}
	resp_value_free(&v);
done:
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	if (req.data != NULL)
		explicit_bzero(req.data, req.cap);
	buf_free(&req);
	if (rc != 0)
		client_close(c);
	return rc;
}

static int events_json;
/* What a following command sends after its reply: each push's own
 * line (its "text"), as the command's output goes on. */
static void
print_followed(const struct resp_value *v)
{
	struct buf line = { 0 };

	hold_interrupt(1);
	if (events_json)	/* NDJSON: the push's map, one a line */
		render_json(stdout, v->n >= 3 ? &v->elem[2] : v);
	else if (render_followed(&line, v) == 0)
		printf("%.*s\n", (int)line.len, line.data);
	buf_free(&line);
	fflush(stdout);
	hold_interrupt(0);
}

static int
one_shot(const struct target *t, int argc, char **argv, int json,
    int timeout_ms)
{
	struct resp_value v;
	struct client c;
	size_t i;
	int rc, failed;

	if ((rc = open_session(&c, t, argc, argv, timeout_ms)) != 0)
		return rc;
	if (following)
		catch_interrupt();
	if ((rc = client_read(&c, &v, timeout_ms, NULL)) != 0)
		goto done;
	hold_interrupt(1);
	if ((failed = v.type == RESP_T_ERROR)) {
		print_error(NULL, &v);
		rc = unknown ? EXIT_USAGE : error_exit_code(v.str);
	} else if (json && (following || streams) &&
	    v.type == RESP_T_ARRAY) {
		/* A stream: NDJSON, each element a line, as the pushes
		 * that follow (would) be. */
		for (i = 0; i < v.n; i++)
			render_json(stdout, &v.elem[i]);
	} else if (json)
		render_json(stdout, &v);
	else
		render_human(stdout, &v);
	resp_value_free(&v);
	if (fflush(stdout) == EOF && rc == 0)
		rc = EXIT_ERROR;
	hold_interrupt(0);
	/* Then, until interrupted: only pushes come. */
	events_json = json;
	while (rc == 0 && following && !failed &&
	    (rc = client_read(&c, &v, -1, print_followed)) == 0)
		resp_value_free(&v);
done:
	client_close(&c);
	return rc;
}

static void
print_event(const struct resp_value *v)
{
	struct buf line = { 0 };

	hold_interrupt(1);
	if (events_json)
		render_json(stdout, v);
	else if (render_event(&line, v) == 0)
		printf("%.*s\n", (int)line.len, line.data);
	buf_free(&line);
	fflush(stdout);
	hold_interrupt(0);
}

/* `procctl events`: follow the event stream until interrupted. */
static int
follow_events(const struct target *t, int json)
{
	static char *sub[] = { "SUBSCRIBE" };
	struct resp_value v;
	struct client c;
	int rc;

	events_json = json;
	if ((rc = open_session(&c, t, 1, sub, 60000)) != 0)
		return rc;
	catch_interrupt();
	if ((rc = client_read(&c, &v, 60000, NULL)) == 0) {
		if (v.type == RESP_T_ERROR) {
			print_error(NULL, &v);
			rc = error_exit_code(v.str);
		}
		resp_value_free(&v);
	}
	/* Only pushes come now: client_read hands them to print_event. */
	while (rc == 0 && (rc = client_read(&c, &v, -1, print_event)) == 0)
		resp_value_free(&v);
	client_close(&c);
	return rc;
}

/* --tls, --cacert, --cert, --key: the parser the shell's connect uses. */
static int
tls_opt(struct tls_opts *o, int ch, const char *val)
{
	static const char *const names[] = { "--tls", "--cacert", "--cert",
	    "--key" };
	const char *args[2] = { names[ch - 1001], val };
	int i = 0;

	return target_tls_option(o, val ? 2 : 1, args, &i) == 1 ? 0 : -1;
}

/* One line for an option getopt refused, and where to read more.  A
 * long option is the word refused; a letter may be inside a cluster
 * (-jx), where only optopt names it. */
static int
bad_option(char **argv, int ch)
{
	const char *word = argv[optind - 1];
	char letter[3] = { '-', (char)optopt, '\0' };

	if (strncmp(word, "--", 2) != 0 && optopt != 0)
		word = letter;
	fprintf(stderr, "procctl: %s '%s'", ch == ':' ?
	    "option" : "unknown option", word);
	if (ch == ':')
		fputs(" needs a value", stderr);
	fputs("; 'procctl --help' lists the options\n", stderr);
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "host", required_argument, NULL, 'H' },
		{ "user", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "tls", no_argument, NULL, 1001 },
		{ "cacert", required_argument, NULL, 1002 },
		{ "cert", required_argument, NULL, 1003 },
		{ "key", required_argument, NULL, 1004 },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		/* For completion scripts (compgen.c), not in the help. */
		{ "complete", no_argument, NULL, 1005 },
		{ NULL, 0, NULL, 0 },
	};
	struct target t;
	struct tls_opts tls;
	int ch, json = 0, timeout_ms = 60000, have_target = 0;
	int tls_explicit = 0, want_help = 0, want_complete = 0;
	double secs;
	char *end;

	/* A daemon that goes away must give an error, never a signal. */
	signal(SIGPIPE, SIG_IGN);
	target_tls_env(&tls);
	/* '+': options stop at the command, whose own options follow it;
	 * ':': a missing value is told apart, and we say what is wrong. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:s:H:u:jt:hV", opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 's':
		case 'H':
			if (target_parse(optarg, &t) == -1)
				return EXIT_USAGE;
			have_target = 1;
			break;
		case 'u':
			if (!have_target || !t.tcp) {
				fprintf(stderr, "procctl: -u goes after a "
				    "tcp:// target\n");
				return EXIT_USAGE;
			}
			snprintf(t.user, sizeof(t.user), "%s", optarg);
			break;
		case 'j':
			json = 1;
			break;
		case 1001:
		case 1002:
		case 1003:
		case 1004:
			if (tls_opt(&tls, ch, optarg) == -1)
				return EXIT_USAGE;
			tls_explicit = 1;
			break;
		case 't':
			secs = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(secs >= 0) ||
			    secs > 86400) {
				fprintf(stderr, "procctl: -t %s: expected "
				    "seconds\n", optarg);
				return EXIT_USAGE;
			}
			timeout_ms = secs == 0 ? -1 : (int)(secs * 1000);
			break;
		case 'h':
			want_help = 1;
			break;
		case 1005:
			want_complete = 1;
			break;
		case 'V':
			printf("procctl %s\n", PROCCTL_VERSION);
			return EXIT_OK;
		default:
			return bad_option(argv, ch);
		}
	}
	if (!have_target && target_default(&t) == -1) {
		if (!want_help)
			return EXIT_USAGE;
		help_usage(stdout, NULL);
		return EXIT_OK;
	}
	if (t.tcp)
		target_apply_tls(&t, &tls);
	else if (tls_explicit) {
		fprintf(stderr, "procctl: --tls, --cacert, --cert and --key go "
		    "with a tcp:// or tls:// target\n");
		return EXIT_USAGE;
	}
	if (want_complete)
		return compgen_run(&t, argc - optind, argv + optind,
		    timeout_ms);
	if (want_help) {
		help_usage(stdout, &t);
		return fflush(stdout) == EOF ? EXIT_ERROR : EXIT_OK;
	}
	shell_tls_defaults(&tls);
	if (optind >= argc || strcmp(argv[optind], "shell") == 0)
		return shell_run(&t, have_target || getenv("PROCCTL_HOST") ||
		    getenv("PROCCTL_SOCKET"), json);
	if (strcmp(argv[optind], "events") == 0 && optind + 1 == argc)
		return follow_events(&t, json);
	return one_shot(&t, argc - optind, argv + optind, json, timeout_ms);
}
