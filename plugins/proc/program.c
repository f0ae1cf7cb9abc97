/*
 * Configured programs: one lifecycle, written as a table of states and
 * events (s6-supervise's actions[state][event]).  A program's run is an
 * ordinary process record (run.c's kind: listed, closed and adopted
 * like any other); this file decides what happens around it: start,
 * when it counts as up (start_secs), whether and when to restart it
 * (restart, exit_codes, backoff), when to give up (start_limit: FATAL,
 * with the reason), and stopping.  Every transition is logged and
 * pushed as an event; `why` keeps the last runs.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "program.h"

enum pevent {
	PE_START,	/* start or restart asked */
	PE_STOP,	/* stop asked */
	PE_STARTED,	/* the exec worked */
	PE_FAILED,	/* the exec did not */
	PE_UP,		/* start_secs have passed: it is started */
	PE_EXIT,	/* the run has ended (its whole tree) */
	PE_TIMER,	/* backoff over, the stop or the start timeout */
	PE_READY,	/* it said it is ready (ready = notify, fd:N) */
	PE_MAX
};

static uid_t daemon_uid;
static gid_t daemon_gid;
static char daemon_user[64];
static uint64_t autostart_timer;

static const char *state_names[PS_MAX] = {
	"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED",
	"FATAL"
};

const char *
program_state_name(enum pstate s)
{
	return s < PS_MAX ? state_names[s] : "?";
}

static void step(struct program *g, enum pevent ev, const char *info);
static void a_to_stopped_now(struct program *, const char *);

/* ---- waiters ---- */

void
program_reply(struct pwaiter *w)
{
	size_t i;

	if (w->err[0] != '\0')
		H->reply_error(w->ctx, "ERR", "%s", w->err);
	else {
		if (w->n > 1)
			H->reply_array(w->ctx, w->n);
		for (i = 0; i < w->n; i++)
			reply_status(w->ctx, w->progs[i]);
	}
	H->finish(w->ctx);
	for (i = 0; i < w->n; i++) {
		w->progs[i]->pins--;
		adhoc_settled(w->progs[i]);	/* may go now */
	}
	free(w->progs);
	free(w);
}

/* G is done with waiter I (FAILED: why not). */
static void
resolve(struct program *g, size_t i, const char *failed)
{
	struct pwaiter *w = g->waiters[i].w;

	g->waiters[i] = g->waiters[--g->nwaiters];
	if (failed != NULL && w->err[0] == '\0')
		snprintf(w->err, sizeof(w->err), "%s: %s", g->name, failed);
	if (--w->remaining == 0)
		program_reply(w);
}

/* After a transition: whoever waited for this state hears of it. */
static void
notify(struct program *g)
{
	struct pref *r;
	size_t i = 0;

	while (i < g->nwaiters) {
		r = &g->waiters[i];
		if (r->op == OP_START && g->state == PS_RUNNING)
			resolve(g, i, NULL);
		else if (r->op == OP_START && g->state == PS_FATAL)
			resolve(g, i, g->why);
		else if (r->op == OP_START && g->state == PS_STOPPED)
			resolve(g, i, "stopped before it was up");
		else if (r->op == OP_STOP && (g->state == PS_STOPPED ||
		    g->state == PS_EXITED || g->state == PS_FATAL))
			resolve(g, i, NULL);
		else if (r->op == OP_RESTART && (g->state == PS_STOPPED ||
		    g->state == PS_EXITED || g->state == PS_FATAL)) {
			r->op = OP_START;	/* this program's second half */
			step(g, PE_START, "restart");
			return;			/* step notified again */
		} else
			i++;
	}
}

/* ---- transitions ---- */

