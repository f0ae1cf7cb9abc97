/*
 * Reloading programs (SIGHUP, `reload`): the new [program:] sections are
 * parsed whole first (a broken file changes nothing), then compared by
 * name with what runs.  A new program is added (and started, with
 * autostart); a changed one takes its new settings and is restarted if
 * it was running; a removed one is stopped and forgotten; an unchanged
 * one is not touched.  With --dry-run only the report is made.
 */
#include <stdlib.h>
#include <string.h>

#include "program.h"

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
same_words(char *const *a, char *const *b)
{
	size_t i;

	for (i = 0; a != NULL && b != NULL && a[i] != NULL && b[i] != NULL;
	    i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return (a == NULL || a[i] == NULL) && (b == NULL || b[i] == NULL);
}

/* Would A and B run the same way?  (Names are equal.) */
static int
same(const struct program *a, const struct program *b)
{
	return same_str(a->command, b->command) &&
	    a->numprocs_start == b->numprocs_start &&
	    same_str(a->directory, b->directory) &&
	    same_str(a->user, b->user) && same_words(a->env, b->env) &&
	    a->umask == b->umask && a->autostart == b->autostart &&
	    a->restart == b->restart && a->nexit_codes == b->nexit_codes &&
	    memcmp(a->exit_codes, b->exit_codes, sizeof(a->exit_codes)) == 0 &&
	    a->start_ms == b->start_ms &&
	    a->backoff_min_ms == b->backoff_min_ms &&
	    a->backoff_max_ms == b->backoff_max_ms &&
	    a->limit_starts == b->limit_starts &&
	    a->limit_window_ms == b->limit_window_ms &&
	    a->stop_signal == b->stop_signal && a->stop_ms == b->stop_ms &&
	    a->ready == b->ready && a->ready_fd == b->ready_fd &&
	    a->ready_ms == b->ready_ms && a->memory_max == b->memory_max &&
	    a->pids_max == b->pids_max && a->nofile == b->nofile &&
	    a->output == b->output && a->log_ring == b->log_ring &&
	    same_str(a->requires_s, b->requires_s) &&
	    same_str(a->after_s, b->after_s) &&
	    a->nowner_uids == b->nowner_uids &&
	    a->nowner_gids == b->nowner_gids &&
	    (a->nowner_uids == 0 || memcmp(a->owner_uids, b->owner_uids,
	    a->nowner_uids * sizeof(uid_t)) == 0) &&
	    (a->nowner_gids == 0 || memcmp(a->owner_gids, b->owner_gids,
	    a->nowner_gids * sizeof(gid_t)) == 0);
}

/* The configured program NAME (not a `run --restart` one). */
static struct program *
configured(const char *name)
{
	size_t i;

	for (i = 0; i < nprograms; i++)
		if (!programs[i]->removed && !programs[i]->adhoc &&
		    strcmp(programs[i]->name, name) == 0)
			return programs[i];
	return NULL;
}

static int
active(const struct program *g)
{
	return g->state == PS_STARTING || g->state == PS_RUNNING ||
	    g->state == PS_BACKOFF || g->state == PS_STOPPING;
}

#define SWAP(f) do { tmp = (void *)o->f; o->f = n->f; n->f = tmp; } \
	while (0)

/* O (which runs, has waiters, is pointed to) takes N's settings; N gets
 * O's old ones, to be freed with it. */
static void
take_config(struct program *o, struct program *n)
{
	struct program keep = *n;
	void *tmp;

	SWAP(command);
	SWAP(argv);
	SWAP(directory);
	SWAP(user);
	SWAP(env);
	SWAP(owner_uids);
	SWAP(owner_gids);
	SWAP(requires_s);
	SWAP(after_s);
	SWAP(file);
	o->line = keep.line;
	o->uid = keep.uid;
	o->gid = keep.gid;
	o->umask = keep.umask;
	o->autostart = keep.autostart;
	o->restart = keep.restart;
	memcpy(o->exit_codes, keep.exit_codes, sizeof(o->exit_codes));
	o->nexit_codes = keep.nexit_codes;
	o->start_ms = keep.start_ms;
	o->backoff_min_ms = keep.backoff_min_ms;
	o->backoff_max_ms = keep.backoff_max_ms;
	o->limit_starts = keep.limit_starts;
	o->limit_window_ms = keep.limit_window_ms;
	o->stop_signal = keep.stop_signal;
	o->stop_ms = keep.stop_ms;
	o->ready = keep.ready;
	o->ready_fd = keep.ready_fd;
	o->ready_ms = keep.ready_ms;
	o->memory_max = keep.memory_max;
	o->pids_max = keep.pids_max;
	o->nofile = keep.nofile;
	o->output = keep.output;
	o->log_ring = keep.log_ring;
	n->nowner_uids = o->nowner_uids;
	n->nowner_gids = o->nowner_gids;
	o->nowner_uids = keep.nowner_uids;
	o->nowner_gids = keep.nowner_gids;
	o->line = keep.line;
}

static void
drop(struct program **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] != NULL) {
			progconf_clear(v[i]);
			free(v[i]);
		}
	free(v);
}

