/*
 * `run`: ask the host to start a program, and answer when the exec has
 * worked or failed.  The daemon's monitor is the program's parent; this
 * plugin never forks and never waits: the reply is deferred until the
 * monitor reports the exec's result, so a child stopped before its exec
 * holds nobody.
 *
 * The process starts where its caller is (a local caller's working
 * directory, read from /proc) unless `--cwd` says otherwise, entered as
 * the user by the monitor: nobody starts in a directory they could not
 * enter themselves.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define MAX_ARGS	4096
#define MAX_ENV		256

static char *
join_args(int argc, const struct procctl_arg *argv, size_t *lenp)
{
	size_t len = 0, pos = 0;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += argv[i].len + 1;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < argc; i++) {
		memcpy(s + pos, argv[i].ptr, argv[i].len);
		pos += argv[i].len;
		if (i + 1 < argc)
			s[pos++] = ' ';
	}
	s[pos] = '\0';
	*lenp = pos;
	return s;
}

/* Processes of UID not yet ended: a scan, but only on `run`. */
static size_t
running_of(uid_t uid)
{
	const struct proc *p;
	size_t n = 0;

	for (p = procs; p != NULL; p = p->next)
		if (p->uid == uid && proc_is_live(p))
			n++;
	return n;
}

/* Where the caller is: its working directory, for a local caller. */
static int
caller_cwd(const struct procctl_caller *who, char *out, size_t size)
{
	char link[64];
	ssize_t n;

	if (who->pid <= 0)
		return -1;
	snprintf(link, sizeof(link), "/proc/%d/cwd", (int)who->pid);
	if ((n = readlink(link, out, size - 1)) <= 0)
		return -1;
	out[n] = '\0';
	return 0;
}

static void
on_started(const struct procctl_started *st, void *arg)
{
	struct proc *p = arg;
	struct procctl_ctx *ctx = p->start_ctx;
	char err[128];
	int len = (int)(p->path_len < 200 ? p->path_len : 200);

	p->start_ctx = NULL;
	if (st->error != 0) {
		snprintf(err, sizeof(err), "%s", strerror(st->error));
		err[0] = (char)(err[0] >= 'A' && err[0] <= 'Z' ? err[0] + 32 :
		    err[0]);
		H->reply_error(ctx, "EXEC", "cannot run '%.*s': %s", len,
		    p->command, err);
		H->finish(ctx);
		proc_forget(p);
		return;
	}
	p->pid = st->pid;
	p->contained = st->contained;
	clock_gettime(CLOCK_REALTIME, &p->started);
	p->start_ms = proc_now_ms();
	p->state = PROC_RUNNING;
	H->log(proc_self, PROCCTL_LOG_INFO, "%d %s started by %s (uid %u)",
	    (int)p->pid, p->name, p->owner, (unsigned)p->uid);
	/* The reply first: a client learns its pid before the event. */
	H->reply_int(ctx, p->pid);
	H->finish(ctx);
	proc_push_event(p, "started");
	/* Its session ended while it was starting. */
	if (p->close_on_start)
		proc_begin_close(p);
}

/* Check the words and the limits; the argv for exec in ARGS. */
static int
check_run(struct procctl_ctx *ctx, const struct procctl_caller *who,
    int argc, const struct procctl_arg *argv, char **args)
{
	int i;

	if (argc - 1 > MAX_ARGS) {
		H->reply_error(ctx, "LIMIT", "too many arguments (max %d)",
		    MAX_ARGS);
		return -1;
	}
	for (i = 1; i < argc; i++) {
		if (strlen(argv[i].ptr) != argv[i].len) {
			H->reply_error(ctx, "ARGS", "argument %d contains a "
			    "NUL byte, which exec cannot pass", i);
			return -1;
		}
		args[i - 1] = (char *)argv[i].ptr;
	}
	args[argc - 1] = NULL;
	if (proc_conf.max_running > 0 &&
	    proc_nrunning >= proc_conf.max_running) {
		H->reply_error(ctx, "LIMIT", "too many running processes "
		    "(max_processes is %zu)", proc_conf.max_running);
		return -1;
	}
	if (proc_conf.max_per_user > 0 &&
	    running_of(who->uid) >= proc_conf.max_per_user) {
		H->reply_error(ctx, "LIMIT", "%s has %zu running processes, "
		    "the most one user may have (max_per_user)", who->user,
		    proc_conf.max_per_user);
		return -1;
	}
	return 0;
}

