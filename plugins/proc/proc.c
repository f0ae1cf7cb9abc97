/*
 * plugins/proc: run, close and list processes.  The daemon's monitor is
 * their parent (host->spawn, host->signal): this plugin keeps the records
 * and the rules, and never forks, signals a pid or waits.
 *
 * Keys in [plugin:proc]:
 *   close_timeout = 5      seconds between SIGTERM and SIGKILL on close
 *   history = 1000         ended processes kept for `list all`
 *   history_per_user = 0   ...of one user (0: no cap of its own; when
 *                          the history is full, the user who has the
 *                          most loses their oldest, never another's)
 *   list_page = 100        records `list all` and `list details` give
 *                          without --limit (0: as many as fit)
 *   output = ring          child stdout/stderr: ring (captured), file,
 *                          journal, inherit (procctld's log), null
 *   log_ring = 64K         bytes of each process's newest lines kept
 *   log_dir, log_max = 10M, log_backups = 5   output = file's files
 *   umask = 022            the umask processes start with
 *   max_processes = 0      running processes at once (0: no limit)
 *   max_per_user = 0       running processes of one user (0: no limit)
 *   session_scope = yes    processes started from an interactive session
 *                          end with it, as in the original (no: they
 *                          outlive it unless closed; run --detach does
 *                          the same for one process)
 *   session_grace = 30     seconds a session that went away with a
 *                          server (a crash, an upgrade) has to come back
 *                          before its processes are closed
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "program.h"

const struct procctl_host *H;
struct procctl_plugin *proc_self;
struct proc *procs;		/* newest first; owned */
struct proc_conf proc_conf;
size_t proc_nrunning;

static uint64_t next_seq = 1;

/* A `close` request waiting for its processes to end. */
struct waiter {
	struct procctl_ctx	*ctx;		/* deferred reply */
	int			 many;		/* reply with an array */
	size_t			 remaining;
	size_t			 n;
	struct proc		**procs;	/* owned array, not the procs */
};

uint64_t
proc_now_ms(void)
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

int
proc_is_live(const struct proc *p)
{
	return p->state == PROC_STARTING || is_running(p);
}

void
proc_free(struct proc *p)
{
	free(p->name);
	free(p->command);
	free(p->waiters);
	free(p);
}

void
proc_unlink(struct proc *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		procs = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
}

void
proc_insert(struct proc *p)
{
	p->seq = next_seq++;
	p->next = procs;
	if (procs != NULL)
		procs->prev = p;
	procs = p;
	proc_nrunning++;
}

void
proc_forget(struct proc *p)
{
	proc_unlink(p);
	proc_nrunning--;
	proc_free(p);
}

/* The exec of P worked: it runs, from now. */
unsigned
proc_output_flags(int output)
{
	/* inherit: through procctld, which prefixes each line with its
	 * name (a host before minor 6: procctld's stderr as it is). */
	if (output == OUTPUT_INHERIT)
		return H->abi_minor >= 6 ? PROCCTL_SPAWN_CAPTURE :
		    PROCCTL_SPAWN_INHERIT_OUTPUT;
	return output == OUTPUT_NULL ? 0 : PROCCTL_SPAWN_CAPTURE;
}

