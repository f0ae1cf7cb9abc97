/*
 * plugins/proc: run, close and list processes, tracked by pidfd.
 *
 * Keys in [plugin:proc]:
 *   close_timeout = 5      seconds between SIGTERM and SIGKILL on close
 *   history = 1000         ended processes kept for `list all`
 *   output = null          child stdout/stderr: null or inherit (the
 *                          daemon's stderr)
 *   max_processes = 0      running processes at once (0: no limit)
 *   max_per_user = 0       running processes of one user (0: no limit)
 *   session_scope = yes    processes started from an interactive session
 *                          end with it, as in the original (no: they
 *                          outlive it unless closed; run --detach does
 *                          the same for one process)
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define MAX_ARGS	4096

const struct procctl_host *H;
struct procctl_plugin *proc_self;
struct proc *procs;		/* newest first; owned */

static uint64_t next_seq = 1;
static uint64_t close_timeout_ms = 5000;
static size_t history_max = 1000, nended, nrunning, max_running;
static size_t max_per_user;
static int inherit_output;
static int session_scope = 1;

/* A `close` request waiting for its processes to end. */
struct waiter {
	struct procctl_ctx	*ctx;		/* deferred reply */
	int			 many;		/* reply with an array */
	size_t			 remaining;
	size_t			 n;
	struct proc		**procs;	/* owned array, not the procs */
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
proc_visible(const struct procctl_caller *who, const struct proc *p)
{
	return who->admin || who->uid == p->uid;
}

static int
is_running(const struct proc *p)
{
	return p->state == PROC_RUNNING || p->state == PROC_CLOSING;
}

static void
proc_free(struct proc *p)
{
	free(p->name);
	free(p->command);
	free(p->waiters);
	free(p);
}

static void
unlink_proc(struct proc *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		procs = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
}

/* Keep at most history_max ended processes: drop the oldest. */
static void
trim_history(void)
{
	struct proc *p, *last = NULL, *prev;

	if (nended <= history_max)
		return;
	for (p = procs; p != NULL; p = p->next)
		last = p;
	for (p = last; p != NULL && nended > history_max; p = prev) {
		prev = p->prev;
		if (is_running(p) || p->pins > 0)
			continue;
		unlink_proc(p);
		proc_free(p);
		nended--;
	}
}

static void
push_event(const struct proc *p, const char *kind)
{
	struct procctl_ctx *ev;

	if ((ev = H->push_begin(proc_self, p->uid)) == NULL)
		return;
	H->reply_array(ev, 3);
	H->reply_str(ev, "event");
	H->reply_str(ev, kind);
	proc_reply_record(ev, p, 1);
	H->push_end(ev);
}

static void
signal_group(struct proc *p, int sig)
{
	/* The group first (children of a shell too), then the process
	 * itself through its pidfd in case it left the group. */
	kill(-p->pid, sig);
	if (p->pidfd != -1)
		pidfd_send_signal(p->pidfd, sig, NULL, 0);
}

static void
waiter_free(struct waiter *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		w->procs[i]->pins--;
	free(w->procs);
	free(w);
}

static void
waiter_reply(struct waiter *w)
{
	size_t i;

	if (w->many)
		H->reply_array(w->ctx, w->n);
	for (i = 0; i < w->n; i++)
		proc_reply_record(w->ctx, w->procs[i], 0);
	H->finish(w->ctx);
	waiter_free(w);
}

static void
on_exit_child(const struct procctl_exit *ex, void *arg)
{
	struct proc *p = arg;
	char how[160];
	size_t i;
	int was_closing = p->state == PROC_CLOSING;

	clock_gettime(CLOCK_REALTIME, &p->ended);
	p->end_ms = now_ms();
	if (ex->signal != 0) {
		p->state = PROC_KILLED;
		p->signal = ex->signal;
		p->exit_code = -1;
		p->core_dumped = ex->core_dumped;
	} else {
		p->state = PROC_EXITED;
		p->exit_code = ex->code;
	}
	close(p->pidfd);
	p->pidfd = -1;
	if (p->kill_timer != 0) {
		H->timer_cancel(proc_self, p->kill_timer);
		p->kill_timer = 0;
	}
	/* A closed process takes its group with it. */
	if (was_closing)
		kill(-p->pid, SIGKILL);
	nrunning--;
	nended++;
	proc_describe_end(p, how, sizeof(how));
	H->log(proc_self, PROCCTL_LOG_INFO, "%d %.*s (%s) %s", (int)p->pid,
	    (int)p->name_len, p->name, p->owner, how);
	push_event(p, p->state == PROC_EXITED ? "exited" : "killed");
	for (i = 0; i < p->nwaiters; i++)
		if (--p->waiters[i]->remaining == 0)
			waiter_reply(p->waiters[i]);
	free(p->waiters);
	p->waiters = NULL;
	p->nwaiters = 0;
	trim_history();
}

static void
on_kill_timeout(void *arg)
{
	struct proc *p = arg;

	p->kill_timer = 0;
	if (!is_running(p))
		return;
	H->log(proc_self, PROCCTL_LOG_WARN, "%d %.*s did not end %llu ms "
	    "after SIGTERM: SIGKILL", (int)p->pid, (int)p->name_len, p->name,
	    (unsigned long long)close_timeout_ms);
	p->forced = 1;
	signal_group(p, SIGKILL);
}

static void
begin_close(struct proc *p)
{
	if (p->state != PROC_RUNNING)
		return;		/* already closing: the timer runs */
	p->state = PROC_CLOSING;
	signal_group(p, SIGTERM);
	p->kill_timer = H->timer_add(proc_self, close_timeout_ms,
	    on_kill_timeout, p);
}

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

static void
lower_first(char *s)
{
	s[0] = (char)tolower((unsigned char)s[0]);
}

/* Processes of UID not yet ended: a scan, but only on `run`. */
static size_t
running_of(uid_t uid)
{
	const struct proc *p;
	size_t n = 0;

	for (p = procs; p != NULL; p = p->next)
		if (p->uid == uid && (p->state == PROC_RUNNING ||
		    p->state == PROC_CLOSING))
			n++;
	return n;
}

static void
cmd_run(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	struct spawn_opts o;
	char *args[MAX_ARGS + 1], err[128];
	const char *base;
	struct proc *p;
	int i, first = 1, detach, rc;

	detach = H->option(ctx, "detach") != NULL;
	if (argc - first > MAX_ARGS) {
		H->reply_error(ctx, "LIMIT", "too many arguments (max %d)",
		    MAX_ARGS);
		return;
	}
	for (i = first; i < argc; i++) {
		if (strlen(argv[i].ptr) != argv[i].len) {
			H->reply_error(ctx, "ARGS", "argument %d contains a "
			    "NUL byte, which exec cannot pass", i - first + 1);
			return;
		}
		args[i - first] = (char *)argv[i].ptr;
	}
	args[argc - first] = NULL;
	if (max_running > 0 && nrunning >= max_running) {
		H->reply_error(ctx, "LIMIT", "too many running processes "
		    "(max_processes is %zu)", max_running);
		return;
	}
	if (max_per_user > 0 && running_of(who->uid) >= max_per_user) {
		H->reply_error(ctx, "LIMIT", "%s has %zu running processes, "
		    "the most one user may have (max_per_user)", who->user,
		    max_per_user);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	base = strrchr(args[0], '/');
	base = base && base[1] != '\0' ? base + 1 : args[0];
	p->name = strdup(base);
	p->name_len = strlen(base);
	p->command = join_args(argc - first, argv + first, &p->command_len);
	if (p->name == NULL || p->command == NULL) {
		proc_free(p);
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	memset(&o, 0, sizeof(o));
	o.inherit_output = inherit_output;
	o.uid = who->uid;
	o.gid = who->gid;
	o.user = who->user;
	rc = spawn(args, &o, &p->pid, &p->pidfd);
	if (rc != 0) {
		snprintf(err, sizeof(err), "%s", strerror(rc));
		lower_first(err);
		H->reply_error(ctx, "EXEC", "cannot run '%.200s': %s", args[0],
		    err);
		proc_free(p);
		return;
	}
	p->seq = next_seq++;
	p->uid = who->uid;
	snprintf(p->owner, sizeof(p->owner), "%s", who->user);
	p->oneshot = !who->interactive;
	if (who->interactive && !detach && session_scope)
		p->session = who->conn_id;
	clock_gettime(CLOCK_REALTIME, &p->started);
	p->start_ms = now_ms();
	p->state = PROC_RUNNING;
	if (H->watch_child(proc_self, p->pidfd, on_exit_child, p) == -1) {
		kill(-p->pid, SIGKILL);
		waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, NULL, WEXITED);
		close(p->pidfd);
		proc_free(p);
		H->reply_error(ctx, "ERR", "cannot watch the new process");
		return;
	}
	p->next = procs;
	if (procs != NULL)
		procs->prev = p;
	procs = p;
	nrunning++;
	H->log(proc_self, PROCCTL_LOG_INFO, "%d %s started by %s (uid %u)",
	    (int)p->pid, p->name, p->owner, (unsigned)p->uid);
	push_event(p, "started");
	H->reply_int(ctx, p->pid);
}

static int
parse_pid(const struct procctl_arg *a, pid_t *out)
{
	char *end;
	long v;

	if (a->len == 0 || a->len > 10 || !isdigit((unsigned char)a->ptr[0]))
		return -1;
	v = strtol(a->ptr, &end, 10);
	if (*end != '\0' || v <= 0 || v > INT_MAX)
		return -1;
	*out = (pid_t)v;
	return 0;
}

static int
add_waiter(struct proc *p, struct waiter *w)
{
	struct waiter **ws;

	ws = realloc(p->waiters, (p->nwaiters + 1) * sizeof(*ws));
	if (ws == NULL)
		return -1;
	p->waiters = ws;
	p->waiters[p->nwaiters++] = w;
	return 0;
}

/* Defer the reply until every process in MATCH has ended. */
static void
close_procs(struct procctl_ctx *ctx, struct proc **match, size_t n, int many)
{
	struct waiter *w;
	size_t i;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		free(match);
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	w->many = many;
	w->remaining = n;
	w->procs = match;
	if ((w->ctx = H->defer(ctx)) == NULL) {
		free(match);
		free(w);
		H->reply_error(ctx, "ERR", "cannot defer the reply");
		return;
	}
	for (i = 0; i < n; i++) {
		match[i]->pins++;
		w->n++;
		if (add_waiter(match[i], w) == -1) {
			/* Cannot wait on them all: answer now, close none. */
			while (i-- > 0)
				match[i]->nwaiters--;
			H->reply_error(w->ctx, "ERR", "out of memory");
			H->finish(w->ctx);
			waiter_free(w);
			return;
		}
	}
	for (i = 0; i < n; i++)
		begin_close(match[i]);
}

static void
cmd_close(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	struct proc *p, *found = NULL, **match;
	char pids[256], how[160];
	size_t n = 0, i, len;
	pid_t pid;
	int all = 0;

	all = argc == 3;	/* the declared keyword, checked by the host */
	if (parse_pid(&argv[1], &pid) == 0) {
		if (all) {
			H->reply_error(ctx, "ARGS", "'all' goes with a name, "
			    "not a pid; usage: close <name> all");
			return;
		}
		/* The running one, else the newest ended one. */
		for (p = procs; p != NULL; p = p->next)
			if (p->pid == pid && (found == NULL ||
			    (is_running(p) && !is_running(found))))
				found = p;
		if (found == NULL) {
			H->reply_error(ctx, "NOENT", "no process with pid %d "
			    "is managed here", (int)pid);
			return;
		}
		if (!proc_visible(who, found)) {
			H->reply_error(ctx, "NOPERM", "process %d belongs to "
			    "another user", (int)pid);
			return;
		}
		if (!is_running(found)) {
			proc_describe_end(found, how, sizeof(how));
			H->reply_error(ctx, "NOENT", "process %d (%.*s) is not "
			    "running: it %s", (int)pid, (int)found->name_len,
			    found->name, how);
			return;
		}
		if ((match = malloc(sizeof(*match))) == NULL) {
			H->reply_error(ctx, "ERR", "out of memory");
			return;
		}
		match[0] = found;
		close_procs(ctx, match, 1, 0);
		return;
	}
	for (p = procs; p != NULL; p = p->next)
		if (is_running(p) && proc_visible(who, p) &&
		    p->name_len == argv[1].len &&
		    memcmp(p->name, argv[1].ptr, p->name_len) == 0)
			n++;
	if (n == 0) {
		H->reply_error(ctx, "NOENT", "no running process named "
		    "'%.200s'", argv[1].ptr);
		return;
	}
	if ((match = calloc(n, sizeof(*match))) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	i = 0;
	for (p = procs; p != NULL; p = p->next)
		if (is_running(p) && proc_visible(who, p) &&
		    p->name_len == argv[1].len &&
		    memcmp(p->name, argv[1].ptr, p->name_len) == 0)
			match[i++] = p;
	if (n > 1 && !all) {
		len = 0;
		pids[0] = '\0';
		for (i = n; i-- > 0 && len + 16 < sizeof(pids);)
			len += (size_t)snprintf(pids + len, sizeof(pids) - len,
			    "%s%d", i + 1 == n ? "" : ", ", (int)match[i]->pid);
		H->reply_error(ctx, "ERR", "'%.64s' is ambiguous: %zu running "
		    "processes have that name (pids %s); close one by pid, or "
		    "all of them with: close %.64s all", argv[1].ptr, n, pids,
		    argv[1].ptr);
		free(match);
		return;
	}
	close_procs(ctx, match, n, all);
}

static void
on_disconnect(const struct procctl_caller *who, void *arg)
{
	struct proc *p;

	(void)arg;
	for (p = procs; p != NULL; p = p->next)
		if (p->session == who->conn_id && p->state == PROC_RUNNING) {
			H->log(proc_self, PROCCTL_LOG_INFO, "%d %s: its "
			    "session ended; closing it", (int)p->pid, p->name);
			begin_close(p);
		}
}

static int
parse_seconds(const char *s, uint64_t *ms)
{
	char *end;
	double v;

	v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v >= 0) || v > 86400)
		return -1;
	*ms = (uint64_t)(v * 1000);
	return 0;
}

static int
parse_count(const char *s, size_t *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

static const struct procctl_option run_options[] = {
	{ "detach", 'd', NULL, "keep running after the session that started "
	  "it ends" },
	{ NULL, 0, NULL, NULL },
};
static const struct procctl_param run_params[] = {
	{ "path", PROCCTL_PARAM_PROGRAM, NULL, 1, 1, 0, NULL, NULL, NULL },
	{ "args", PROCCTL_PARAM_WORD, NULL, 0, 0, PROCCTL_PARAM_REST, NULL,
	  NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param close_params[] = {
	{ "pid|name", PROCCTL_PARAM_WORD, NULL, 1, 1, 0, "list", "name pid",
	  "started" },
	{ "all", PROCCTL_PARAM_KEYWORD, "all", 0, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param list_params[] = {
	{ "all|details", PROCCTL_PARAM_KEYWORD, "all|details", 0, 1, 0, NULL,
	  NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command commands[] = {
	{ "run", cmd_run, 0, "run [--detach] <path> [args...]",
	  "Start a program (searched in PATH without a '/'); replies with "
	  "its pid", 0, run_options, run_params, "processes" },
	{ "close", cmd_close, 0, "close <pid|name> [all]",
	  "End a process (SIGTERM, then SIGKILL after close_timeout); "
	  "replies when it is gone", 0, NULL, close_params, "processes" },
	{ "list", proc_cmd_list, 0, "list [all | details]",
	  "Running processes; 'all' adds ended ones, 'details' adds run "
	  "time, scope and command", 0, NULL, list_params, "processes" },
};

static int
proc_init(struct procctl_plugin *self, const struct procctl_host *host)
{
	const char *v;
	size_t i;

	H = host;
	proc_self = self;
	if ((v = H->config_get(self, "close_timeout")) != NULL &&
	    parse_seconds(v, &close_timeout_ms) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "close_timeout = %s: expected "
		    "seconds (0 to 86400)", v);
		return -1;
	}
	if ((v = H->config_get(self, "history")) != NULL &&
	    parse_count(v, &history_max) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "history = %s: expected a "
		    "count", v);
		return -1;
	}
	if ((v = H->config_get(self, "max_processes")) != NULL &&
	    parse_count(v, &max_running) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "max_processes = %s: expected "
		    "a count", v);
		return -1;
	}
	if ((v = H->config_get(self, "max_per_user")) != NULL &&
	    parse_count(v, &max_per_user) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "max_per_user = %s: expected "
		    "a count", v);
		return -1;
	}
	if ((v = H->config_get(self, "output")) != NULL) {
		if (strcmp(v, "inherit") == 0)
			inherit_output = 1;
		else if (strcmp(v, "null") != 0) {
			H->log(self, PROCCTL_LOG_ERROR, "output = %s: expected "
			    "null or inherit", v);
			return -1;
		}
	}
	if ((v = H->config_get(self, "session_scope")) != NULL) {
		if (strcmp(v, "yes") == 0)
			session_scope = 1;
		else if (strcmp(v, "no") == 0)
			session_scope = 0;
		else {
			H->log(self, PROCCTL_LOG_ERROR, "session_scope = %s: "
			    "expected yes or no", v);
			return -1;
		}
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (H->register_command(self, &commands[i]) == -1)
			return -1;
	return H->on_disconnect(self, on_disconnect, NULL);
}

/* Daemon shutdown: end every process gracefully, then by force.  The
 * loop is stopping, so waiting here blocks nobody. */
static void
proc_fini(struct procctl_plugin *self)
{
	struct pollfd *pfds;
	struct proc *p, *next;
	uint64_t deadline;
	size_t n = 0, i;
	siginfo_t si;

	for (p = procs; p != NULL; p = p->next)
		if (is_running(p)) {
			signal_group(p, SIGTERM);
			n++;
		}
	pfds = n ? calloc(n, sizeof(*pfds)) : NULL;
	deadline = now_ms() + close_timeout_ms;
	while (pfds != NULL) {
		i = 0;
		for (p = procs; p != NULL; p = p->next)
			if (p->pidfd != -1 && i < n) {
				pfds[i].fd = p->pidfd;
				pfds[i].events = POLLIN;
				pfds[i].revents = 0;
				i++;
			}
		if (i == 0 || now_ms() >= deadline)
			break;
		if (poll(pfds, i, (int)(deadline - now_ms())) <= 0)
			continue;
		for (p = procs; p != NULL; p = p->next) {
			memset(&si, 0, sizeof(si));
			if (p->pidfd != -1 && waitid((idtype_t)P_PIDFD,
			    (id_t)p->pidfd, &si, WEXITED | WNOHANG) == 0 &&
			    si.si_pid != 0) {
				H->unwatch_child(self, p->pidfd);
				close(p->pidfd);
				p->pidfd = -1;
			}
		}
	}
	free(pfds);
	for (p = procs; p != NULL; p = p->next)
		if (p->pidfd != -1) {
			H->log(self, PROCCTL_LOG_WARN, "%d %s did not end on "
			    "SIGTERM: SIGKILL", (int)p->pid, p->name);
			signal_group(p, SIGKILL);
			waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED);
			H->unwatch_child(self, p->pidfd);
			close(p->pidfd);
			p->pidfd = -1;
		}
	for (p = procs; p != NULL; p = next) {
		next = p->next;
		if (p->kill_timer != 0)
			H->timer_cancel(self, p->kill_timer);
		/* Close requests still waiting: their clients are gone. */
		for (i = 0; i < p->nwaiters; i++)
			if (--p->waiters[i]->remaining == 0) {
				H->finish(p->waiters[i]->ctx);
				free(p->waiters[i]->procs);
				free(p->waiters[i]);
			}
	}
	for (p = procs; p != NULL; p = next) {
		next = p->next;
		proc_free(p);
	}
	procs = NULL;
	nrunning = nended = 0;
}

PROCCTL_PLUGIN("proc", "0.1.0", "process control: run, close, list",
    proc_init, proc_fini);