/* A record for the process, not yet started. */
static struct proc *
new_record(const struct procctl_caller *who, int argc,
    const struct procctl_arg *argv, int detach)
{
	const char *base;
	struct proc *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	base = strrchr(argv[1].ptr, '/');
	base = base && base[1] != '\0' ? base + 1 : argv[1].ptr;
	p->name = strdup(base);
	p->name_len = strlen(base);
	p->path_len = argv[1].len;
	p->command = join_args(argc - 1, argv + 1, &p->command_len);
	if (p->name == NULL || p->command == NULL) {
		free(p->name);
		free(p->command);
		free(p);
		return NULL;
	}
	p->uid = who->uid;
	snprintf(p->owner, sizeof(p->owner), "%s", who->user);
	p->oneshot = !who->interactive;
	if (who->interactive && !detach && proc_conf.session_scope)
		p->session = who->conn_id;
	p->state = PROC_STARTING;
	return p;
}

/* The --env values, checked: K=V with a name. */
static int
env_list(struct procctl_ctx *ctx, char **env, size_t max)
{
	const char *v;
	size_t n;

	for (n = 0; (v = H->option_at(ctx, "env", n)) != NULL; n++) {
		if (n == max) {
			H->reply_error(ctx, "LIMIT", "too many --env (max %zu)",
			    max);
			return -1;
		}
		if (v[0] == '=' || strchr(v, '=') == NULL) {
			H->reply_error(ctx, "ARGS", "--env %.64s: expected "
			    "NAME=VALUE", v);
			return -1;
		}
		env[n] = (char *)v;
	}
	env[n] = NULL;
	return 0;
}

void
proc_cmd_run(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	struct procctl_spawn spec;
	const char *cwd = H->option(ctx, "cwd");
	char *args[MAX_ARGS + 1], *env[MAX_ENV + 1], here[PATH_MAX];
	struct proc *p;

	if (check_run(ctx, who, argc, argv, args) == -1 ||
	    env_list(ctx, env, MAX_ENV) == -1)
		return;
	if (cwd == NULL && caller_cwd(who, here, sizeof(here)) == 0)
		cwd = here;
	if ((p = new_record(who, argc, argv, H->option(ctx, "detach") !=
	    NULL)) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	memset(&spec, 0, sizeof(spec));
	spec.size = sizeof(spec);
	spec.argv = args;
	spec.env = env;
	spec.cwd = cwd;
	spec.uid = who->uid;
	spec.gid = who->gid;
	spec.user = who->user;
	spec.umask = proc_conf.umask;
	spec.flags = proc_conf.inherit_output ? PROCCTL_SPAWN_INHERIT_OUTPUT :
	    0;
	spec.stop_ms = (uint32_t)proc_conf.close_timeout_ms;
	if ((p->start_ctx = H->defer(ctx)) == NULL) {
		proc_free(p);
		H->reply_error(ctx, "ERR", "cannot defer the reply");
		return;
	}
	if ((p->handle = H->spawn(proc_self, &spec, on_started, proc_on_exit,
	    p)) == 0) {
		H->reply_error(p->start_ctx, "EXEC", "cannot run '%.200s': "
		    "the monitor cannot be reached", args[0]);
		H->finish(p->start_ctx);
		proc_free(p);
		return;
	}
	proc_insert(p);
}
