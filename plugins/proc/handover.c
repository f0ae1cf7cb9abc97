/*
 * `plugin reload proc`: what the old instance hands the new one, beyond
 * what the monitor's tags say.  The processes are the monitor's and are
 * handed over as after a server restart (on_adopt); proc_fini keeps
 * (host->keep), and proc_init restores, once the programs are read and
 * before the processes come:
 *   - every record as it was, in the order `list` shows them: the ended
 *     ones (the history), and the live ones with what their tag lacks
 *     (closing, forced, adopted, the whole command, times to the
 *     nanosecond); a record still waiting for its session to come back
 *     after a server restart is adopted from its tag again instead,
 *     with a fresh session_grace;
 *   - each program's lifecycle: state, restarts, failed starts, the runs
 *     `why` shows, FATAL's reason, what a pending timer has left; its
 *     current run is linked again when its process is handed over;
 *   - who procctld's own user is (the new instance starts after the
 *     server has dropped root).
 * A process handed over with no record here (one that was waiting for
 * its session, or all of them when nothing could be restored) is known
 * again from its tag alone (run.c).
 *
 * The format: the magic "PROCHAND", a version, then the sections;
 * integers little-endian of fixed widths, strings a 32-bit length and
 * the bytes.  They may come from another build of this plugin: a
 * version that is not ours is refused whole, and every count, length,
 * state and handle is checked against what is left and what it may be,
 * all of it before anything is applied.  A refusal restores nothing
 * (logged); the processes are then adopted from their tags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "program.h"

#define MAGIC		"PROCHAND"
#define VERSION		3
#define NFAILS		(sizeof(((struct program *)0)->fails) / \
			    sizeof(uint64_t))
/* The bytes of each item without its strings' bytes: what a count of
 * them must leave room for. */
#define RECORD_LEAST	112
#define RUN_LEAST	52
#define PROGRAM_LEAST	(80 + 8 * NFAILS)
#define TIMER_MAX	(86400000ULL * 366)	/* no duration is longer */
/* Failed starts in a row past this change nothing (backoff doubles to
 * its cap long before), and the doubling loop must stay short. */
#define CONSECUTIVE_MAX	64

/* ---- the records ---- */

/* Flags of a record. */
#define F_CONTAINED	0x001u
#define F_CLOSE_ON_START 0x002u
#define F_ONESHOT	0x004u
#define F_FORCED	0x008u
#define F_ADOPTED	0x010u
#define F_FOREIGN	0x020u
#define F_UNKNOWN	0x040u
#define F_CORE		0x080u
#define F_OOM		0x100u
#define F_READY		0x200u
#define F_CMD_CUT	0x400u	/* an older build knows nothing of it */

static void
put_record(struct bytes_out *w, const struct proc *p)
{
	bytes_put_u32(w, (uint32_t)p->state);
	bytes_put_u64(w, p->handle);
	bytes_put_u32(w, (uint32_t)p->pid);
	bytes_put_u32(w, (p->contained ? F_CONTAINED : 0) |
	    (p->close_on_start ? F_CLOSE_ON_START : 0) |
	    (p->oneshot ? F_ONESHOT : 0) | (p->forced ? F_FORCED : 0) |
	    (p->adopted ? F_ADOPTED : 0) | (p->foreign ? F_FOREIGN : 0) |
	    (p->unknown ? F_UNKNOWN : 0) | (p->core_dumped ? F_CORE : 0) |
	    (p->oom_killed ? F_OOM : 0) | (p->ready ? F_READY : 0) |
	    (p->command_cut ? F_CMD_CUT : 0));
	bytes_put_u32(w, (uint32_t)p->forced);
	bytes_put_u32(w, p->limits);
	bytes_put_str(w, p->closed_by, strlen(p->closed_by));
	bytes_put_str(w, p->name, p->name_len);
	bytes_put_str(w, p->command, p->command_len);
	bytes_put_u64(w, p->path_len);
	bytes_put_u32(w, (uint32_t)p->uid);
	bytes_put_str(w, p->owner, strlen(p->owner));
	bytes_put_u64(w, p->session);
	bytes_put_ts(w, &p->started);
	bytes_put_ts(w, &p->ended);
	bytes_put_u64(w, p->start_ms);
	bytes_put_u64(w, p->end_ms);
	bytes_put_u32(w, (uint32_t)p->exit_code);
	bytes_put_u32(w, (uint32_t)p->signal);
}

