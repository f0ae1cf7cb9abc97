/*
 * procctl: the command-line client.  One-shot: connect, send HELLO 3 and
 * the command in one write, print the reply, exit with a code that says
 * how it went.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "paths.h"

#define PROCCTL_VERSION	"0.1.0"

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: procctl [-s SOCKET | -H URL [-u USER] [--tls] [--cacert F] [--cert F --key F]]\n"
"               [--json] [-t SECONDS] [COMMAND [ARGS...]]\n"
"\n"
"Talks to procctld.  With no COMMAND (or 'shell'): an interactive shell with\n"
"connect, disconnect and exit, where events appear as they happen.\n"
"'procctl events' follows the event stream (NDJSON with --json).\n"
"Commands come from the daemon's plugins; 'procctl help' lists them:\n"
"  run [--detach] <path> [args...]   start a program, print its pid\n"
"  close <pid|name> [all]            end a process (SIGTERM, then SIGKILL)\n"
"  list [all | details]              running processes; all; with details\n"
"  add|sub|mult|div <n> <n> [n...]   exact arithmetic\n"
"\n"
"Options:\n"
"  -s, --socket PATH    the daemon's Unix socket\n"
"  -H, --host URL       unix:///path, a path, tcp://[user@]host:port or\n"
"                       tls://[user@]host:port\n"
"  -u, --user USER      the user for a tcp:// target (default: $PROCCTL_USER,\n"
"                       else your login); its secret: $PROCCTL_SECRET, else\n"
"                       asked on the terminal\n"
"      --tls            TLS to a tcp:// target (tls://host:port says the same)\n"
"      --cacert FILE    trust the server's certificate if FILE's CA signed it\n"
"                       (default: the system's CAs)\n"
"      --cert FILE, --key FILE\n"
"                       a client certificate, for daemons that require one\n"
"                       (its CN is the user; no secret needed)\n"
"  -j, --json           print the reply as JSON (errors stay on stderr)\n"
"  -t, --timeout SECS   give up waiting for a reply after SECS (default 60;\n"
"                       0 waits forever)\n"
"  -h, --help           this help;  -V, --version  the version\n"
"\n"
"The target: -s/-H, else $PROCCTL_HOST or $PROCCTL_SOCKET, else\n"
"$XDG_RUNTIME_DIR/procctl.sock (when it exists), else %s.\n"
"\n"
"Exit status:\n"
"  0   success\n"
"  1   the daemon answered with an error (message on stderr)\n"
"  2   bad usage (here or as the daemon judged it)\n"
"  3   no such process\n"
"  69  the daemon is unreachable or the connection was lost\n"
"  75  timeout, or the daemon is busy (a limit was reached)\n"
"  76  protocol error\n"
"  77  permission denied\n", PROCCTL_SYSTEM_SOCKET);
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
	if ((rc = client_connect(c, t)) != 0)
		goto done;
	if (client_put_hello(&req, t, secret ? secret : "") == -1 ||
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
	if (v.type == RESP_T_ERROR) {
		/* Refused before any command: busy, not allowed, ... */
		fprintf(stderr, "procctl: %s: %s\n", c->target,
		    error_message(v.str));
		rc = error_exit_code(v.str);
		if (rc == EXIT_ERROR)
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

static int
one_shot(const struct target *t, int argc, char **argv, int json,
    int timeout_ms)
{
	struct resp_value v;
	struct client c;
	int rc;

	if ((rc = open_session(&c, t, argc, argv, timeout_ms)) != 0)
		return rc;
	if ((rc = client_read(&c, &v, timeout_ms, NULL)) != 0)
		goto done;
	if (v.type == RESP_T_ERROR) {
		fprintf(stderr, "procctl: %s\n", error_message(v.str));
		rc = error_exit_code(v.str);
	} else if (json)
		render_json(stdout, &v);
	else
		render_human(stdout, &v);
	resp_value_free(&v);
	if (fflush(stdout) == EOF && rc == 0)
		rc = EXIT_ERROR;
done:
	client_close(&c);
	return rc;
}

static int events_json;

static void
print_event(const struct resp_value *v)
{
	struct buf line = { 0 };

	if (events_json)
		render_json(stdout, v);
	else if (render_event(&line, v) == 0)
		printf("%.*s\n", (int)line.len, line.data);
	buf_free(&line);
	fflush(stdout);
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
	if ((rc = client_read(&c, &v, 60000, NULL)) == 0) {
		if (v.type == RESP_T_ERROR) {
			fprintf(stderr, "procctl: %s\n", error_message(v.str));
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
		{ NULL, 0, NULL, 0 },
	};
	struct target t;
	struct tls_opts tls;
	int ch, json = 0, timeout_ms = 60000, have_target = 0;
	int tls_explicit = 0;
	double secs;
	char *end;

	/* A daemon that goes away must give an error, never a signal. */
	signal(SIGPIPE, SIG_IGN);
	target_tls_env(&tls);
	/* '+': options stop at the command, so `procctl run ls -l` works. */
	while ((ch = getopt_long(argc, argv, "+s:H:u:jt:hV", opts, NULL)) != -1) {
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
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("procctl %s\n", PROCCTL_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!have_target && target_default(&t) == -1)
		return EXIT_USAGE;
	if (t.tcp)
		target_apply_tls(&t, &tls);
	else if (tls_explicit) {
		fprintf(stderr, "procctl: --tls, --cacert, --cert and --key go "
		    "with a tcp:// or tls:// target\n");
		return EXIT_USAGE;
	}
	shell_tls_defaults(&tls);
	if (optind >= argc || strcmp(argv[optind], "shell") == 0)
		return shell_run(&t, have_target || getenv("PROCCTL_HOST") ||
		    getenv("PROCCTL_SOCKET"), json);
	if (strcmp(argv[optind], "events") == 0 && optind + 1 == argc)
		return follow_events(&t, json);
	return one_shot(&t, argc - optind, argv + optind, json, timeout_ms);
}