int
proc_output_parse(const char *s)
{
	static const char *const names[] = { "ring", "null", "inherit",
	    "file", "journal" };
	int i;

	for (i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* S (LEN bytes) as one safe file name into OUT: letters, digits and
 * "._:-", the rest '_', never "." or ".." or hidden. */
static void
file_name(char *out, size_t size, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < size - 1; i++)
		out[i] = isalnum((unsigned char)s[i]) ||
		    strchr("._:-", s[i]) != NULL ? s[i] : '_';
	out[i] = '\0';
	if (out[0] == '.' || out[0] == '\0')
		out[0] = '_';
}

void
proc_output_setup(const struct proc *p, int output, size_t ring, int adhoc)
{
	static int journal_said;
	char path[512], name[128], user[80];

	if (p->handle == 0 || output == OUTPUT_NULL)
		return;
	if (H->abi_minor >= 6 && ring != PROC_RING_DEFAULT)
		(void)H->output_ring(proc_self, p->handle, ring);
	if (output == OUTPUT_INHERIT && H->abi_minor >= 6) {
		snprintf(name, sizeof(name), "%.*s[%d]", (int)(p->name_len <
		    100 ? p->name_len : 100), p->name, (int)p->pid);
		(void)H->output_to_log(proc_self, p->handle, name);
		return;
	}
	if (output == OUTPUT_JOURNAL && H->abi_minor >= 6) {
		/* A user's process under its user's name: `run sshd` is no
		 * way into journalctl -t sshd. */
		if (adhoc)
			snprintf(name, sizeof(name), "%s/%.*s", p->owner,
			    (int)(p->name_len < 60 ? p->name_len : 60),
			    p->name);
		else
			snprintf(name, sizeof(name), "%.*s", (int)(p->name_len <
			    100 ? p->name_len : 100), p->name);
		if (H->output_to_journal(proc_self, p->handle, name,
		    p->pid) == -1 && !journal_said) {
			journal_said = 1;	/* once, not per process */
			H->log(proc_self, PROCCTL_LOG_WARN, "output = journal: "
			    "%s (lines stay in the ring)", errno == ENOENT ?
			    "journald does not run here" : strerror(errno));
		}
		return;
	}
	if (output != OUTPUT_FILE)
		return;
	file_name(name, sizeof(name), p->name, p->name_len);
	if (adhoc) {
		file_name(user, sizeof(user), p->owner, strlen(p->owner));
		snprintf(path, sizeof(path), "%s/%s/%s.log", proc_conf.log_dir,
		    user, name);
	} else
		snprintf(path, sizeof(path), "%s/%s.log", proc_conf.log_dir,
		    name);
	if (H->output_to_file(proc_self, p->handle, path,
	    proc_conf.log_max, (unsigned)proc_conf.log_backups) == -1)
		H->log(proc_self, PROCCTL_LOG_WARN, "%s: %s (its output stays "
		    "in the ring)", path, strerror(errno));
}

void
proc_started(struct proc *p, const struct procctl_started *st)
{
	p->pid = st->pid;
	p->contained = st->contained;
	if (H->abi_minor >= 5)
		p->limits = st->limits;
	clock_gettime(CLOCK_REALTIME, &p->started);
	p->start_ms = proc_now_ms();
	p->state = PROC_RUNNING;
}

void
proc_push_event(const struct proc *p, const char *kind)
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

/* The whole tree: what the process started goes with it. */
static void
signal_tree(struct proc *p, int sig)
{
	H->signal(proc_self, p->handle, sig, sig == SIGKILL ?
	    PROCCTL_SIGNAL_KILL : PROCCTL_SIGNAL_TREE);
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

void
proc_on_exit(const struct procctl_exit *ex, void *arg)
{
	struct proc *p = arg;
	char how[PROC_HOW_MAX];
	size_t i;
	int was_closing = p->state == PROC_CLOSING;

	clock_gettime(CLOCK_REALTIME, &p->ended);
	p->end_ms = proc_now_ms();
	if (ex->unknown) {
		p->state = PROC_EXITED;
		p->unknown = 1;
		p->exit_code = -1;
	} else if (ex->signal != 0) {
		p->state = PROC_KILLED;
		p->signal = ex->signal;
		p->oom_killed = H->abi_minor >= 5 && ex->oom_killed;
		p->exit_code = -1;
		p->core_dumped = ex->core_dumped;
	} else {
		p->state = PROC_EXITED;
		p->exit_code = ex->code;
	}
	if (p->kill_timer != 0) {
		H->timer_cancel(proc_self, p->kill_timer);
		p->kill_timer = 0;
	}
	(void)was_closing;	/* the monitor ended its tree already */
	p->grace = 0;		/* nothing left for its session to find */
	proc_to_history(p);
	proc_describe_end(p, how, sizeof(how));
	H->log(proc_self, PROCCTL_LOG_INFO, "%d %.*s (%s) %s", (int)p->pid,
	    (int)p->name_len, p->name, p->owner, how);
	proc_push_event(p, p->state == PROC_EXITED ? "exited" : "killed");
	for (i = 0; i < p->nwaiters; i++)
		if (--p->waiters[i]->remaining == 0)
			waiter_reply(p->waiters[i]);
	free(p->waiters);
	p->waiters = NULL;
	p->nwaiters = 0;
	if (p->prog != NULL)
		program_on_exit(p);	/* restart or not: its lifecycle */
	history_trim();
}

void
proc_to_history(struct proc *p)
{
	proc_nrunning--;
	history_add(p);
}

size_t
proc_cut_at(const char *s, size_t len, size_t max)
{
	size_t i, k;

	if (len <= max)
		return len;
	if (max < PROC_CUT_MARK_LEN)
		return 0;
	/* Back to the start of the character the cut falls in (UTF-8):
	 * never half of one. */
	i = max - PROC_CUT_MARK_LEN;
	for (k = 0; k < 3 && i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80;
	    k++)
		i--;
	return i;
}

char *
proc_command_copy(const char *s, size_t len, size_t *outlen, int *cut)
{
	size_t keep = proc_cut_at(s, len, PROC_COMMAND_MAX);
	char *c;

	*cut = keep < len;
	if ((c = malloc(keep + (*cut ? PROC_CUT_MARK_LEN : 0) + 1)) == NULL)
		return NULL;
	memcpy(c, s, keep);
	if (*cut) {
		memcpy(c + keep, PROC_CUT_MARK, PROC_CUT_MARK_LEN);
		keep += PROC_CUT_MARK_LEN;
	}
	c[keep] = '\0';
	*outlen = keep;
	return c;
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
	    (unsigned long long)proc_conf.close_timeout_ms);
	p->forced = FORCED_CLOSE_TIMEOUT;
	signal_tree(p, SIGKILL);
}

void
proc_begin_close(struct proc *p, const char *by)
{
	if (p->closed_by[0] == '\0' && (p->state == PROC_STARTING ||
	    p->state == PROC_RUNNING))
		snprintf(p->closed_by, sizeof(p->closed_by), "%s", by);
	if (p->state == PROC_STARTING) {
		p->close_on_start = 1;	/* once the exec is confirmed */
		return;
	}
	if (p->state != PROC_RUNNING)
		return;		/* already closing: the timer runs */
	p->state = PROC_CLOSING;
	signal_tree(p, SIGTERM);
	p->kill_timer = H->timer_add(proc_self, proc_conf.close_timeout_ms,
	    on_kill_timeout, p);
}

/* The time its close had left is not known: never sooner than asked. */
void
proc_resume_close(struct proc *p)
{
	p->state = PROC_CLOSING;
	if (!p->forced)		/* else SIGKILL was sent already */
		p->kill_timer = H->timer_add(proc_self,
		    proc_conf.close_timeout_ms, on_kill_timeout, p);
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
		if (match[i]->prog != NULL && match[i]->prog->adhoc)
			adhoc_close(match[i]->prog, H->caller(ctx)->user);
		else
			proc_begin_close(match[i], H->caller(ctx)->user);
}

static void
cmd_close(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	struct proc *p, *found = NULL, **match;
	char pids[256], how[PROC_HOW_MAX];
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
		/* The running one, else the newest ended one, of those
		 * WHO may see: another user's reads exactly as a pid never
		 * managed (no oracle for which pids procctld runs). */
		for (p = procs; p != NULL; p = p->next)
			if (p->pid == pid && proc_visible(who, p) &&
			    (found == NULL || (is_running(p) &&
			    !is_running(found))))
				found = p;
		if (found == NULL) {
			H->reply_error(ctx, "NOENT", "no process with pid %d "
			    "is managed here", (int)pid);
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
	logs_unfollow(who->conn_id);
	/* One waiting for its session to come back is not this one's: a
	 * new server's connection ids start again from 1. */
	for (p = procs; p != NULL; p = p->next)
		if (p->session == who->session && p->uid == who->uid &&
		    !p->grace &&
		    (p->state == PROC_RUNNING || p->state == PROC_STARTING)) {
			H->log(proc_self, PROCCTL_LOG_INFO, "%d %s: its "
			    "session ended; closing it", (int)p->pid, p->name);
			proc_begin_close(p, "its session ended");
		}
}

/* UNFOLLOW: the connection stays, its follows (logs -f) end. */
static void
on_unfollow(const struct procctl_caller *who, void *arg)
{
	(void)arg;
	logs_unfollow(who->conn_id);
}

/* A client named its session: the processes it left when a server went
 * away are its own again. */
static void
on_session(const struct procctl_caller *who, void *arg)
{
	struct proc *p;

	(void)arg;
	for (p = procs; p != NULL; p = p->next)
		if (p->grace && p->session == who->session &&
		    p->uid == who->uid) {
			p->grace = 0;
			H->log(proc_self, PROCCTL_LOG_INFO, "%d %s: its "
			    "session is back", (int)p->pid, p->name);
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

/* "4096", "64K", "10M", "1G". */
static int
parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	v = strtoull(s, &end, 10);
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift > 0)
		end++;
	if (*end != '\0' || v > (SIZE_MAX >> shift))
		return -1;
	*out = (size_t)v << shift;
	return 0;
}

int
proc_ring_parse(const char *s, size_t *out)
{
	size_t v;

	if (parse_size(s, &v) == -1 || v > PROC_RING_MAX)
		return -1;
	*out = v;
	return 0;
}

static const struct procctl_option run_options[] = {
	{ "detach", 'd', NULL, "keep running after the session that started "
	  "it ends" },
	{ "cwd", 'C', "DIR", "start in DIR (default: where you are; entered "
	  "as you)" },
	{ "env", 'e', "K=V", "add K=V to the clean environment (repeat for "
	  "more)" },
	{ "restart", 'r', "on-failure|always", "restart it when it ends "
	  "(as a program: backoff, start limit; see status, why); close "
	  "ends it for good" },
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
static const struct procctl_option list_options[] = {
	{ "limit", 'n', "N", "the newest N records (default: list_page, "
	  "100, with all or details; 0: as many as the reply may hold)" },
	{ "offset", 0, "N", "skip the newest N first (the next page: "
	  "--offset N --limit N)" },
	{ NULL, 0, NULL, NULL },
};
static const struct procctl_param list_params[] = {
	{ "all|details", PROCCTL_PARAM_KEYWORD, "all|details", 0, 2, 0, NULL,
	  NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_param prog_params[] = {
	{ "name|all", PROCCTL_PARAM_WORD, NULL, 1, 0, 0, "status", "name",
	  NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param status_params[] = {
	{ "name|all", PROCCTL_PARAM_WORD, NULL, 0, 0, 0, "status", "name",
	  NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param why_params[] = {
	{ "name|pid", PROCCTL_PARAM_WORD, NULL, 1, 1, 0, "status", "name",
	  NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_option logs_options[] = {
	{ "lines", 'n', "N", "the last N lines (default 100)" },
	{ "stdout", 0, NULL, "only what it wrote on stdout" },
	{ "stderr", 0, NULL, "only what it wrote on stderr" },
	{ "since", 0, "TIME", "only lines since TIME (2026-11-26T10:00:00Z) "
	  "or since so long ago (10m, 2h)" },
	{ "follow", 'f', NULL, "then each new line as it comes, until "
	  "interrupted" },
	{ NULL, 0, NULL, NULL },
};
static const struct procctl_param logs_params[] = {
	{ "pid|name", PROCCTL_PARAM_WORD, NULL, 1, 1, 0, "list all", "name pid",
	  NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command commands[] = {
	{ "logs", proc_cmd_logs, 0, "logs [-f] [-n N] [--stdout|--stderr] "
	  "[--since TIME] <pid|name>", "What a process wrote (the newest of that name): "
	  "its last lines, with the time and the stream", 0, logs_options,
	  logs_params, "logs" },
	{ "run", proc_cmd_run, 0, "run [--detach] [--cwd DIR] [--env K=V]... "
	  "[--restart on-failure|always] <path> [args...]",
	  "Start a program (searched in PATH without a '/'); replies with "
	  "its pid", 0, run_options, run_params, "processes" },
	{ "close", cmd_close, 0, "close <pid|name> [all]",
	  "End a process (SIGTERM, then SIGKILL after close_timeout); "
	  "replies when it is gone", 0, NULL, close_params, "processes" },
	{ "list", proc_cmd_list, 0, "list [--limit N] [--offset N] "
	  "[all] [details]", "Running processes; 'all' adds ended ones, "
	  "'details' adds run time, scope, result and command; a page of "
	  "the newest",
	  0, list_options, list_params, "processes" },
	{ "start", program_cmd_start, 0, "start <name|all>...",
	  "Start configured programs; replies once they are up (or why "
	  "not); clears FATAL", 0, NULL, prog_params, "programs" },
	{ "stop", program_cmd_stop, 0, "stop <name|all>...",
	  "Stop configured programs (stop_signal, SIGKILL after "
	  "stop_timeout); replies once they are stopped", 0, NULL,
	  prog_params, "programs" },
	{ "restart", program_cmd_restart, 0, "restart <name|all>...",
	  "Stop, then start configured programs; replies once they are up",
	  0, NULL, prog_params, "programs" },
	{ "status", program_cmd_status, 0, "status [name|all]...",
	  "Configured programs: state, pid, uptime, restarts, last exit, "
	  "next retry", 0, NULL, status_params, "programs" },
	{ "why", program_cmd_why, 0, "why <name|pid>",
	  "The last runs of a program (by name, or the pid of one of its "
	  "runs): how each ended and what was decided",
	  0, NULL, why_params, "programs" },
};

/* The settings' defaults, then what [plugin:proc] says. */
static int
read_conf(struct procctl_plugin *self)
{
	static const char *const keys[] = { "close_timeout", "history",
	    "history_per_user", "list_page", "max_processes", "max_per_user", "output", "log_dir", "log_max",
	    "log_backups", "log_ring", "session_scope", "session_grace",
	    "umask", NULL };
	const char *v;
	char *end;
	unsigned long m;

	if (H->abi_minor >= 7)
		(void)H->config_keys(self, keys);
	proc_conf.close_timeout_ms = 5000;
	proc_conf.history_max = 1000;
	proc_conf.history_per_user = 0;
	proc_conf.list_page = 100;
	proc_conf.log_max = 10 * 1024 * 1024;
	proc_conf.log_backups = 5;
	proc_conf.log_ring = PROC_RING_DEFAULT;
	proc_conf.session_scope = 1;
	proc_conf.umask = 022;
	proc_conf.session_grace_ms = 30000;
	if ((v = H->config_get(self, "close_timeout")) != NULL &&
	    parse_seconds(v, &proc_conf.close_timeout_ms) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "close_timeout = %s: expected "
		    "seconds (0 to 86400)", v);
		return -1;
	}
	if ((v = H->config_get(self, "session_grace")) != NULL &&
	    parse_seconds(v, &proc_conf.session_grace_ms) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "session_grace = %s: expected "
		    "seconds (0 to 86400)", v);
		return -1;
	}
	if (((v = H->config_get(self, "history")) != NULL &&
	    parse_count(v, &proc_conf.history_max) == -1) ||
	    ((v = H->config_get(self, "history_per_user")) != NULL &&
	    parse_count(v, &proc_conf.history_per_user) == -1) ||
	    ((v = H->config_get(self, "list_page")) != NULL &&
	    parse_count(v, &proc_conf.list_page) == -1) ||
	    ((v = H->config_get(self, "max_processes")) != NULL &&
	    parse_count(v, &proc_conf.max_running) == -1) ||
	    ((v = H->config_get(self, "max_per_user")) != NULL &&
	    parse_count(v, &proc_conf.max_per_user) == -1)) {
		H->log(self, PROCCTL_LOG_ERROR, "%s: expected a count", v);
		return -1;
	}
	if ((v = H->config_get(self, "output")) != NULL &&
	    (proc_conf.output = proc_output_parse(v)) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "output = %s: expected ring, "
		    "file, journal, null or inherit", v);
		return -1;
	}
	if ((v = H->config_get(self, "log_dir")) != NULL && (v[0] != '/' ||
	    strlen(v) >= sizeof(proc_conf.log_dir))) {
		H->log(self, PROCCTL_LOG_ERROR, "log_dir = %s: expected an "
		    "absolute path", v);
		return -1;
	}
	if (v != NULL)
		snprintf(proc_conf.log_dir, sizeof(proc_conf.log_dir), "%s", v);
	if (proc_conf.output == OUTPUT_FILE && proc_conf.log_dir[0] == '\0') {
		H->log(self, PROCCTL_LOG_ERROR, "output = file needs log_dir");
		return -1;
	}
	if (((v = H->config_get(self, "log_max")) != NULL &&
	    parse_size(v, &proc_conf.log_max) == -1) ||
	    ((v = H->config_get(self, "log_backups")) != NULL &&
	    (parse_count(v, &proc_conf.log_backups) == -1 ||
	    proc_conf.log_backups > 99))) {
		H->log(self, PROCCTL_LOG_ERROR, "%s: expected a size (10M) or "
		    "a count of backups (0 to 99)", v);
		return -1;
	}
	if ((v = H->config_get(self, "log_ring")) != NULL &&
	    proc_ring_parse(v, &proc_conf.log_ring) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "log_ring = %s: expected a "
		    "size from 0 to 64M (64K, 1M)", v);
		return -1;
	}
	if ((v = H->config_get(self, "session_scope")) != NULL) {
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
			H->log(self, PROCCTL_LOG_ERROR, "session_scope = %s: "
			    "expected yes or no", v);
			return -1;
		}
		proc_conf.session_scope = strcmp(v, "yes") == 0;
	}
	if ((v = H->config_get(self, "umask")) != NULL) {
		m = strtoul(v, &end, 8);
		if (v[0] == '\0' || *end != '\0' || m > 0777) {
			H->log(self, PROCCTL_LOG_ERROR, "umask = %s: expected "
			    "an octal mask such as 022", v);
			return -1;
		}
		proc_conf.umask = (mode_t)m;
	}
	return 0;
}

static int
proc_init(struct procctl_plugin *self, const struct procctl_host *host)
{
	size_t i;

	H = host;
	proc_self = self;
	if (H->abi_minor < 7 || H->size < offsetof(struct procctl_host,
	    on_unfollow) + sizeof(H->on_unfollow)) {
		H->log(self, PROCCTL_LOG_ERROR, "this procctld is too old "
		    "for this plugin (plugin ABI %u.%u; 1.7 needed)",
		    H->abi_major, H->abi_minor);
		return -1;
	}
	if (read_conf(self) == -1)
		return PROCCTL_INIT_BAD_CONFIG;
	if (program_init() == -1) {
		progconf_free();	/* fini is not called for a refusal */
		return PROCCTL_INIT_BAD_CONFIG;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (H->register_command(self, &commands[i]) == -1)
			return -1;
	if (H->on_disconnect(self, on_disconnect, NULL) == -1 ||
	    H->on_session(self, on_session, NULL) == -1 ||
	    H->on_unfollow(self, on_unfollow, NULL) == -1)
		return -1;
	if (H->on_reload(self, program_reload, NULL) == -1 ||
	    H->on_adopt(self, handover_adopt, proc_on_exit, NULL) == -1 ||
	    H->on_notify(self, program_notify) == -1)
		return -1;
	if (H->abi_minor >= 9 && H->size >= offsetof(struct procctl_host,
	    on_metrics) + sizeof(H->on_metrics) &&
	    H->on_metrics(self, procmetrics_write, NULL) == -1)
		return -1;
	handover_restore();	/* a reload's: before the processes come */
	return 0;
}

/* Daemon shutdown: the monitor ends every process (each given
 * close_timeout after SIGTERM) once the server is gone; here only the
 * records and the requests still waiting go.  A reload (plugin reload
 * proc): the processes go on, and the records are handed to the next
 * instance first. */
static void
proc_fini(struct procctl_plugin *self)
{
	struct proc *p, *next;
	size_t i;

	handover_keep();
	handover_fini();
	proc_adopt_fini();
	logs_fini();
	adhoc_fini();
	program_fini();
	procmetrics_fini();
	for (p = procs; p != NULL; p = p->next) {
		if (p->kill_timer != 0)
			H->timer_cancel(self, p->kill_timer);
		if (p->start_ctx != NULL)
			H->finish(p->start_ctx);
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
	history_clear();
	proc_nrunning = 0;
}

PROCCTL_PLUGIN("proc", "0.1.0", "process control: run, close, list",
    proc_init, proc_fini);
