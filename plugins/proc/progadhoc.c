/*
 * `run --restart on-failure|always`: an ad hoc process with the
 * lifecycle of a configured program.  It is a program made on the fly
 * (program.c runs it: start_secs, backoff, start_limit, FATAL, `why`),
 * owned by the caller, started in --cwd DIR or the caller's home (a
 * restart cannot find the shell's directory again), outliving the
 * session that started it.  `run` answers with the first run's pid;
 * `close` and `stop` end it for good and forget it.  Its whole
 * definition travels in the tag the monitor keeps, so a server that
 * restarts adopts it with its policy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"

#define ENDED_KEPT	100	/* ended ad hoc programs kept for `why` */

static uint64_t sweep_timer;

/* Is NAME free to give a program: no program, no numprocs group, not
 * `all` (each of which a command's NAME would mean instead)? */
static int
name_free(const char *name)
{
	size_t i;

	if (strcmp(name, "all") == 0)
		return 0;
	for (i = 0; i < nprograms; i++)
		if (!programs[i]->removed && (strcmp(programs[i]->name,
		    name) == 0 || (programs[i]->group != NULL &&
		    strcmp(programs[i]->group, name) == 0)))
			return 0;
	return 1;
}

/* BASE, or BASE-2, BASE-3...: a name nothing else answers to. */
char *
adhoc_name(const char *base)
{
	char *name;
	unsigned n;

	if (name_free(base))
		return strdup(base);
	for (n = 2; n < 100000; n++) {
		if (asprintf(&name, "%s-%u", base, n) == -1)
			return NULL;
		if (name_free(name))
			return name;
		free(name);
	}
	return NULL;
}

/* A reload brings a configured program named as ad hoc ones are: they
 * take another name (the file's program keeps the one it was given). */
void
adhoc_yield_name(const char *name)
{
	struct program *g;
	char *fresh;
	size_t i;

	for (i = 0; i < nprograms; i++) {
		g = programs[i];
		if (!g->adhoc || g->removed || (strcmp(g->name, name) != 0 &&
		    (g->group == NULL || strcmp(g->group, name) != 0)))
			continue;
		if ((fresh = adhoc_name(name)) == NULL)
			continue;
		H->log(proc_self, PROCCTL_LOG_WARN, "program %s (run --restart) "
		    "is now %s: the configuration names another %s", g->name,
		    fresh, name);
		free(g->name);
		g->name = fresh;
		if (g->cur != NULL && (fresh = strdup(fresh)) != NULL) {
			free(g->cur->name);	/* `list` shows it so too */
			g->cur->name = fresh;
			g->cur->name_len = strlen(fresh);
		}
	}
}