/* An older build kept whole commands: P's is cut as ours are now. */
static int
bound_command(struct proc *p)
{
	char *c;
	size_t len;
	int cut;

	if (p->command_len <= PROC_COMMAND_MAX)
		return 0;
	if ((c = proc_command_copy(p->command, p->command_len, &len,
	    &cut)) == NULL)
		return -1;
	free(p->command);
	p->command = c;
	p->command_len = len;
	p->command_cut = 1;
	if (p->path_len > len)
		p->path_len = len;
	return 0;
}

/* One record, checked; NULL once R is bad. */
static struct proc *
get_record(struct bytes_in *r)
{
	struct proc *p;
	uint32_t f;
	char *owner;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r->bad = 1;
		return NULL;
	}
	p->state = (enum proc_state)bytes_u32(r);
	p->handle = bytes_u64(r);
	p->pid = (pid_t)(int32_t)bytes_u32(r);
	f = bytes_u32(r);
	p->forced = (int)bytes_u32(r);
	p->limits = bytes_u32(r);
	bytes_text(r, p->closed_by, sizeof(p->closed_by));
	p->name = bytes_str(r, BYTES_STR_MAX, &p->name_len);
	p->command = bytes_str(r, BYTES_STR_MAX, &p->command_len);
	p->path_len = (size_t)bytes_u64(r);
	p->uid = (uid_t)bytes_u32(r);
	owner = bytes_str(r, sizeof(p->owner) - 1, NULL);
	snprintf(p->owner, sizeof(p->owner), "%s", owner ? owner : "");
	free(owner);
	p->session = bytes_u64(r);
	bytes_ts(r, &p->started);
	bytes_ts(r, &p->ended);
	p->start_ms = bytes_u64(r);
	p->end_ms = bytes_u64(r);
	p->exit_code = (int)(int32_t)bytes_u32(r);
	p->signal = (int)(int32_t)bytes_u32(r);
	p->contained = !!(f & F_CONTAINED);
	p->close_on_start = !!(f & F_CLOSE_ON_START);
	p->oneshot = !!(f & F_ONESHOT);
	p->oom_killed = !!(f & F_OOM);
	p->ready = !!(f & F_READY);
	if (p->forced > FORCED_STOP_TIMEOUT || !!(f & F_FORCED) !=
	    (p->forced != 0))
		r->bad = 1;
	p->adopted = !!(f & F_ADOPTED);
	p->foreign = !!(f & F_FOREIGN);
	p->unknown = !!(f & F_UNKNOWN);
	p->core_dumped = !!(f & F_CORE);
	p->command_cut = !!(f & F_CMD_CUT);
	if (p->command != NULL && p->path_len <= p->command_len &&
	    bound_command(p) == -1)
		r->bad = 1;
	if (p->state > PROC_KILLED || p->path_len > p->command_len ||
	    (p->state == PROC_STARTING) != (p->pid == 0) || p->pid < 0 ||
	    (proc_is_live(p) ? p->handle == 0 : p->end_ms < p->start_ms))
		r->bad = 1;
	if (r->bad) {
		proc_free(p);
		return NULL;
	}
	return p;
}

/* ---- the programs ---- */

/* A program's lifecycle as kept: the state members of a struct program
 * (name owned), and what the live one's pointers said. */