static void
push_transition(const struct program *g, enum pstate from, const char *why)
{
	struct procctl_ctx *ev;
	char text[512];

	if ((ev = H->push_begin(proc_self, g->user ? g->uid : daemon_uid)) ==
	    NULL)
		return;
	H->reply_array(ev, 3);
	H->reply_str(ev, "event");
	H->reply_str(ev, "program");
	snprintf(text, sizeof(text), "%s %s \u2192 %s (%s)", g->name,
	    program_state_name(from), program_state_name(g->state), why);
	H->reply_map(ev, 6);
	H->reply_str(ev, "name");
	H->reply_str(ev, g->name);
	H->reply_str(ev, "from");
	H->reply_str(ev, program_state_name(from));
	H->reply_str(ev, "to");
	H->reply_str(ev, program_state_name(g->state));
	H->reply_str(ev, "pid");
	if (g->cur != NULL && g->cur->pid > 0)
		H->reply_int(ev, g->cur->pid);
	else
		H->reply_null(ev);
	H->reply_str(ev, "reason");
	H->reply_str(ev, why);
	H->reply_str(ev, "text");	/* how a client shows it: one line */
	H->reply_str(ev, text);
	H->push_end(ev);
}

static int in_deps;	/* deps_changed() is running: not again, */
static int deps_again;	/* but once more after it */
static void deps_changed(void);

static void
set_state(struct program *g, enum pstate to, const char *why)
{
	enum pstate from = g->state;

	g->state = to;
	H->log(proc_self, to == PS_FATAL ? PROCCTL_LOG_WARN : PROCCTL_LOG_INFO,
	    "program %s: %s -> %s (%s)", g->name, program_state_name(from),
	    program_state_name(to), why);
	push_transition(g, from, why);
	notify(g);
	adhoc_settled(g);
	/* A reload changed it while it ran: it comes back with the new
	 * settings (a removed one does not). */
	if (g->restart_pending && (to == PS_STOPPED || to == PS_EXITED ||
	    to == PS_FATAL)) {
		g->restart_pending = 0;
		if (!g->removed)
			step(g, PE_START, "reloaded");
	}
	/* Others may wait on this one: look again until nothing moves. */
	if (in_deps) {
		deps_again = 1;
		return;
	}
	in_deps = 1;
	do {
		deps_again = 0;
		deps_changed();
	} while (deps_again);
	in_deps = 0;
}

static void
cancel_timer(struct program *g)
{
	if (g->timer != 0)
		H->timer_cancel(proc_self, g->timer);
	g->timer = 0;
	g->retry_at = 0;
}

static void
on_timer(void *arg)
{
	struct program *g = arg;

	g->timer = 0;
	step(g, g->state == PS_STARTING && g->ready == PROCCTL_READY_NONE ?
	    PE_UP : PE_TIMER, "timer");
}

static void
arm(struct program *g, uint64_t ms)
{
	cancel_timer(g);
	g->timer = H->timer_add(proc_self, ms, on_timer, g);
	g->retry_at = proc_now_ms() + ms;
}

static void
started_cb(const struct procctl_started *st, void *arg)
{
	struct proc *p = arg;
	struct program *g = p->prog;
	char why[200];

	if (st->error != 0) {
		snprintf(why, sizeof(why), "cannot run %.120s%s: %s", g->argv[0],
		    strlen(g->argv[0]) > 120 ? "..." : "", strerror(st->error));
		g->cur = NULL;
		proc_forget(p);
		if (g->run_ctx != NULL) {	/* `run --restart`: as `run` */
			adhoc_started(g, 0, strerror(st->error));
			a_to_stopped_now(g, why);
			return;
		}
		step(g, PE_FAILED, why);
		return;
	}
	proc_started(p, st);
	proc_output_setup(p, g->output, g->log_ring, g->adhoc);
	g->limits = p->limits;
	adhoc_started(g, p->pid, NULL);
	if (g->nruns > 0) {
		g->runs[(g->nruns - 1) % RUNS_KEPT].pid = p->pid;
		g->runs[(g->nruns - 1) % RUNS_KEPT].handle = p->handle;
	}
	proc_push_event(p, "started");
	step(g, PE_STARTED, "started");
}