static char **
copy_words(char *const *v)
{
	char **out;
	size_t n = 0, i;

	while (v != NULL && v[n] != NULL)
		n++;
	if ((out = calloc(n + 1, sizeof(*out))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((out[i] = strdup(v[i])) == NULL) {
			while (i > 0)
				free(out[--i]);
			free(out);
			return NULL;
		}
	return out;
}

/* The program for SPEC, in the list (its name made free); NULL when out
 * of memory. */
struct program *
adhoc_new(const struct adhoc_spec *s)
{
	struct program *g, **grown;
	size_t i, len = 0;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	program_defaults(g);
	g->adhoc = 1;
	g->autostart = 0;
	g->restart = s->policy;
	g->stop_ms = proc_conf.close_timeout_ms;
	g->uid = s->uid;
	g->gid = s->gid;
	for (i = 0; s->argv[i] != NULL; i++)
		len += strlen(s->argv[i]) + 1;
	if ((g->name = adhoc_name(s->name)) == NULL ||
	    (g->user = strdup(s->user)) == NULL ||
	    (g->file = strdup("run --restart")) == NULL ||
	    (s->cwd != NULL && (g->directory = strdup(s->cwd)) == NULL) ||
	    (g->argv = copy_words(s->argv)) == NULL ||
	    (g->env = copy_words(s->env)) == NULL ||
	    (g->owner_uids = calloc(1, sizeof(uid_t))) == NULL ||
	    (g->command = calloc(1, len + 1)) == NULL ||
	    (grown = realloc(programs, (nprograms + 1) *
	    sizeof(*programs))) == NULL) {
		progconf_clear(g);
		free(g);
		return NULL;
	}
	for (i = 0; s->argv[i] != NULL; i++) {
		if (i > 0)
			strcat(g->command, " ");
		strcat(g->command, s->argv[i]);
	}
	g->owner_uids[0] = s->uid;
	g->nowner_uids = 1;
	programs = grown;
	programs[nprograms++] = g;
	return g;
}

/* Ended ones go once they have stopped for good (close, stop, an exec
 * that failed), or when too many have ended: on a timer, never under
 * program.c's feet. */
static void
sweep(void *arg)
{
	size_t i, j, ended = 0;
	struct program *g;

	(void)arg;
	sweep_timer = 0;
	for (i = nprograms; i-- > 0; ) {
		g = programs[i];
		if (!g->adhoc || g->cur != NULL || g->nwaiters > 0 ||
		    g->pins > 0 || g->timer != 0)
			continue;
		if (g->state == PS_EXITED || g->state == PS_FATAL)
			ended++;
		if (!g->removed && !(ended > ENDED_KEPT &&
		    g->state != PS_STARTING && g->state != PS_RUNNING &&
		    g->state != PS_BACKOFF && g->state != PS_STOPPING))
			continue;
		progconf_clear(g);
		free(g);
		for (j = i; j + 1 < nprograms; j++)
			programs[j] = programs[j + 1];
		nprograms--;
	}
}

/* An ad hoc program has moved to STATE: forget it soon if that is the
 * end of it. */
void
adhoc_settled(struct program *g)
{
	if (!g->adhoc)
		return;
	if (g->state == PS_STOPPED)
		g->removed = 1;
	if ((g->removed || g->state == PS_EXITED || g->state == PS_FATAL) &&
	    sweep_timer == 0)
		sweep_timer = H->timer_add(proc_self, 0, sweep, NULL);
}

/* `close` of one of its runs: no restart, and it is forgotten. */
void
adhoc_close(struct program *g, const char *by)
{
	program_act(g, OP_STOP, by);
}

/* The first run's exec result, for `run`'s reply. */
void
adhoc_started(struct program *g, pid_t pid, const char *err)
{
	struct procctl_ctx *ctx = g->run_ctx;
	char msg[128];

	if (ctx == NULL)
		return;
	g->run_ctx = NULL;
	if (err != NULL) {
		/* As `run` says it: "no such file or directory". */
		snprintf(msg, sizeof(msg), "%s", err);
		if (msg[0] >= 'A' && msg[0] <= 'Z')
			msg[0] = (char)(msg[0] - 'A' + 'a');
		H->reply_error(ctx, "EXEC", "cannot run '%.200s': %s",
		    g->argv[0], msg);
		g->removed = 1;
	} else
		H->reply_int(ctx, pid);
	H->finish(ctx);
}

void
adhoc_fini(void)
{
	size_t i;

	if (sweep_timer != 0)
		H->timer_cancel(proc_self, sweep_timer);
	sweep_timer = 0;
	for (i = 0; i < nprograms; i++)
		if (programs[i]->run_ctx != NULL) {
			H->finish(programs[i]->run_ctx);
			programs[i]->run_ctx = NULL;
		}
}

/*
 * What the monitor keeps of it (after run.c's fields): policy, cwd ("":
 * home), gid, argc, the argv words, then the environment's, each
 * NUL-terminated.
 */
static size_t
words_size(char *const *v, size_t *n)
{
	size_t len = 0;

	for (*n = 0; v != NULL && v[*n] != NULL; (*n)++)
		len += strlen(v[*n]) + 1;
	return len;
}

/* The whole tag's size for S: run.c's header, the name, the command
 * (argv joined), then this. */
size_t
adhoc_tag_size(const struct adhoc_spec *s)
{
	size_t n, argv = words_size(s->argv, &n);

	return 160 + strlen(s->user) + 2 * strlen(s->name) + 2 * argv +
	    words_size(s->env, &n) + (s->cwd != NULL ? strlen(s->cwd) : 0);
}

static size_t
put_word(char *out, size_t size, size_t at, const char *w)
{
	size_t len = strlen(w) + 1;

	if (at + len > size)
		return size + 1;
	memcpy(out + at, w, len);
	return at + len;
}

/* G's definition into OUT at AT: the new end, or past SIZE if it does
 * not fit. */
size_t
adhoc_tag_put(const struct program *g, char *out, size_t size, size_t at)
{
	char num[32];
	size_t i, argc;

	words_size(g->argv, &argc);
	snprintf(num, sizeof(num), "%d", (int)g->restart);
	at = put_word(out, size, at, num);
	at = put_word(out, size, at, g->directory ? g->directory : "");
	snprintf(num, sizeof(num), "%u", (unsigned)g->gid);
	at = put_word(out, size, at, num);
	snprintf(num, sizeof(num), "%zu", argc);
	at = put_word(out, size, at, num);
	for (i = 0; g->argv[i] != NULL; i++)
		at = put_word(out, size, at, g->argv[i]);
	for (i = 0; g->env != NULL && g->env[i] != NULL; i++)
		at = put_word(out, size, at, g->env[i]);
	return at;
}

/* The program again from F[0..N) (adhoc_tag_put's words), for a run of
 * NAME adopted after a server restart; NULL if they make no sense. */
struct program *
adhoc_from_tag(const char *name, const char *user, uid_t uid,
    const char **f, size_t n)
{
	struct adhoc_spec s;
	struct program *g;
	char **argv, **env;
	unsigned long argc;
	char *end;

	if (n < 5)
		return NULL;
	argc = strtoul(f[3], &end, 10);
	if (*end != '\0' || argc < 1 || argc > n - 4)
		return NULL;
	memset(&s, 0, sizeof(s));
	s.policy = (enum restart_policy)atoi(f[0]);
	if (s.policy != RESTART_ON_FAILURE && s.policy != RESTART_ALWAYS)
		return NULL;
	s.cwd = f[1][0] != '\0' ? f[1] : NULL;
	s.gid = (gid_t)strtoul(f[2], NULL, 10);
	s.name = name;
	s.user = user;
	s.uid = uid;
	argv = calloc(argc + 1, sizeof(*argv));
	env = calloc(n - 4 - argc + 1, sizeof(*env));
	if (argv == NULL || env == NULL) {
		free(argv);
		free(env);
		return NULL;
	}
	memcpy(argv, f + 4, argc * sizeof(*argv));
	memcpy(env, f + 4 + argc, (n - 4 - argc) * sizeof(*env));
	s.argv = argv;
	s.env = env;
	g = adhoc_new(&s);
	free(argv);
	free(env);
	return g;
}

/* Ad hoc programs that may still run (of UID; every user's when UID is
 * -1): each holds a place under max_per_user and max_processes even
 * while it waits to restart, with no process. */
size_t
adhoc_active(uid_t uid)
{
	size_t i, n = 0;

	for (i = 0; i < nprograms; i++)
		n += programs[i]->adhoc && !programs[i]->removed &&
		    (uid == (uid_t)-1 || programs[i]->uid == uid) &&
		    programs[i]->state != PS_EXITED &&
		    programs[i]->state != PS_FATAL &&
		    programs[i]->state != PS_STOPPED &&
		    (programs[i]->cur == NULL || !proc_is_live(programs[i]->cur));
	return n;
}

/* `run --restart POLICY`: the program, started; the reply comes with
 * the exec's result. */
void
adhoc_run(struct procctl_ctx *ctx, const struct adhoc_spec *s)
{
	struct program *g;


	if ((g = adhoc_new(s)) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	if ((g->run_ctx = H->defer(ctx)) == NULL) {
		g->removed = 1;
		adhoc_settled(g);
		H->reply_error(ctx, "ERR", "cannot defer the reply");
		return;
	}
	program_act(g, OP_START, s->user);
}