struct kprog {
	struct program	 st;
	char		*adhoc;		/* a `run --restart` one's definition:
					 * user, then adhoc_tag_put's words;
					 * NULL for a configured one */
	size_t		 adhoc_len;
	uint64_t	 timer_ms;	/* left on its timer; 0: none */
	uint64_t	 cur;		/* its current run's handle; 0: none */
};

#define P_STOP_ASKED	0x1u
#define P_WAITING	0x2u
#define P_STOP_WAITING	0x4u
#define P_RESTART	0x8u
#define P_READY_LATE	0x10u

/* G's runs, oldest first: at most RUNS_KEPT of them. */
static void
put_runs(struct bytes_out *w, const struct program *g)
{
	const struct run *run;
	uint64_t k = g->nruns < RUNS_KEPT ? g->nruns : RUNS_KEPT, i;

	bytes_put_u64(w, g->nruns);
	bytes_put_u32(w, (uint32_t)k);
	for (i = g->nruns - k; i < g->nruns; i++) {
		run = &g->runs[i % RUNS_KEPT];
		bytes_put_u32(w, (uint32_t)run->pid);
		bytes_put_u64(w, run->handle);
		bytes_put_ts(w, &run->start);
		bytes_put_ts(w, &run->end);
		bytes_put_u64(w, run->run_ms);
		bytes_put_str(w, run->how, strlen(run->how));
		bytes_put_str(w, run->decision, strlen(run->decision));
	}
}

/* A `run --restart` program is in no file: its definition goes over
 * with it (its user, then the words its runs' tags carry); "" for a
 * configured one. */
static void
put_adhoc(struct bytes_out *w, const struct program *g)
{
	char buf[PROC_TAG_MAX];
	size_t n;

	n = g->adhoc ? (size_t)snprintf(buf, sizeof(buf), "%u%c%s",
	    (unsigned)g->uid, 0, g->user) + 1 : 0;
	if (n > 0 && (n = adhoc_tag_put(g, buf, sizeof(buf), n)) >
	    sizeof(buf))
		n = 0;		/* too long for a tag: it was refused */
	bytes_put_str(w, buf, n);
}

/* K's program made again from its definition (it was a `run --restart`
 * one); NULL if the words make no sense. */
static struct program *
adhoc_again(const struct kprog *k)
{
	const char *f[PROC_TAG_MAX / 2], *t = k->adhoc, *end, *nul;
	size_t n = 0;

	if (k->adhoc == NULL || k->adhoc_len == 0)
		return NULL;
	end = t + k->adhoc_len;
	while (t < end && n < PROC_TAG_MAX / 2 &&
	    (nul = memchr(t, '\0', end - t)) != NULL) {
		f[n++] = t;
		t = nul + 1;
	}
	if (t != end || n < 3)
		return NULL;
	return adhoc_from_tag(k->st.name, f[1], (uid_t)strtoul(f[0], NULL,
	    10), f + 2, n - 2);
}

static void
put_program(struct bytes_out *w, const struct program *g)
{
	uint64_t now = proc_now_ms();
	size_t i;

	bytes_put_str(w, g->name, strlen(g->name));
	bytes_put_u32(w, (uint32_t)g->state);
	bytes_put_u32(w, g->restarts);
	bytes_put_u32(w, g->consecutive);
	bytes_put_u32(w, g->nfails);
	bytes_put_u32(w, (uint32_t)NFAILS);
	for (i = 0; i < NFAILS; i++)
		bytes_put_u64(w, g->fails[i]);
	bytes_put_u64(w, g->timer == 0 ? 0 : g->retry_at > now ? g->retry_at - now :
	    1);
	bytes_put_u32(w, (g->stop_asked ? P_STOP_ASKED : 0) |
	    (g->waiting ? P_WAITING : 0) |
	    (g->stop_waiting ? P_STOP_WAITING : 0) |
	    (g->restart_pending ? P_RESTART : 0) |
	    (g->ready_late ? P_READY_LATE : 0));
	bytes_put_str(w, g->why, strlen(g->why));
	bytes_put_str(w, g->stop_by, strlen(g->stop_by));
	bytes_put_str(w, g->said, strlen(g->said));
	bytes_put_u32(w, g->limits);
	put_adhoc(w, g);
	put_runs(w, g);
	bytes_put_u64(w, g->cur != NULL && g->cur->prog == g ? g->cur->handle : 0);
}