/* What a run says on NOTIFY_SOCKET or its fd: ready, a status line
 * (ARG its record; also for a run handed over by on_adopt). */
void
program_notify(const struct procctl_notify *n, void *arg)
{
	struct proc *p = arg;
	struct program *g = p->prog;

	if (g == NULL || g->cur != p)
		return;
	if (n->status != NULL)
		snprintf(g->said, sizeof(g->said), "%s", n->status);
	/* Too late once start_timeout has fired: it is being stopped, and
	 * its end is a failed start whatever it says now. */
	if (n->ready && !p->ready && !g->ready_late) {
		p->ready = 1;
		step(g, PE_READY, g->ready == PROCCTL_READY_FD ?
		    "ready (a newline on its fd)" : "ready (READY=1)");
	}
}

/* A record for a run of G, asked of the monitor. */
static int
spawn_run(struct program *g)
{
	struct procctl_spawn spec;
	char tag[PROC_TAG_MAX];
	struct proc *p;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->name = strdup(g->name)) == NULL ||
	    (p->command = proc_command_copy(g->command, strlen(g->command),
	    &p->command_len, &p->command_cut)) == NULL) {
		if (p != NULL)
			proc_free(p);
		return -1;
	}
	p->name_len = strlen(p->name);
	p->path_len = strlen(g->argv[0]);
	if (p->path_len > p->command_len)
		p->path_len = p->command_len;
	p->uid = g->user ? g->uid : daemon_uid;
	snprintf(p->owner, sizeof(p->owner), "%s", g->user ? g->user :
	    daemon_user);
	p->state = PROC_STARTING;
	p->prog = g;
	memset(&spec, 0, sizeof(spec));
	spec.size = sizeof(spec);
	spec.argv = g->argv;
	spec.env = g->env;
	spec.cwd = g->directory;
	spec.uid = p->uid;
	spec.gid = g->user ? g->gid : daemon_gid;
	spec.user = p->owner;
	spec.umask = g->umask;
	spec.flags = proc_output_flags(g->output);
	spec.stop_ms = g->stop_ms > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)g->stop_ms;
	spec.tag = tag;
	spec.tag_len = proc_tag(p, tag, sizeof(tag));
	spec.ready = g->ready;
	spec.ready_fd = g->ready_fd;
	spec.notify = g->ready != PROCCTL_READY_NONE ? program_notify : NULL;
	spec.memory_max = g->memory_max;
	spec.pids_max = g->pids_max;
	spec.nofile = g->nofile;
	if ((p->handle = H->spawn(proc_self, &spec, started_cb, proc_on_exit,
	    p)) == 0) {
		proc_free(p);
		return -1;
	}
	proc_insert(p);
	g->cur = p;
	g->stop_asked = 0;
	g->stop_by[0] = '\0';
	g->ready_late = 0;
	g->said[0] = '\0';
	return 0;
}

/* The next delay: backoff_min doubled per failed start in a row, capped,
 * with 10 % jitter either way (many programs failing together do not
 * come back together). */
static uint64_t
next_delay(const struct program *g)
{
	uint64_t d = g->backoff_min_ms;
	unsigned i;

	for (i = 1; i < g->consecutive && d < g->backoff_max_ms; i++)
		d *= 2;
	if (d > g->backoff_max_ms)
		d = g->backoff_max_ms;
	return d - d / 10 + (uint64_t)random() % (d / 5 + 1);
}

/* Failed starts within the window, this one counted. */
static unsigned
recent_failures(struct program *g)
{
	uint64_t now = proc_now_ms();
	unsigned i, n = 0, kept = g->nfails < 32 ? g->nfails : 32;

	g->fails[g->nfails++ % 32] = now;
	kept = g->nfails < 32 ? g->nfails : 32;
	for (i = 0; i < kept; i++)
		if (now - g->fails[i] <= g->limit_window_ms)
			n++;
	return n;
}

