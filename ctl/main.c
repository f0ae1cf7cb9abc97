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
"usage: procctl [-s SOCKET | -H URL] [--json] [-t SECONDS] COMMAND [ARGS...]\n"
"\n"
"Talks to procctld.  Commands come from the daemon's plugins; 'procctl help'\n"
"lists them.  The seed's commands:\n"
"  run [--detach] <path> [args...]   start a program, print its pid\n"
"  close <pid|name> [all]            end a process (SIGTERM, then SIGKILL)\n"
"  list [all | details]              running processes; all; with details\n"
"  add|sub|mult|div <n> <n> [n...]   exact arithmetic\n"
"\n"
"Options:\n"
"  -s, --socket PATH    the daemon's Unix socket\n"
"  -H, --host URL       unix:///path or a path (same as -s)\n"
"  -j, --json           print the reply as JSON (errors stay on stderr)\n"
"  -t, --timeout SECS   give up waiting for a reply after SECS (default 60;\n"
"                       0 waits forever)\n"
"  -h, --help           this help;  -V, --version  the version\n"
"\n"
"The socket: -s/-H, else $PROCCTL_HOST or $PROCCTL_SOCKET, else\n"
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

/* unix:///path, unix:path, or a plain path. */
static int
parse_target(const char *url, char *out, size_t size)
{
	const char *p = url;

	if (strncmp(p, "unix://", 7) == 0)
		p += 7;
	else if (strncmp(p, "unix:", 5) == 0)
		p += 5;
	else if (strstr(p, "://") != NULL) {
		fprintf(stderr, "procctl: %s: unsupported address; use "
		    "unix:///path or a socket path\n", url);
		return -1;
	}
	if (*p == '\0' || strlen(p) >= size) {
		fprintf(stderr, "procctl: %s: bad socket path\n", url);
		return -1;
	}
	snprintf(out, size, "%s", p);
	return 0;
}

static int
default_target(char *out, size_t size)
{
	const char *env;

	if ((env = getenv("PROCCTL_HOST")) != NULL && *env != '\0')
		return parse_target(env, out, size);
	if ((env = getenv("PROCCTL_SOCKET")) != NULL && *env != '\0')
		return parse_target(env, out, size);
	if (paths_default_socket(out, size) == -1)
		return -1;
	/* A user without a daemon of their own talks to the system one. */
	if (access(out, F_OK) == -1)
		snprintf(out, size, "%s", PROCCTL_SYSTEM_SOCKET);
	return 0;
}

static int
one_shot(const char *sock, int argc, char **argv, int json, int timeout_ms)
{
	static const char *const hello[] = { "HELLO", "3" };
	struct resp_value v;
	struct client c;
	struct buf req = { 0 };
	int rc;

	if ((rc = client_connect_unix(&c, sock)) != 0)
		return rc;
	if (resp_put_command(&req, 2, hello, NULL) == -1 ||
	    resp_put_command(&req, argc, (const char *const *)argv,
	    NULL) == -1) {
		fprintf(stderr, "procctl: out of memory\n");
		rc = EXIT_ERROR;
		goto done;
	}
	if ((rc = client_send(&c, &req, timeout_ms)) > 0)
		goto done;
	if ((rc = client_read(&c, &v, timeout_ms, NULL)) != 0)
		goto done;
	if (v.type == RESP_T_ERROR) {
		/* Refused before any command: busy, not allowed, ... */
		fprintf(stderr, "procctl: %s: %s\n", sock, error_message(v.str));
		rc = error_exit_code(v.str);
		if (rc == EXIT_ERROR)
			rc = EXIT_PROTO;
		resp_value_free(&v);
		goto done;
	}
	resp_value_free(&v);
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
	buf_free(&req);
	client_close(&c);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "host", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char sock[PATH_MAX] = "";
	int ch, json = 0, timeout_ms = 60000;
	double secs;
	char *end;

	/* A daemon that goes away must give an error, never a signal. */
	signal(SIGPIPE, SIG_IGN);
	/* '+': options stop at the command, so `procctl run ls -l` works. */
	while ((ch = getopt_long(argc, argv, "+s:H:jt:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
		case 'H':
			if (parse_target(optarg, sock, sizeof(sock)) == -1)
				return EXIT_USAGE;
			break;
		case 'j':
			json = 1;
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
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (sock[0] == '\0' && default_target(sock, sizeof(sock)) == -1)
		return EXIT_USAGE;
	return one_shot(sock, argc - optind, argv + optind, json, timeout_ms);
}
