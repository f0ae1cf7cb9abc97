/*
 * The commands on configured programs: start, stop, restart (each
 * answered when the action is done: up, or stopped; or with why not),
 * status, and why (the last runs, and what was decided after each).
 * NAME is a program or `all`.  Who may: admins, and the user a program
 * runs as.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "program.h"

/* Admins, the user it runs as, and its owners (users, @groups: the
 * caller's supplementary groups as its passwd entry has them). */
static int
may(const struct procctl_caller *who, const struct program *g)
{
	gid_t groups[256];
	int ng = 256, k;
	size_t i;

	if (g->removed)
		return 0;		/* gone from the file */
	if (who->admin || (g->user != NULL && who->uid == g->uid))
		return 1;
	for (i = 0; i < g->nowner_uids; i++)
		if (g->owner_uids[i] == who->uid)
			return 1;
	if (g->nowner_gids == 0)
		return 0;
	if (getgrouplist(who->user, who->gid, groups, &ng) == -1)
		ng = 1, groups[0] = who->gid;
	for (i = 0; i < g->nowner_gids; i++)
		for (k = 0; k < ng; k++)
			if (groups[k] == g->owner_gids[i])
				return 1;
	return 0;
}

/* The programs ARGV names (`all`: every one), or NULL after a reply. */
static struct program **
resolve_names(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv, size_t *n)
{
	const struct procctl_caller *who = H->caller(ctx);
	struct program **v, *g;
	size_t i, k = 0, before;
	int a;

	if ((v = calloc(nprograms * (size_t)argc + 1, sizeof(*v))) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return NULL;
	}
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a].ptr, "all") == 0) {
			for (i = 0; i < nprograms; i++)
				if (may(who, programs[i]))
					v[k++] = programs[i];
			continue;
		}
		/* The NAME of numprocs instances: every one of them. */
		if ((g = program_find(argv[a].ptr)) == NULL) {
			before = k;
			for (i = 0; i < nprograms; i++)
				if (programs[i]->group != NULL &&
				    strcmp(programs[i]->group, argv[a].ptr) == 0 &&
				    may(who, programs[i]))
					v[k++] = programs[i];
			if (k > before)
				continue;
		}
		if (g == NULL || !may(who, g)) {
			H->reply_error(ctx, "NOENT", "no program named "
			    "'%.64s'%s", argv[a].ptr, nprograms == 0 ?
			    " (none is configured: [program:NAME] in the "
			    "configuration)" : "");
			free(v);
			return NULL;
		}
		v[k++] = g;
	}
	if (k == 0) {
		H->reply_error(ctx, "NOENT", "no program to act on");
		free(v);
		return NULL;
	}
	*n = k;
	return v;
}

/* Start, stop or restart the named programs; the reply waits for all. */
static void
act(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv,
    int op)
{
	struct pwaiter *w;
	struct pref *ws;
	struct program **v;
	size_t n, i;

	if ((v = resolve_names(ctx, argc, argv, &n)) == NULL)
		return;
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->ctx = H->defer(ctx)) == NULL) {
		free(w);
		free(v);
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	w->n = n;
	w->progs = v;
	w->remaining = n + 1;	/* held until every program has it */
	for (i = 0; i < n; i++)
		v[i]->pins++;	/* not freed (progadhoc.c) under the reply */
	for (i = 0; i < n; i++) {
		ws = realloc(v[i]->waiters, (v[i]->nwaiters + 1) *
		    sizeof(*ws));
		if (ws == NULL) {
			w->remaining--;
			snprintf(w->err, sizeof(w->err), "out of memory");
			continue;
		}
		v[i]->waiters = ws;
		ws[v[i]->nwaiters].w = w;
		ws[v[i]->nwaiters++].op = op;
	}
	for (i = 0; i < n; i++)
		program_act(v[i], op, H->caller(ctx)->user);
	if (--w->remaining == 0)
		program_reply(w);
}

void
program_cmd_start(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	act(ctx, argc, argv, OP_START);
}

void
program_cmd_stop(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	act(ctx, argc, argv, OP_STOP);
}

void
program_cmd_restart(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	act(ctx, argc, argv, OP_RESTART);
}

static void
reply_seconds(struct procctl_ctx *ctx, uint64_t ms)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%llu.%03llu", (unsigned long long)(ms /
	    1000), (unsigned long long)(ms % 1000));
	H->reply_double_text(ctx, tmp);
}