static struct run *
last_run(struct program *g)
{
	return g->nruns > 0 ? &g->runs[(g->nruns - 1) % RUNS_KEPT] : NULL;
}

/* A run begins (its record, for `why`). */
static void
run_begin(struct program *g)
{
	struct run *r = &g->runs[g->nruns++ % RUNS_KEPT];

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_REALTIME, &r->start);
}

/* ---- actions ---- */

static void deps_changed(void);
static int depends_on(const struct program *, const struct program *);
static void signal_stop(struct program *, const char *);
static void a_to_stopped_now(struct program *, const char *);

/* What G still waits for before it may start: a required program not
 * RUNNING (started here if it is idle), or one it comes after that is
 * starting.  NULL when nothing; *FAILED when a required one is FATAL. */
static struct program *
pending_dep(struct program *g, int *failed)
{
	struct program *r;
	size_t i;

	*failed = 0;
	for (i = 0; i < g->nrequires; i++) {
		r = g->requires[i];
		if (r->state == PS_RUNNING)
			continue;
		if (r->state == PS_FATAL) {
			*failed = 1;
			return r;
		}
		if (r->state != PS_STARTING && r->state != PS_BACKOFF)
			step(r, PE_START, "required by another program");
		return r;
	}
	for (i = 0; i < g->nafter; i++)
		if (g->after[i]->state == PS_STARTING ||
		    g->after[i]->state == PS_BACKOFF)
			return g->after[i];
	return NULL;
}

static void a_spawn_now(struct program *g, const char *info);

/* Start, once what it requires is up (and what it comes after is). */
static void
a_spawn(struct program *g, const char *info)
{
	struct program *r;
	char why[320];
	int failed;

	cancel_timer(g);
	if ((r = pending_dep(g, &failed)) == NULL) {
		a_spawn_now(g, info);
		return;
	}
	if (failed) {
		snprintf(g->why, sizeof(g->why), "requires %s, which is FATAL",
		    r->name);
		set_state(g, PS_FATAL, g->why);
		return;
	}
	g->waiting = 1;
	snprintf(why, sizeof(why), "%s; waiting for %s", info, r->name);
	set_state(g, PS_STARTING, why);
}

/* Programs waiting on others: the others have moved. */
static void
deps_changed(void)
{
	struct program *g, *r;
	char why[320];
	size_t i, k;
	int failed, busy;

	for (i = 0; i < nprograms; i++) {
		g = programs[i];
		if (g->waiting && g->state == PS_STARTING) {
			r = pending_dep(g, &failed);
			if (r == NULL) {
				g->waiting = 0;
				a_spawn_now(g, "what it waits for is up");
			} else if (failed) {
				g->waiting = 0;
				snprintf(g->why, sizeof(g->why), "requires %s, "
				    "which is FATAL", r->name);
				set_state(g, PS_FATAL, g->why);
			}
		}
		if (!g->stop_waiting || g->state != PS_STOPPING)
			continue;
		/* A dependent with no process (waiting for this very
		 * one to come back) holds nothing up. */
		for (k = 0, busy = 0; k < nprograms; k++)
			busy |= depends_on(programs[k], g) &&
			    programs[k]->state != PS_STOPPED &&
			    programs[k]->state != PS_EXITED &&
			    programs[k]->state != PS_FATAL &&
			    !programs[k]->waiting;
		if (!busy) {
			g->stop_waiting = 0;
			snprintf(why, sizeof(why), "its dependents have "
			    "stopped");
			signal_stop(g, why);
		}
	}
}

static void
a_spawn_now(struct program *g, const char *info)
{
	g->waiting = 0;
	cancel_timer(g);
	if (spawn_run(g) == -1) {
		snprintf(g->why, sizeof(g->why), "cannot reach the monitor to "
		    "start it");
		set_state(g, PS_FATAL, g->why);
		return;
	}
	run_begin(g);
	set_state(g, PS_STARTING, info);
}