/* The runs into G's ring, as many of the newest as it holds. */
static void
get_runs(struct bytes_in *r, struct program *g)
{
	struct run run;
	uint64_t n = bytes_u64(r), i;
	uint32_t k = bytes_count(r, RUN_LEAST);

	if (k > n)
		r->bad = 1;
	for (i = 0; !r->bad && i < k; i++) {
		memset(&run, 0, sizeof(run));
		run.pid = (pid_t)(int32_t)bytes_u32(r);
		run.handle = bytes_u64(r);
		bytes_ts(r, &run.start);
		bytes_ts(r, &run.end);
		run.run_ms = bytes_u64(r);
		bytes_text(r, run.how, sizeof(run.how));
		bytes_text(r, run.decision, sizeof(run.decision));
		g->runs[(n - k + i) % RUNS_KEPT] = run;
	}
	g->nruns = (size_t)n;
}

static int
get_program(struct bytes_in *r, struct kprog *k)
{
	struct program *g = &k->st;
	uint32_t f, i;

	g->name = bytes_str(r, 256, NULL);
	g->state = (enum pstate)bytes_u32(r);
	g->restarts = bytes_u32(r);
	g->consecutive = bytes_u32(r);
	g->nfails = bytes_u32(r);
	if (bytes_u32(r) != NFAILS || g->state >= PS_MAX)
		r->bad = 1;
	for (i = 0; !r->bad && i < NFAILS; i++)
		g->fails[i] = bytes_u64(r);
	if (g->consecutive > CONSECUTIVE_MAX)
		g->consecutive = CONSECUTIVE_MAX;
	k->timer_ms = bytes_u64(r);
	if (k->timer_ms > TIMER_MAX)
		r->bad = 1;
	f = bytes_u32(r);
	g->stop_asked = !!(f & P_STOP_ASKED);
	g->waiting = !!(f & P_WAITING);
	g->stop_waiting = !!(f & P_STOP_WAITING);
	g->restart_pending = !!(f & P_RESTART);
	g->ready_late = !!(f & P_READY_LATE);
	bytes_text(r, g->why, sizeof(g->why));
	bytes_text(r, g->stop_by, sizeof(g->stop_by));
	bytes_text(r, g->said, sizeof(g->said));
	g->limits = bytes_u32(r);
	k->adhoc = bytes_str(r, BYTES_STR_MAX, &k->adhoc_len);
	get_runs(r, g);
	k->cur = bytes_u64(r);
	return r->bad ? -1 : 0;
}

/* ---- keeping ---- */

void
handover_keep(void)
{
	struct bytes_out w = { 0 };
	const struct proc *p, *last = NULL;
	const char *user;
	uid_t uid;
	gid_t gid;
	uint32_t n = 0;
	size_t i;

	bytes_put(&w, MAGIC, 8);
	bytes_put_u32(&w, VERSION);
	program_daemon_user(&uid, &gid, &user);
	bytes_put_u32(&w, (uint32_t)uid);
	bytes_put_u32(&w, (uint32_t)gid);
	bytes_put_str(&w, user, strlen(user));
	for (i = 0; i < nprograms; i++)
		n += !programs[i]->removed;
	bytes_put_u32(&w, n);
	for (i = 0; i < nprograms; i++)
		if (!programs[i]->removed)
			put_program(&w, programs[i]);
	/* Oldest first, as `list` shows them; one waiting for its session
	 * is adopted from its tag, with a new grace. */
	for (p = procs, n = 0; p != NULL; p = p->next) {
		last = p;
		n += !p->grace;
	}
	bytes_put_u32(&w, n);
	for (p = last; p != NULL; p = p->prev)
		if (!p->grace)
			put_record(&w, p);
	if (w.failed)
		H->log(proc_self, PROCCTL_LOG_ERROR, "out of memory to hand the "
		    "records over: the next instance knows the processes "
		    "from their tags only");
	else
		(void)H->keep(proc_self, w.p, w.len);
	free(w.p);
}

