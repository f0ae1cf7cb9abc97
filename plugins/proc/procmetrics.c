/*
 * The proc plugin's metric families (host->on_metrics, ABI 1.9), from
 * the records it already holds: processes by user and state (what `list
 * all` shows), programs by state (what `status` shows), each configured
 * program's state and restarts, and ad hoc programs' restarts (`run
 * --restart`) per user.
 *
 * An ad hoc program goes when it is closed, and its restarts with it, so
 * they are added up per user here as they happen: a counter never goes
 * down while this plugin is loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"

#define NSTATES	5	/* enum proc_state */

/* What list.c calls each state. */
static const char *const proc_states[NSTATES] = {
	"starting", "running", "closing", "exited", "killed"
};

struct user_count {
	char		 user[64];
	double		 n[NSTATES];	/* processes per state */
};

struct adhoc_tally {
	uid_t		 uid;
	char		 user[64];
	uint64_t	 restarts;
};

static struct adhoc_tally *tally;
static size_t ntally;

void
procmetrics_restart(const struct program *g)
{
	struct adhoc_tally *grown;
	size_t i;

	if (!g->adhoc)
		return;
	for (i = 0; i < ntally; i++)
		if (tally[i].uid == g->uid) {
			tally[i].restarts++;
			return;
		}
	if ((grown = realloc(tally, (ntally + 1) * sizeof(*tally))) == NULL)
		return;
	tally = grown;
	tally[ntally].uid = g->uid;
	if (g->user != NULL)
		snprintf(tally[ntally].user, sizeof(tally[ntally].user), "%s",
		    g->user);
	else
		snprintf(tally[ntally].user, sizeof(tally[ntally].user), "%u",
		    (unsigned)g->uid);
	tally[ntally++].restarts = 1;
}

void
procmetrics_fini(void)
{
	free(tally);
	tally = NULL;
	ntally = 0;
}

/* Processes per owner and state.  An owner's processes mostly come
 * together in the list (started in a row), so the owner found last is
 * tried first: one comparison a process, not one per owner. */
static struct user_count *
count_users(size_t *n)
{
	struct user_count *v = NULL, *grown;
	struct proc *p;
	size_t i, last = 0;

	*n = 0;
	for (p = procs; p != NULL; p = p->next) {
		if (last < *n && strcmp(v[last].user, p->owner) == 0)
			i = last;
		else
			for (i = 0; i < *n; i++)
				if (strcmp(v[i].user, p->owner) == 0)
					break;
		if (i == *n) {
			if ((grown = realloc(v, (*n + 1) * sizeof(*v))) ==
			    NULL)
				break;
			v = grown;
			memset(&v[i], 0, sizeof(v[i]));
			snprintf(v[i].user, sizeof(v[i].user), "%s",
			    p->owner);
			(*n)++;
		}
		if ((unsigned)p->state < NSTATES)
			v[i].n[p->state]++;
		last = i;
	}
	return v;
}

static void
write_processes(struct procctl_metrics *m)
{
	const char *labels[] = { "user", NULL, "state", NULL, NULL };
	struct user_count *v;
	size_t n, i, s;

	if (H->metric_family(m, "procctl_processes", PROCCTL_METRIC_GAUGE,
	    "Processes the proc plugin holds (list all), by owner and "
	    "state") == -1)
		return;
	v = count_users(&n);
	for (i = 0; i < n; i++)
		for (s = 0; s < NSTATES; s++) {
			labels[1] = v[i].user;
			labels[3] = proc_states[s];
			H->metric_sample(m, labels, v[i].n[s]);
		}
	free(v);
}

static void
write_programs(struct procctl_metrics *m)
{
	const char *labels[] = { "state", NULL, NULL };
	double n[PS_MAX] = { 0 };
	size_t i, s;

	for (i = 0; i < nprograms; i++)
		if (!programs[i]->removed)
			n[programs[i]->state]++;
	if (H->metric_family(m, "procctl_programs", PROCCTL_METRIC_GAUGE,
	    "Programs (configured and ad hoc), by state as status shows "
	    "it") == -1)
		return;
	for (s = 0; s < PS_MAX; s++) {
		labels[1] = program_state_name((enum pstate)s);
		H->metric_sample(m, labels, n[s]);
	}
}

/* Per configured program: 1 for the state it is in, 0 for the others,
 * so that an alert can name the program. */
static void
write_program_states(struct procctl_metrics *m)
{
	const char *labels[] = { "program", NULL, "state", NULL, NULL };
	const struct program *g;
	size_t i, s;

	if (H->metric_family(m, "procctl_program_state", PROCCTL_METRIC_GAUGE,
	    "1 for the state each configured program is in, 0 for the "
	    "others") == -1)
		return;
	for (i = 0; i < nprograms; i++) {
		g = programs[i];
		if (g->removed || g->adhoc)
			continue;
		labels[1] = g->name;
		for (s = 0; s < PS_MAX; s++) {
			labels[3] = program_state_name((enum pstate)s);
			H->metric_sample(m, labels, g->state == s);
		}
	}
}

static void
write_restarts(struct procctl_metrics *m)
{
	const char *prog[] = { "program", NULL, NULL };
	const char *user[] = { "user", NULL, NULL };
	size_t i;

	if (H->metric_family(m, "procctl_restarts_total",
	    PROCCTL_METRIC_COUNTER, "Restarts of each configured program "
	    "(its policy restarted it after it ended)") == 0)
		for (i = 0; i < nprograms; i++) {
			if (programs[i]->removed || programs[i]->adhoc)
				continue;
			prog[1] = programs[i]->name;
			H->metric_sample(m, prog, programs[i]->restarts);
		}
	if (H->metric_family(m, "procctl_adhoc_restarts_total",
	    PROCCTL_METRIC_COUNTER, "Restarts of programs made by run "
	    "--restart, by the user who ran them") == 0)
		for (i = 0; i < ntally; i++) {
			user[1] = tally[i].user;
			H->metric_sample(m, user, (double)tally[i].restarts);
		}
}

void
procmetrics_write(struct procctl_metrics *m, void *arg)
{
	(void)arg;
	write_processes(m);
	write_programs(m);
	write_program_states(m);
	write_restarts(m);
}