static void
a_clear_spawn(struct program *g, const char *info)
{
	g->consecutive = 0;
	g->nfails = 0;
	g->why[0] = '\0';
	a_spawn(g, info);
}

static void a_up(struct program *, const char *);

/* The exec worked: up after start_secs (at once when that is 0, before
 * the exit of a program that does its work and ends can count as a
 * failed start), or once it says it is ready, within start_timeout. */
static void
a_arm_up(struct program *g, const char *info)
{
	if (g->ready != PROCCTL_READY_NONE)
		arm(g, g->ready_ms);
	else if (g->start_ms == 0)
		a_up(g, info);
	else
		arm(g, g->start_ms);
}

static void
a_up(struct program *g, const char *info)
{
	char why[96];

	cancel_timer(g);
	g->consecutive = 0;
	if (g->ready != PROCCTL_READY_NONE)
		snprintf(why, sizeof(why), "%s", info);
	else
		snprintf(why, sizeof(why), "up for %llu ms (start_secs)",
		    (unsigned long long)g->start_ms);
	set_state(g, PS_RUNNING, why);
}

static void a_kill(struct program *, const char *);

/* Not ready within start_timeout: stopped (stop_signal, then SIGKILL
 * after stop_timeout), and its end counts as a failed start. */
static void
a_not_ready(struct program *g, const char *info)
{
	if (g->ready_late) {
		a_kill(g, info);
		return;
	}
	g->ready_late = 1;
	H->log(proc_self, PROCCTL_LOG_WARN, "program %s: not ready within "
	    "%llu ms (start_timeout): stopping it", g->name,
	    (unsigned long long)g->ready_ms);
	if (g->cur != NULL && g->cur->state == PROC_RUNNING) {
		H->signal(proc_self, g->cur->handle, g->stop_signal,
		    PROCCTL_SIGNAL_TREE);
		arm(g, g->stop_ms);
	}
}

/* The run ended (or never began) too soon: retry after a backoff, or
 * give up when the start limit is passed. */
static void
a_failed_start(struct program *g, const char *info)
{
	struct run *r = last_run(g);
	char why[320];
	uint64_t d;

	cancel_timer(g);
	g->consecutive++;
	if (r != NULL && r->how[0] == '\0')
		snprintf(r->how, sizeof(r->how), "%s", info);
	/* Within the window, or in a row: a run that takes longer than the
	 * window to fail (a start_timeout of 90 s, say) would never pass
	 * the first, and `start` would wait for ever. */
	if (recent_failures(g) > g->limit_starts) {
		snprintf(g->why, sizeof(g->why), "%s; %u failed starts within "
		    "%llu s (start_limit): given up", info, g->limit_starts + 1,
		    (unsigned long long)(g->limit_window_ms / 1000));
		if (r != NULL)
			snprintf(r->decision, sizeof(r->decision), "FATAL: "
			    "start_limit");
		set_state(g, PS_FATAL, g->why);
		return;
	}
	if (g->consecutive > g->limit_starts) {
		snprintf(g->why, sizeof(g->why), "%s; %u failed starts in a "
		    "row (start_limit): given up", info, g->consecutive);
		if (r != NULL)
			snprintf(r->decision, sizeof(r->decision), "FATAL: "
			    "start_limit");
		set_state(g, PS_FATAL, g->why);
		return;
	}
	d = next_delay(g);
	arm(g, d);
	g->restarts++;
	procmetrics_restart(g);
	snprintf(why, sizeof(why), "%s; restart in %.1f s", info, d / 1000.0);
	if (r != NULL)
		snprintf(r->decision, sizeof(r->decision), "restart in %.1f s",
		    d / 1000.0);
	set_state(g, PS_BACKOFF, why);
}