/* "notify: ready (serving 12 clients)", "fd:3: waiting", "none". */
static void
reply_readiness(struct procctl_ctx *ctx, const struct program *g)
{
	char kind[16], out[STATUS_KEPT + 48];
	const char *now;

	if (g->ready == PROCCTL_READY_NONE) {
		H->reply_str(ctx, "none");
		return;
	}
	if (g->ready == PROCCTL_READY_FD)
		snprintf(kind, sizeof(kind), "fd:%d", g->ready_fd);
	else
		snprintf(kind, sizeof(kind), "notify");
	now = g->cur == NULL ? "-" : g->cur->ready ? "ready" : "waiting";
	snprintf(out, sizeof(out), "%s: %s%s%s%s", kind, now,
	    g->said[0] ? " (" : "", g->said, g->said[0] ? ")" : "");
	H->reply_str(ctx, out);
}

/* A size the way it was likely written: 512M, 2G, 65536. */
static void
human_size(uint64_t v, char *out, size_t size)
{
	static const char units[] = "KMGT";
	int i = -1;

	while (i < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	snprintf(out, size, "%llu%.*s", (unsigned long long)v, i >= 0,
	    i >= 0 ? &units[i] : "");
}

/* The limits asked, and what enforces each: "memory 512M (cgroup),
 * pids 64 (rlimit NPROC, per user), nofile 4096"; null for none. */
static void
reply_limits(struct procctl_ctx *ctx, const struct program *g)
{
	unsigned took = g->limits;
	char out[192] = "", size[32];
	size_t n = 0;

	if (g->memory_max > 0) {
		human_size(g->memory_max, size, sizeof(size));
		n += snprintf(out + n, sizeof(out) - n, "memory %s (%s)", size,
		    took & PROCCTL_LIMIT_MEMORY_CGROUP ? "cgroup memory.max" :
		    "rlimit AS");
	}
	if (g->pids_max > 0 && n < sizeof(out))
		n += snprintf(out + n, sizeof(out) - n, "%spids %llu (%s)",
		    n ? ", " : "", (unsigned long long)g->pids_max,
		    took & PROCCTL_LIMIT_PIDS_CGROUP ? "cgroup pids.max" :
		    "rlimit NPROC, per user");
	if (g->nofile > 0 && n < sizeof(out))
		snprintf(out + n, sizeof(out) - n, "%snofile %llu",
		    n ? ", " : "", (unsigned long long)g->nofile);
	if (out[0] != '\0')
		H->reply_str(ctx, out);
	else
		H->reply_null(ctx);
}

void
reply_status(struct procctl_ctx *ctx, const struct program *g)
{
	const struct run *r = g->nruns > 0 ?
	    &g->runs[(g->nruns - 1) % RUNS_KEPT] : NULL;
	int up = g->cur != NULL && g->cur->pid > 0 &&
	    g->cur->state != PROC_EXITED && g->cur->state != PROC_KILLED;
	uint64_t now = proc_now_ms();

	/* The run going on has not ended: the last exit is the one before. */
	if (r != NULL && r->how[0] == '\0' && g->nruns > 1)
		r = &g->runs[(g->nruns - 2) % RUNS_KEPT];

	H->reply_map(ctx, 11);
	H->reply_str(ctx, "name");
	H->reply_str(ctx, g->name);
	H->reply_str(ctx, "state");
	H->reply_str(ctx, program_state_name(g->state));
	H->reply_str(ctx, "pid");
	if (up)
		H->reply_int(ctx, g->cur->pid);
	else
		H->reply_null(ctx);
	H->reply_str(ctx, "uptime");
	if (up)
		reply_seconds(ctx, proc_run_ms(g->cur));
	else
		H->reply_null(ctx);
	H->reply_str(ctx, "restarts");
	H->reply_int(ctx, g->restarts);
	H->reply_str(ctx, "last_exit");
	if (r != NULL && r->how[0] != '\0')
		H->reply_str(ctx, r->how);
	else
		H->reply_null(ctx);
	H->reply_str(ctx, "next_retry");
	if (g->state == PS_BACKOFF && g->retry_at > now)
		reply_seconds(ctx, g->retry_at - now);
	else
		H->reply_null(ctx);
	H->reply_str(ctx, "reason");
	if (g->state == PS_FATAL || g->state == PS_EXITED)
		H->reply_str(ctx, g->why);
	else
		H->reply_null(ctx);
	H->reply_str(ctx, "ready");
	reply_readiness(ctx, g);
	H->reply_str(ctx, "limits");
	reply_limits(ctx, g);
	H->reply_str(ctx, "command");
	H->reply_str(ctx, g->command);
}

void
program_cmd_status(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	struct program **v;
	size_t n = 0, i;

	if (argc > 1) {
		if ((v = resolve_names(ctx, argc, argv, &n)) == NULL)
			return;
		H->reply_array(ctx, n);
		for (i = 0; i < n; i++)
			reply_status(ctx, v[i]);
		free(v);
		return;
	}
	for (i = 0; i < nprograms; i++)
		n += may(who, programs[i]);
	H->reply_array(ctx, n);
	for (i = 0; i < nprograms; i++)
		if (may(who, programs[i]))
			reply_status(ctx, programs[i]);
}

static struct program *
by_pid(const struct procctl_caller *who, const char *s)
{
	char *end;
	long pid = strtol(s, &end, 10);
	size_t i, k;

	if (*s < '1' || *s > '9' || *end != '\0' || pid <= 0)
		return NULL;
	for (i = 0; i < nprograms; i++)
		for (k = 0; k < RUNS_KEPT && k < programs[i]->nruns; k++)
			if (programs[i]->runs[k].pid == (pid_t)pid &&
			    may(who, programs[i]))
				return programs[i];
	return NULL;
}

/* The last lines a run wrote on stderr (what an admin reads first after
 * an outage), from its captured output; an empty array without. */
struct tail {
	char	 *line[WHY_STDERR_LINES];
	size_t	  len[WHY_STDERR_LINES];
	size_t	  n;
};

static void
tail_keep(const struct procctl_line *l, void *arg)
{
	struct tail *t = arg;

	if (t->n < WHY_STDERR_LINES && (t->line[t->n] = malloc(l->len +
	    1)) != NULL) {
		memcpy(t->line[t->n], l->text, l->len);
		t->len[t->n++] = l->len;
	}
}

static void
reply_stderr_tail(struct procctl_ctx *ctx, uint64_t handle)
{
	struct tail t;
	size_t i;

	memset(&t, 0, sizeof(t));
	if (handle != 0)
		(void)H->output_tail(proc_self, handle, WHY_STDERR_LINES, 2,
		    tail_keep, &t);
	H->reply_array(ctx, t.n);
	for (i = 0; i < t.n; i++) {
		H->reply_bulk(ctx, t.line[i], t.len[i]);
		free(t.line[i]);
	}
}

void
program_cmd_why(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	struct program **v, *g;
	const struct run *r;
	size_t n, i, first;

	/* A pid: the program one of whose kept runs it was. */
	if ((g = by_pid(H->caller(ctx), argv[1].ptr)) == NULL) {
		if ((v = resolve_names(ctx, argc, argv, &n)) == NULL)
			return;
		g = v[0];
		free(v);
	}
	first = g->nruns > RUNS_KEPT ? g->nruns - RUNS_KEPT : 0;
	H->reply_map(ctx, 4);
	H->reply_str(ctx, "name");
	H->reply_str(ctx, g->name);
	H->reply_str(ctx, "state");
	H->reply_str(ctx, program_state_name(g->state));
	H->reply_str(ctx, "reason");
	if (g->why[0] != '\0')
		H->reply_str(ctx, g->why);
	else
		H->reply_null(ctx);
	H->reply_str(ctx, "runs");
	H->reply_array(ctx, g->nruns - first);
	for (i = first; i < g->nruns; i++) {
		r = &g->runs[i % RUNS_KEPT];
		H->reply_map(ctx, 7);
		H->reply_str(ctx, "pid");
		if (r->pid > 0)
			H->reply_int(ctx, r->pid);
		else
			H->reply_null(ctx);
		H->reply_str(ctx, "started");
		proc_reply_time(ctx, &r->start);
		H->reply_str(ctx, "ended");
		proc_reply_time(ctx, &r->end);
		H->reply_str(ctx, "run_time");
		if (r->end.tv_sec != 0)
			reply_seconds(ctx, r->run_ms);
		else
			H->reply_null(ctx);
		H->reply_str(ctx, "how");
		if (r->how[0] != '\0')
			H->reply_str(ctx, r->how);
		else
			H->reply_null(ctx);
		H->reply_str(ctx, "decision");
		if (r->decision[0] != '\0')
			H->reply_str(ctx, r->decision);
		else
			H->reply_null(ctx);
		H->reply_str(ctx, "stderr");
		reply_stderr_tail(ctx, r->handle);
	}
}