/* ---- restoring ---- */

/* A live record waiting for its process to be handed over. */
struct waiting {
	uint64_t	 handle;
	struct proc	*p;
	struct program	*prog;		/* a run in flight: its program */
	int		 listed;	/* in the list already (it had a pid) */
	int		 claimed;
};

static struct waiting *waits;		/* sorted by handle */
static size_t nwaits;
static uint64_t sweep_timer;

static int
by_handle(const void *a, const void *b)
{
	const struct waiting *x = a, *y = b;

	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

static struct waiting *
find_waiting(uint64_t handle)
{
	struct waiting key = { .handle = handle };

	return nwaits == 0 ? NULL : bsearch(&key, waits, nwaits,
	    sizeof(*waits), by_handle);
}

static int
by_end(const void *a, const void *b)
{
	const struct proc *x = *(struct proc *const *)a;
	const struct proc *y = *(struct proc *const *)b;

	if (x->end_ms != y->end_ms)
		return x->end_ms < y->end_ms ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* What was decoded, not yet applied. */
struct decoded {
	struct kprog	*progs;
	uint32_t	 nprogs;
	struct proc	**recs;		/* list order, oldest first */
	uint32_t	 nrecs;
	uid_t		 uid;
	gid_t		 gid;
	char		*user;
};

static void
decoded_free(struct decoded *d)
{
	uint32_t i;

	for (i = 0; d->progs != NULL && i < d->nprogs; i++) {
		free(d->progs[i].st.name);
		free(d->progs[i].adhoc);
	}
	for (i = 0; d->recs != NULL && i < d->nrecs; i++)
		if (d->recs[i] != NULL)
			proc_free(d->recs[i]);
	free(d->progs);
	free(d->recs);
	free(d->user);
}

/* The table of records still waiting for their process (those in the
 * list are freed with it). */
static void
waits_free(void)
{
	size_t i;

	for (i = 0; i < nwaits; i++)
		if (!waits[i].listed && !waits[i].claimed)
			proc_free(waits[i].p);
	free(waits);
	waits = NULL;
	nwaits = 0;
}

/* The waiting table of D's live records, checked: a handle twice is a
 * lie. */
static int
index_live(struct decoded *d)
{
	uint32_t i;

	if ((waits = calloc(d->nrecs + 1, sizeof(*waits))) == NULL)
		return -1;
	for (i = 0; i < d->nrecs; i++)
		if (proc_is_live(d->recs[i])) {
			waits[nwaits].handle = d->recs[i]->handle;
			waits[nwaits].p = d->recs[i];
			waits[nwaits++].listed = d->recs[i]->pid != 0;
		}
	qsort(waits, nwaits, sizeof(*waits), by_handle);
	for (i = 1; i < nwaits; i++)
		if (waits[i].handle == waits[i - 1].handle)
			return -1;
	return 0;
}

/* All of it, or -1 (D freed by the caller). */
static int
decode(struct bytes_in *r, struct decoded *d)
{
	uint32_t i;

	if (r->len < 12 || memcmp(r->p, MAGIC, 8) != 0)
		return -1;
	r->off = 8;
	if (bytes_u32(r) != VERSION)
		return -1;
	d->uid = (uid_t)bytes_u32(r);
	d->gid = (gid_t)bytes_u32(r);
	d->user = bytes_str(r, 63, NULL);
	d->nprogs = bytes_count(r, PROGRAM_LEAST);
	if (!r->bad && (d->progs = calloc(d->nprogs + 1,
	    sizeof(*d->progs))) == NULL)
		return -1;
	for (i = 0; !r->bad && i < d->nprogs; i++)
		(void)get_program(r, &d->progs[i]);
	d->nrecs = bytes_count(r, RECORD_LEAST);
	if (!r->bad && (d->recs = calloc(d->nrecs + 1,
	    sizeof(*d->recs))) == NULL)
		return -1;
	for (i = 0; !r->bad && i < d->nrecs; i++)
		d->recs[i] = get_record(r);
	if (r->bad || r->off != r->len)
		return -1;
	return index_live(d);
}

/* The lifecycles, on the programs this instance read from the file. */
static void
apply_programs(struct decoded *d)
{
	struct waiting *w;
	struct program *g, *k;
	uint32_t i;

	for (i = 0; i < d->nprogs; i++) {
		k = &d->progs[i].st;
		if ((g = program_find(k->name)) == NULL &&
		    (g = adhoc_again(&d->progs[i])) == NULL)
			continue;		/* not in the file now */
		g->stop_by[0] = '\0';
		strncat(g->stop_by, k->stop_by, sizeof(g->stop_by) - 1);
		memcpy(g->said, k->said, sizeof(g->said));
		g->limits = k->limits;
		g->ready_late = k->ready_late;
		g->restarts = k->restarts;
		g->consecutive = k->consecutive;
		g->nfails = k->nfails;
		memcpy(g->fails, k->fails, sizeof(g->fails));
		g->stop_asked = k->stop_asked;
		g->waiting = k->waiting;
		g->stop_waiting = k->stop_waiting;
		g->restart_pending = k->restart_pending;
		memcpy(g->why, k->why, sizeof(g->why));
		memcpy(g->runs, k->runs, sizeof(g->runs));
		g->nruns = k->nruns;
		program_resume(g, k->state, d->progs[i].timer_ms);
		if (d->progs[i].cur == 0 || g->cur != NULL ||
		    (w = find_waiting(d->progs[i].cur)) == NULL ||
		    w->prog != NULL || w->p->prog != NULL)
			continue;	/* none, or told twice: not trusted */
		if (!w->listed)
			w->prog = g;		/* linked once it has started */
		else {
			w->p->prog = g;
			g->cur = w->p;
		}
	}
}

/* The records, in their places; the ended ones in the order they ended. */
static void
apply_records(struct decoded *d)
{
	struct proc **ended;
	uint32_t i, n = 0;

	ended = calloc(d->nrecs + 1, sizeof(*ended));
	for (i = 0; i < d->nrecs; i++) {
		if (d->recs[i]->state == PROC_STARTING)
			continue;		/* listed once it has started */
		proc_insert(d->recs[i]);
		if (!proc_is_live(d->recs[i])) {
			if (ended != NULL)
				ended[n++] = d->recs[i];
			else
				proc_to_history(d->recs[i]);
		} else if (d->recs[i]->state == PROC_CLOSING)
			proc_resume_close(d->recs[i]);
	}
	if (ended != NULL) {
		qsort(ended, n, sizeof(*ended), by_end);
		for (i = 0; i < n; i++)
			proc_to_history(ended[i]);
	}
	free(ended);
	for (i = 0; i < d->nrecs; i++)	/* the list or the table has them */
		d->recs[i] = NULL;
}

static void sweep(void *arg);

void
handover_restore(void)
{
	struct decoded d;
	struct bytes_in r;
	size_t len;

	memset(&d, 0, sizeof(d));
	memset(&r, 0, sizeof(r));
	if ((r.p = H->kept(proc_self, &len)) == NULL)
		return;			/* a start, not a reload */
	r.len = len;
	if (decode(&r, &d) == -1) {
		H->log(proc_self, PROCCTL_LOG_WARN, "the records handed over "
		    "(%zu bytes) are not of this version or not whole; none is "
		    "restored: the processes are known from their tags only",
		    len);
		nwaits = 0;		/* its records are D's */
		waits_free();
		decoded_free(&d);
		return;
	}
	program_set_daemon_user(d.uid, d.gid, d.user != NULL ? d.user : "");
	apply_programs(&d);
	apply_records(&d);
	H->log(proc_self, PROCCTL_LOG_INFO, "handed over: %u record%s, %u "
	    "program%s", d.nrecs, d.nrecs == 1 ? "" : "s", d.nprogs,
	    d.nprogs == 1 ? "" : "s");
	d.nrecs = 0;			/* applied: the list has them */
	decoded_free(&d);
	sweep_timer = H->timer_add(proc_self, 0, sweep, NULL);
}

/*
 * The first loop turn after init: every process there was has been
 * offered (children_offer runs as init returns).  A record whose process
 * was not handed over is told ended, how being unknown; one that was
 * starting still waits for its exec.
 */
static void
sweep(void *arg)
{
	struct procctl_exit ex;
	struct proc *p;
	size_t i, k = 0;

	(void)arg;
	sweep_timer = 0;
	for (i = 0; i < nwaits; i++) {
		p = waits[i].p;
		if (!waits[i].listed && !waits[i].claimed)
			waits[k++] = waits[i];
		if (!waits[i].listed || waits[i].claimed)
			continue;
		H->log(proc_self, PROCCTL_LOG_WARN, "%d %s was not handed over "
		    "by the reload: how it ended is unknown", (int)p->pid,
		    p->name);
		memset(&ex, 0, sizeof(ex));
		ex.pid = p->pid;
		ex.code = -1;
		ex.unknown = 1;
		proc_on_exit(&ex, p);
	}
	nwaits = k;
}

/* A run that was starting when the old instance went: it runs now. */
static void *
adopt_started(struct waiting *w, const struct procctl_adopted *a)
{
	struct procctl_started st;
	struct proc *p = w->p;
	struct program *g = w->prog;

	w->claimed = 1;
	memset(&st, 0, sizeof(st));
	st.pid = a->pid;
	st.contained = a->contained;
	p->handle = a->handle;
	proc_started(p, &st);
	proc_insert(p);
	H->log(proc_self, PROCCTL_LOG_INFO, "%d %s started (asked for before "
	    "a reload)", (int)p->pid, p->name);
	proc_push_event(p, "started");
	if (g != NULL && g->cur == NULL && g->state == PS_STARTING &&
	    !g->waiting) {
		p->prog = g;
		g->cur = p;
		if (g->nruns > 0)
			g->runs[(g->nruns - 1) % RUNS_KEPT].pid = p->pid;
		program_resume(g, PS_STARTING, g->start_ms > 0 ? g->start_ms :
		    1);
	}
	if (p->close_on_start)
		proc_begin_close(p, "its session ended");
	return p;
}

/* host->on_adopt: a record handed over is the process's again; one
 * with none is known from its tag (run.c). */
void *
handover_adopt(const struct procctl_adopted *a, void *arg)
{
	struct waiting *w = find_waiting(a->handle);

	if (w == NULL || w->claimed)
		return proc_adopt(a, arg);
	if (!w->listed)
		return adopt_started(w, a);
	if (w->p->pid != a->pid) {
		H->log(proc_self, PROCCTL_LOG_WARN, "pid %d is not the %d "
		    "handed over with it: known from its tag", (int)a->pid,
		    (int)w->p->pid);
		return proc_adopt(a, arg);
	}
	w->claimed = 1;
	w->p->contained = a->contained;
	w->p->foreign = a->foreign;
	return w->p;
}

void
handover_fini(void)
{
	if (sweep_timer != 0)
		H->timer_cancel(proc_self, sweep_timer);
	sweep_timer = 0;
	waits_free();
}