static int
succeeded(const struct program *g, const struct proc *p)
{
	size_t i;

	if (p == NULL || p->state != PROC_EXITED || p->unknown)
		return p != NULL && p->unknown;	/* unknown: not a failure */
	for (i = 0; i < g->nexit_codes; i++)
		if (p->exit_code == g->exit_codes[i])
			return 1;
	return 0;
}

/* A run that was up has ended on its own: restart or not, as the policy
 * says. */
static void
a_exited(struct program *g, const char *info)
{
	struct run *r = last_run(g);
	int ok = succeeded(g, g->cur);
	char why[320];
	uint64_t d;

	/* Ready, but gone within start_secs: as a failed start (a crash
	 * loop that says READY=1 each time still ends FATAL). */
	if (g->ready != PROCCTL_READY_NONE && !ok && g->cur != NULL &&
	    proc_run_ms(g->cur) < g->start_ms) {
		g->cur = NULL;
		a_failed_start(g, info);
		return;
	}
	g->cur = NULL;
	if (g->restart == RESTART_ALWAYS ||
	    (g->restart == RESTART_ON_FAILURE && !ok)) {
		g->consecutive = 1;
		d = next_delay(g);
		arm(g, d);
		g->restarts++;
		procmetrics_restart(g);
		snprintf(why, sizeof(why), "%s; restart in %.1f s", info,
		    d / 1000.0);
		if (r != NULL)
			snprintf(r->decision, sizeof(r->decision), "restart "
			    "in %.1f s", d / 1000.0);
		set_state(g, PS_BACKOFF, why);
		return;
	}
	snprintf(g->why, sizeof(g->why), "%s", info);
	if (r != NULL)
		snprintf(r->decision, sizeof(r->decision), "not restarted "
		    "(restart = %s)", g->restart == RESTART_NO ? "no" :
		    "on-failure");
	set_state(g, PS_EXITED, info);
}

/* D requires G. */
static int
depends_on(const struct program *d, const struct program *g)
{
	size_t i;

	for (i = 0; i < d->nrequires; i++)
		if (d->requires[i] == g)
			return 1;
	return 0;
}

/* The stop signal to G's run now (its dependents are down). */
static void
signal_stop(struct program *g, const char *why)
{
	(void)why;
	if (g->cur != NULL && g->cur->state == PROC_RUNNING) {
		H->signal(proc_self, g->cur->handle, g->stop_signal,
		    PROCCTL_SIGNAL_TREE);
		arm(g, g->stop_ms);
	} else if (g->cur == NULL)
		a_to_stopped_now(g, "stopped (it had no process)");
}

/* Is G stopping only to start again (restart, a reload's change)? */
static int
restarting(const struct program *g)
{
	size_t i;

	for (i = 0; i < g->nwaiters; i++)
		if (g->waiters[i].op == OP_RESTART)
			return 1;
	return g->restart_pending;
}

/* Stop: what requires it stops first, then it. */
static void
a_stop(struct program *g, const char *info)
{
	size_t i;
	int waiting = 0;

	(void)info;
	cancel_timer(g);
	g->stop_asked = 1;
	if (g->waiting) {		/* never spawned */
		g->waiting = 0;
		a_to_stopped_now(g, "stop asked before it started");
		return;
	}
	for (i = 0; i < nprograms; i++)
		if (depends_on(programs[i], g) &&
		    programs[i]->state != PS_STOPPED &&
		    programs[i]->state != PS_EXITED &&
		    programs[i]->state != PS_FATAL) {
			/* A restart of what it requires brings it back. */
			if (restarting(g))
				programs[i]->restart_pending = 1;
			snprintf(programs[i]->stop_by,
			    sizeof(programs[i]->stop_by), "%s stopping",
			    g->name);
			step(programs[i], PE_STOP, "what it requires stops");
			waiting = 1;
		}
	g->stop_waiting = waiting;
	set_state(g, PS_STOPPING, waiting ? "stop asked; its dependents "
	    "stop first" : "stop asked");
	if (!waiting && g->state == PS_STOPPING)
		signal_stop(g, "stop asked");
}

