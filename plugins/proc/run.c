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
#include "program.h"

#define MAX_ARGS	4096
#define MAX_ENV		256

/* The words joined by spaces, as kept: PROC_COMMAND_MAX bytes at most
 * (*CUT when there were more), whatever the size of the argv. */
static char *
join_args(int argc, const struct procctl_arg *argv, size_t *lenp, int *cut)
{
	char buf[PROC_COMMAND_MAX + 1];
	size_t len = 0, n;
	int i;

	for (i = 0; i < argc && len < sizeof(buf); i++) {
		if (i > 0)
			buf[len++] = ' ';
		n = sizeof(buf) - len;
		if (argv[i].len < n)
			n = argv[i].len;
		memcpy(buf + len, argv[i].ptr, n);
		len += n;
	}
	return proc_command_copy(buf, len, lenp, cut);
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
	proc_started(p, st);
	proc_output_setup(p, proc_conf.output, proc_conf.log_ring, 1);
	H->log(proc_self, PROCCTL_LOG_INFO, "%d %s started by %s (uid %u)",
	    (int)p->pid, p->name, p->owner, (unsigned)p->uid);
	/* The reply first: a client learns its pid before the event. */
	H->reply_int(ctx, p->pid);
	H->finish(ctx);
	proc_push_event(p, "started");
	/* Its session ended while it was starting. */
	if (p->close_on_start)
		proc_begin_close(p, "its session ended");
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
	/* A `run --restart` program waiting to restart (no process now)
	 * holds its place too: crashing does not escape the limits. */
	if (proc_conf.max_running > 0 &&
	    proc_nrunning + adhoc_active((uid_t)-1) >= proc_conf.max_running) {
		H->reply_error(ctx, "LIMIT", "too many running processes "
		    "(max_processes is %zu)", proc_conf.max_running);
		return -1;
	}
	if (proc_conf.max_per_user > 0 && running_of(who->uid) +
	    adhoc_active(who->uid) >= proc_conf.max_per_user) {
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
	p->command = join_args(argc - 1, argv + 1, &p->command_len,
	    &p->command_cut);
	p->path_len = argv[1].len < p->command_len ? argv[1].len :
	    p->command_len;
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
		p->session = who->session;
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

/* `run --restart POLICY`: a program made on the fly (progadhoc.c). */
static void
run_restart(struct procctl_ctx *ctx, const struct procctl_caller *who,
    const char *policy, char **args, char **env)
{
	struct adhoc_spec s;
	const char *base = strrchr(args[0], '/');

	memset(&s, 0, sizeof(s));
	if (strcmp(policy, "on-failure") == 0)
		s.policy = RESTART_ON_FAILURE;
	else if (strcmp(policy, "always") == 0)
		s.policy = RESTART_ALWAYS;
	else {
		H->reply_error(ctx, "ARGS", "--restart %.32s: expected "
		    "on-failure or always", policy);
		return;
	}
	s.cwd = H->option(ctx, "cwd");
	if (s.cwd != NULL && s.cwd[0] != '/') {
		H->reply_error(ctx, "ARGS", "--cwd with --restart takes an "
		    "absolute path (each restart starts there)");
		return;
	}
	s.name = base != NULL && base[1] != '\0' ? base + 1 : args[0];
	s.argv = args;
	s.env = env;
	s.user = who->user;
	s.uid = who->uid;
	s.gid = who->gid;
	if (adhoc_tag_size(&s) > PROC_TAG_MAX) {
		H->reply_error(ctx, "LIMIT", "too long for --restart: the "
		    "command, environment and directory must fit in %d bytes "
		    "(the monitor keeps them for restarts)", PROC_TAG_MAX / 2);
		return;
	}
	adhoc_run(ctx, &s);
}

void
proc_cmd_run(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	struct procctl_spawn spec;
	const char *cwd = H->option(ctx, "cwd");
	const char *restart = H->option(ctx, "restart");
	char *args[MAX_ARGS + 1], *env[MAX_ENV + 1], tag[PROC_TAG_MAX];
	struct proc *p;

	if (check_run(ctx, who, argc, argv, args) == -1 ||
	    env_list(ctx, env, MAX_ENV) == -1)
		return;
	if (restart != NULL) {
		run_restart(ctx, who, restart, args, env);
		return;
	}
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
	spec.flags = proc_output_flags(proc_conf.output);
	spec.stop_ms = (uint32_t)proc_conf.close_timeout_ms;
	/* Where the caller is: the monitor reads it (root may be needed). */
	spec.cwd_pid = who->pid > 0 ? who->pid : 0;
	spec.tag = tag;
	spec.tag_len = proc_tag(p, tag, sizeof(tag));
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

/*
 * The tag: "2", uid, owner, session (hex), one-shot, program ("" for an
 * ad hoc process), name, command, each NUL-terminated ("1": no
 * program).  The command is cut to what fits (as a record's is, ending
 * with "…"); an adopted record whose command ends so is taken as cut.
 */
size_t
proc_tag(const struct proc *p, char *out, size_t size)
{
	int adhoc = p->prog != NULL && p->prog->adhoc;
	size_t n, room, keep;
	int k;

	k = snprintf(out, size, "%c%c%u%c%s%c%llx%c%d%c%s%c", adhoc ? '3' :
	    '2', 0, (unsigned)p->uid, 0, p->owner, 0,
	    (unsigned long long)p->session, 0, p->oneshot, 0,
	    p->prog != NULL ? p->prog->name : "", 0);
	if (k < 0 || (size_t)k >= size)
		return 0;
	n = (size_t)k;
	room = size - n;
	if (p->name_len + 1 > room / 2)
		return 0;
	memcpy(out + n, p->name, p->name_len);
	n += p->name_len;
	out[n++] = '\0';
	/* Cut again to what is left, "…" at its end as in a record. */
	keep = proc_cut_at(p->command, p->command_len, size - n - 1);
	memcpy(out + n, p->command, keep);
	n += keep;
	if (keep < p->command_len) {
		memcpy(out + n, PROC_CUT_MARK, PROC_CUT_MARK_LEN);
		n += PROC_CUT_MARK_LEN;
	}
	out[n++] = '\0';
	/* "3": a `run --restart` program's definition follows (whole, or
	 * the run is not kept as one: run.c checked it fits). */
	if (adhoc && (keep < p->command_len ||
	    (n = adhoc_tag_put(p->prog, out, size, n)) > size))
		return 0;
	return n;
}

/* The NUL-terminated strings of a tag: *N of them into F. */
static size_t
tag_fields(const char *t, size_t len, const char **f, size_t max)
{
	const char *end = t + len, *nul;
	size_t n = 0;

	while (t < end && n < max && (nul = memchr(t, '\0', end - t)) !=
	    NULL) {
		f[n++] = t;
		t = nul + 1;
	}
	return t == end ? n : 0;
}

static uint64_t grace_timer;

/* session_grace is over: the session-scoped processes whose session has
 * not come back end now. */
static void
on_grace_over(void *arg)
{
	struct proc *p;

	(void)arg;
	grace_timer = 0;
	for (p = procs; p != NULL; p = p->next)
		if (p->grace) {
			p->grace = 0;
			H->log(proc_self, PROCCTL_LOG_INFO, "%d %s: its session "
			    "did not come back within session_grace; closing "
			    "it", (int)p->pid, p->name);
			proc_begin_close(p, "its session did not come back");
		}
}

void *
proc_adopt(const struct procctl_adopted *a, void *arg)
{
	const char *f[PROC_TAG_MAX / 2], *prog = "";
	struct program *adhoc = NULL;
	struct timespec now;
	struct proc *p;
	uint64_t age;
	size_t n;

	(void)arg;
	if (a->tag == NULL || (n = tag_fields(a->tag, a->tag_len, f,
	    PROC_TAG_MAX / 2)) < 7 ||
	    (strcmp(f[0], "1") == 0) != (n == 7) ||
	    (strcmp(f[0], "2") == 0) != (n == 8) ||
	    (strcmp(f[0], "3") == 0) != (n > 8) ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	/* A `run --restart` program: made again from what it was. */
	if (n > 8 && (adhoc = adhoc_from_tag(f[5], f[2],
	    (uid_t)strtoul(f[1], NULL, 10), f + 8, n - 8)) != NULL)
		f[5] = adhoc->name;
	if (n >= 8) {		/* the program's name before name, command */
		prog = f[5];
		f[5] = f[6];
		f[6] = f[7];
	}
	p->name = strdup(f[5]);
	p->name_len = strlen(f[5]);
	p->command = proc_command_copy(f[6], strlen(f[6]), &p->command_len,
	    &p->command_cut);
	if (p->command_len >= PROC_CUT_MARK_LEN &&
	    memcmp(p->command + p->command_len - PROC_CUT_MARK_LEN,
	    PROC_CUT_MARK, PROC_CUT_MARK_LEN) == 0)
		p->command_cut = 1;
	if (p->name == NULL || p->command == NULL) {
		proc_free(p);
		return NULL;
	}
	p->path_len = strcspn(p->command, " ");
	p->uid = (uid_t)strtoul(f[1], NULL, 10);
	snprintf(p->owner, sizeof(p->owner), "%s", f[2]);
	p->session = strtoull(f[3], NULL, 16);
	p->oneshot = atoi(f[4]) != 0;
	p->handle = a->handle;
	p->pid = a->pid;
	p->contained = a->contained;
	p->adopted = 1;
	p->foreign = a->foreign;
	p->state = PROC_RUNNING;
	p->started.tv_sec = a->started_ms / 1000;
	p->started.tv_nsec = (long)(a->started_ms % 1000) * 1000000;
	clock_gettime(CLOCK_REALTIME, &now);
	age = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	age = age > (uint64_t)a->started_ms ? age - (uint64_t)a->started_ms : 0;
	p->start_ms = proc_now_ms() > age ? proc_now_ms() - age : 0;
	/* Its session was a connection to the server that is gone: the
	 * client may come back (the shell reconnects) within the grace. */
	if (p->session != 0) {
		p->grace = 1;
		if (grace_timer == 0)
			grace_timer = H->timer_add(proc_self,
			    proc_conf.session_grace_ms, on_grace_over, NULL);
	}
	proc_insert(p);
	if (*prog != '\0')
		program_adopt(p, prog);	/* a program's run: its output */
	if (p->prog == NULL)
		proc_output_setup(p, proc_conf.output, proc_conf.log_ring, 1);
	H->log(proc_self, PROCCTL_LOG_INFO, "%d %s (%s) adopted%s", (int)p->pid,
	    p->name, p->owner, p->foreign ? " (not our child: its exit "
	    "status will be unknown)" : "");
	return p;
}

void
proc_adopt_fini(void)
{
	if (grace_timer != 0)
		H->timer_cancel(proc_self, grace_timer);
	grace_timer = 0;
}