/* The new sections, parsed and linked on their own: the globals hold
 * them for the parse, then the running ones again. */
static int
parse_new(struct program ***fresh, size_t *nfresh)
{
	struct program **old = programs;
	size_t nold = nprograms;
	int rc;

	programs = NULL;
	nprograms = 0;
	rc = progconf_load() == -1 || progconf_link() == -1 ? -1 : 0;
	*fresh = programs;
	*nfresh = nprograms;
	programs = old;
	nprograms = nold;
	if (rc == -1) {
		drop(*fresh, *nfresh);
		*fresh = NULL;
		*nfresh = 0;
	}
	return rc;
}

static struct program *
find_in(struct program **v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] != NULL && strcmp(v[i]->name, name) == 0)
			return v[i];
	return NULL;
}

static void
report(int dry, struct procctl_report *r, struct program **fresh,
    size_t nfresh)
{
	struct program *o, *f;
	size_t i;

	for (i = 0; i < nfresh; i++) {
		f = fresh[i];
		if ((o = configured(f->name)) == NULL)
			H->note(r, "%s %s (new%s)", dry ? "would add" : "added",
			    f->name, f->autostart ? ", autostart" : "");
		else if (!same(o, f))
			H->note(r, "%s %s (changed%s)", dry ? "would update" :
			    "updated", f->name, active(o) ? ": restarted" : "");
	}
	for (i = 0; i < nprograms; i++)
		if (!programs[i]->removed && !programs[i]->adhoc &&
		    find_in(fresh, nfresh, programs[i]->name) == NULL)
			H->note(r, "%s %s (gone from the file%s)", dry ?
			    "would remove" : "removed", programs[i]->name,
			    active(programs[i]) ? ": stopped" : "");
}

int
program_reload(int dry, struct procctl_report *r, void *arg)
{
	struct program **fresh, **grown, *o, *f;
	size_t nfresh, i, nold = nprograms;

	(void)arg;
	if (parse_new(&fresh, &nfresh) == -1)
		return -1;
	report(dry, r, fresh, nfresh);
	if (dry) {
		drop(fresh, nfresh);
		return 0;
	}
	for (i = 0; i < nold; i++)
		if (!programs[i]->removed && !programs[i]->adhoc &&
		    find_in(fresh, nfresh, programs[i]->name) == NULL) {
			programs[i]->removed = 1;
			if (active(programs[i]))
				program_act(programs[i], OP_STOP, "reload");
		}
	for (i = 0; i < nfresh; i++) {
		f = fresh[i];
		adhoc_yield_name(f->name);
		if (f->group != NULL)
			adhoc_yield_name(f->group);
		if ((o = configured(f->name)) == NULL) {
			if ((grown = realloc(programs, (nprograms + 1) *
			    sizeof(*programs))) == NULL)
				continue;
			programs = grown;
			programs[nprograms++] = f;
			fresh[i] = NULL;
		} else if (!same(o, f)) {
			take_config(o, f);
			if (active(o)) {
				o->restart_pending = 1;
				program_act(o, OP_STOP, "reload");
			}
		} else {	/* where it is written may have moved */
			char *file = o->file;

			o->file = f->file;
			f->file = file;
			o->line = f->line;
		}
	}
	drop(fresh, nfresh);	/* what was not taken over */
	progconf_relink();
	for (i = nold; i < nprograms; i++)
		if (programs[i]->autostart)
			program_act(programs[i], OP_START, "reload");
	return 0;
}