static void
a_kill(struct program *g, const char *info)
{
	(void)info;
	if (g->cur != NULL) {
		H->log(proc_self, PROCCTL_LOG_WARN, "program %s did not stop "
		    "within %llu ms of %s: SIGKILL", g->name,
		    (unsigned long long)g->stop_ms, sigabbrev_np(g->stop_signal));
		g->cur->forced = FORCED_STOP_TIMEOUT;
		H->signal(proc_self, g->cur->handle, SIGKILL,
		    PROCCTL_SIGNAL_KILL);
	}
}

static void
a_stopped(struct program *g, const char *info)
{
	struct run *r = last_run(g);

	cancel_timer(g);
	g->cur = NULL;
	if (r != NULL)
		snprintf(r->decision, sizeof(r->decision), "stopped (asked)");
	set_state(g, PS_STOPPED, info);
}

static void
a_to_stopped(struct program *g, const char *info)
{
	cancel_timer(g);
	set_state(g, PS_STOPPED, info);
}

static void
a_to_stopped_now(struct program *g, const char *info)
{
	g->stop_waiting = 0;
	a_to_stopped(g, info);
}

/* Nothing to do but tell whoever waits that it is so already. */
static void
a_same(struct program *g, const char *info)
{
	(void)info;
	notify(g);
}

static void
a_ignore(struct program *g, const char *info)
{
	(void)g;
	(void)info;
}

typedef void (*action_fn)(struct program *, const char *);

/* What each event does in each state: the whole lifecycle. */
static const action_fn actions[PS_MAX][PE_MAX] = {
	[PS_STOPPED] = {
		[PE_START] = a_spawn, [PE_STOP] = a_same,
	},
	[PS_STARTING] = {
		[PE_START] = a_same, [PE_STOP] = a_stop,
		[PE_STARTED] = a_arm_up, [PE_FAILED] = a_failed_start,
		[PE_UP] = a_up, [PE_EXIT] = a_failed_start,
		[PE_TIMER] = a_not_ready, [PE_READY] = a_up,
	},
	[PS_RUNNING] = {
		[PE_START] = a_same, [PE_STOP] = a_stop, [PE_EXIT] = a_exited,
	},
	[PS_BACKOFF] = {
		[PE_START] = a_spawn, [PE_STOP] = a_to_stopped,
		[PE_TIMER] = a_spawn,
	},
	[PS_STOPPING] = {
		[PE_START] = a_same, [PE_STOP] = a_same,
		[PE_FAILED] = a_stopped, [PE_EXIT] = a_stopped,
		[PE_TIMER] = a_kill,
	},
	[PS_EXITED] = {
		[PE_START] = a_spawn, [PE_STOP] = a_same,
	},
	[PS_FATAL] = {
		[PE_START] = a_clear_spawn, [PE_STOP] = a_to_stopped,
	},
};

static void
step(struct program *g, enum pevent ev, const char *info)
{
	action_fn fn = actions[g->state][ev];

	(fn != NULL ? fn : a_ignore)(g, info);
}

void
program_act(struct program *g, int op, const char *by)
{
	if (op != OP_START)
		snprintf(g->stop_by, sizeof(g->stop_by), "%s", by);
	step(g, op == OP_START ? PE_START : PE_STOP, op == OP_START ?
	    "start asked" : op == OP_STOP ? "stop asked" : "restart asked");
}

/* ---- the process records' side ---- */

/* G's run P has ended, its whole tree with it (proc_on_exit). */
void
program_on_exit(struct proc *p)
{
	struct program *g = p->prog;
	char how[PROC_HOW_MAX], by[96] = "", full[400];
	struct run *r;

	p->prog = NULL;
	if (g == NULL || g->cur != p)
		return;
	proc_describe_end(p, how, sizeof(how));
	if (g->stop_asked)
		snprintf(by, sizeof(by), " (stopped by %s)", g->stop_by[0] ?
		    g->stop_by : "request");
	snprintf(full, sizeof(full), "%s%s%s", how, g->ready_late ?
	    " (not ready within start_timeout)" : "", by);
	if ((r = last_run(g)) != NULL) {
		r->end = p->ended;
		r->run_ms = proc_run_ms(p);
		snprintf(r->how, sizeof(r->how), "%s", full);
	}
	step(g, PE_EXIT, full);
	if (g->cur == p)
		g->cur = NULL;
}

/* A run of NAME adopted after a server restart: it is running. */
void *
program_adopt(struct proc *p, const char *name)
{
	struct program *g = program_find(name);

	if (g == NULL || g->cur != NULL)
		return p;		/* an ad hoc record from now on */
	p->prog = g;
	p->ready = 1;		/* it was up: taken as ready */
	proc_output_setup(p, g->output, g->log_ring, g->adhoc);
	g->cur = p;
	run_begin(g);
	last_run(g)->start = p->started;
	last_run(g)->pid = p->pid;
	last_run(g)->handle = p->handle;
	g->state = PS_RUNNING;
	H->log(proc_self, PROCCTL_LOG_INFO, "program %s: adopted running "
	    "(pid %d)", g->name, (int)p->pid);
	return p;
}

static void
autostart(void *arg)
{
	size_t i;

	(void)arg;
	autostart_timer = 0;
	for (i = 0; i < nprograms; i++)
		if (programs[i]->autostart && !programs[i]->removed &&
		    programs[i]->state == PS_STOPPED)
			step(programs[i], PE_START, "autostart");
}

/* Read [program:*]; programs autostart once the loop runs (after the
 * monitor has told us what already runs). */
int
program_init(void)
{
	struct passwd *pw;

	daemon_uid = geteuid();		/* before the server drops root */
	daemon_gid = getegid();
	pw = getpwuid(daemon_uid);
	snprintf(daemon_user, sizeof(daemon_user), "%s", pw ? pw->pw_name :
	    "root");
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (progconf_load() == -1 || progconf_link() == -1)
		return -1;
	if (nprograms > 0)
		autostart_timer = H->timer_add(proc_self, 0, autostart, NULL);
	return 0;
}

void
program_fini(void)
{
	size_t i, j;

	if (autostart_timer != 0)
		H->timer_cancel(proc_self, autostart_timer);
	autostart_timer = 0;
	for (i = 0; i < nprograms; i++) {
		cancel_timer(programs[i]);
		/* Their clients are gone: finish without a word. */
		for (j = 0; j < programs[i]->nwaiters; j++)
			if (--programs[i]->waiters[j].w->remaining == 0) {
				H->finish(programs[i]->waiters[j].w->ctx);
				free(programs[i]->waiters[j].w->progs);
				free(programs[i]->waiters[j].w);
			}
		programs[i]->nwaiters = 0;
	}
	progconf_free();
}

/* ---- a plugin reload (handover.c) ---- */

void
program_resume(struct program *g, enum pstate s, uint64_t ms)
{
	g->state = s;
	if (ms > 0)
		arm(g, ms);
	if (autostart_timer != 0)	/* a reload is not a start */
		H->timer_cancel(proc_self, autostart_timer);
	autostart_timer = 0;
}

void
program_daemon_user(uid_t *uid, gid_t *gid, const char **user)
{
	*uid = daemon_uid;
	*gid = daemon_gid;
	*user = daemon_user;
}

void
program_set_daemon_user(uid_t uid, gid_t gid, const char *user)
{
	daemon_uid = uid;
	daemon_gid = gid;
	snprintf(daemon_user, sizeof(daemon_user), "%s", user);
}
