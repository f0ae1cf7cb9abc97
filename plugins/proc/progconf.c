/*
 * [program:NAME] sections: what a configured program is.  Every key is
 * checked here, and an unknown key or a value that cannot be used is an
 * error naming the file and line: a typo must not silently change what
 * runs.  The command is split like a shell line (quotes and backslashes
 * honoured), and no shell is run.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "program.h"

struct program **programs;
size_t nprograms;

/* Where the value being checked is, for messages. */
struct where {
	const char	*file;
	const char	*name;
	const char	*key;
	const char	*value;
	int		 line;
	int		 errors;
};

static void
bad(struct where *w, const char *expected)
{
	H->log(proc_self, PROCCTL_LOG_ERROR, "%s:%d: [program:%s] %s = %s: %s",
	    w->file, w->line, w->name, w->key, w->value,
	    expected);
	w->errors++;
}

static void
free_words(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* S split like a shell line: words by blanks, 'single' and "double"
 * quotes (\" and \\ inside), a backslash escaping the next character.
 * NULL (with *ERR) on an unclosed quote; no expansion of any kind. */
static char **
split_words(const char *s, const char **err)
{
	char **v = NULL, **grown, *w;
	size_t n = 0, len;
	char q;

	*err = NULL;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		if ((w = malloc(strlen(s) + 1)) == NULL)
			goto fail;
		for (len = 0, q = 0; *s != '\0'; s++) {
			if (q == 0 && (*s == ' ' || *s == '\t'))
				break;
			if (q == 0 && (*s == '\'' || *s == '"'))
				q = *s;
			else if (q != 0 && *s == q)
				q = 0;
			else if (*s == '\\' && q != '\'' && s[1] != '\0')
				w[len++] = *++s;
			else
				w[len++] = *s;
		}
		w[len] = '\0';
		if (q != 0) {
			*err = "an unclosed quote";
			free(w);
			goto fail;
		}
		if ((grown = realloc(v, (n + 2) * sizeof(*v))) == NULL) {
			free(w);
			goto fail;
		}
		v = grown;
		v[n++] = w;
		v[n] = NULL;
	}
	if (n == 0)
		*err = "an empty command";
	if (n == 0)
		goto fail;
	return v;
fail:
	if (*err == NULL)
		*err = "out of memory";
	free_words(v);
	return NULL;
}

/* "1.5", "500ms", "2s", "3m", "1h": milliseconds. */
static int
duration(const char *s, uint64_t *ms)
{
	char *end;
	double v, unit = 1000;

	v = strtod(s, &end);
	if (end == s || !(v >= 0) || v > 86400.0 * 365)
		return -1;
	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		unit = 60000;
	else if (strcmp(end, "h") == 0)
		unit = 3600000;
	else if (*end != '\0' && strcmp(end, "s") != 0)
		return -1;
	*ms = (uint64_t)(v * unit);
	return 0;
}

/* "4194304", "64K", "512M", "2G" (powers of 1024): bytes, at least 64 KiB
 * (below a few pages, any process would be killed at once). */
static int
size_of(const char *s, uint64_t *bytes)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno != 0 || s[0] == '-')
		return -1;
	if (*end != '\0' && (u = strchr(units, *end)) != NULL) {
		shift = 10 * (int)(u - units + 1);
		end++;
	}
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)v << shift;
	return *bytes < 65536 ? -1 : 0;
}

/* A count from 1 to MAX. */
static int
count_of(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || s[0] == '-' ||
	    v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* none, notify or fd:N. */
static int
readiness(struct program *p, const char *s)
{
	uint64_t fd;

	if (strcmp(s, "none") == 0)
		p->ready = PROCCTL_READY_NONE;
	else if (strcmp(s, "notify") == 0)
		p->ready = PROCCTL_READY_NOTIFY;
	else if (strncmp(s, "fd:", 3) == 0 && count_of(s + 3, 255, &fd) == 0 &&
	    fd >= 3) {
		p->ready = PROCCTL_READY_FD;
		p->ready_fd = (int)fd;
	} else
		return -1;
	return 0;
}

static int
yes_no(const char *s, int *out)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0)
		*out = 1;
	else if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* "TERM", "SIGTERM", "15". */
static int
signal_of(const char *s)
{
	const char *abbrev;
	char *end;
	long n;
	int i;

	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	n = strtol(s, &end, 10);
	if (*s != '\0' && *end == '\0')
		return n > 0 && n < NSIG ? (int)n : -1;
	for (i = 1; i < NSIG; i++)
		if ((abbrev = sigabbrev_np(i)) != NULL &&
		    strcasecmp(abbrev, s) == 0)
			return i;
	return -1;
}

static int
exit_codes(struct program *p, const char *s)
{
	char *end;
	long v;

	for (p->nexit_codes = 0; *s != '\0';) {
		while (*s == ' ' || *s == ',')
			s++;
		if (*s == '\0')
			break;
		v = strtol(s, &end, 10);
		if (end == s || v < 0 || v > 255 ||
		    p->nexit_codes == MAX_EXIT_CODES)
			return -1;
		p->exit_codes[p->nexit_codes++] = (int)v;
		s = end;
	}
	return p->nexit_codes > 0 ? 0 : -1;
}

/* "1s..60s" */
static int
backoff(struct program *p, const char *s)
{
	const char *dots = strstr(s, "..");
	char lo[32];

	if (dots == NULL || (size_t)(dots - s) >= sizeof(lo))
		return -1;
	memcpy(lo, s, (size_t)(dots - s));
	lo[dots - s] = '\0';
	return duration(lo, &p->backoff_min_ms) == -1 ||
	    duration(dots + 2, &p->backoff_max_ms) == -1 ||
	    p->backoff_max_ms < p->backoff_min_ms ? -1 : 0;
}

/* "5/60s": more failed starts than 5 within 60 s is FATAL. */
static int
start_limit(struct program *p, const char *s)
{
	char *end;
	unsigned long n = strtoul(s, &end, 10);

	if (end == s || *end != '/' || n == 0 || n > 30)
		return -1;
	p->limit_starts = (unsigned)n;
	return duration(end + 1, &p->limit_window_ms);
}

/* "K=V K2="two words"": words of the same shell-like split. */
static int
environment(struct program *p, const char *s)
{
	const char *err;
	size_t i;

	free_words(p->env);
	if ((p->env = split_words(s, &err)) == NULL)
		return -1;
	for (i = 0; p->env[i] != NULL; i++)
		if (p->env[i][0] == '=' || strchr(p->env[i], '=') == NULL)
			return -1;
	return 0;
}

/* KEY=VALUE lines ('#' comments, blank lines), before `environment`
 * (which may override them).  Read as procctld's own user, at start. */
static int
env_file(struct program *p, const char *path)
{
	char *line = NULL, **v;
	size_t cap = 0, n = 0, k;
	ssize_t len;
	FILE *f;
	int rc = 0;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	free_words(p->env_file);
	p->env_file = NULL;
	n = 0;
	while (rc == 0 && (len = getline(&line, &cap, f)) != -1) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		for (k = 0; line[k] == ' ' || line[k] == '\t'; k++)
			;
		if (line[k] == '\0' || line[k] == '#')
			continue;
		if (line[k] == '=' || strchr(line + k, '=') == NULL ||
		    (v = realloc(p->env_file, (n + 2) * sizeof(*v))) == NULL) {
			rc = -1;
			break;
		}
		p->env_file = v;
		if ((v[n] = strdup(line + k)) == NULL)
			rc = -1;
		else
			v[++n] = NULL;
	}
	free(line);
	fclose(f);
	return rc;
}

/* "alice bob @devs": who may control the program besides admins. */
static int
owners(struct program *p, const char *s, struct where *w)
{
	char word[256];
	struct passwd *pw;
	struct group *gr;
	size_t n;
	void *grown;

	(void)w;
	free(p->owner_uids);
	free(p->owner_gids);
	p->owner_uids = NULL;
	p->owner_gids = NULL;
	p->nowner_uids = p->nowner_gids = 0;
	while (*s != '\0') {
		s += strspn(s, " ,\t");
		if ((n = strcspn(s, " ,\t")) == 0)
			break;
		if (n >= sizeof(word))
			return -1;
		memcpy(word, s, n);
		word[n] = '\0';
		s += n;
		if (word[0] == '@') {
			if ((gr = getgrnam(word + 1)) == NULL ||
			    (grown = realloc(p->owner_gids, (p->nowner_gids +
			    1) * sizeof(gid_t))) == NULL)
				return -1;
			p->owner_gids = grown;
			p->owner_gids[p->nowner_gids++] = gr->gr_gid;
		} else {
			if ((pw = getpwnam(word)) == NULL ||
			    (grown = realloc(p->owner_uids, (p->nowner_uids +
			    1) * sizeof(uid_t))) == NULL)
				return -1;
			p->owner_uids = grown;
			p->owner_uids[p->nowner_uids++] = pw->pw_uid;
		}
	}
	return 0;
}

/* The user a program runs as: a root procctld only (others run their
 * own user, whatever this says). */
static int
user_of(struct program *p, const char *s)
{
	struct passwd *pw;

	if ((pw = getpwnam(s)) == NULL)
		return -1;
	free(p->user);
	if ((p->user = strdup(pw->pw_name)) == NULL)
		return -1;
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	return 0;
}

static void
set_key(struct program *p, struct where *w)
{
	const char *v = w->value, *err;
	char *end;
	unsigned long m;

	if (strcmp(w->key, "command") == 0) {
		/* Split for each instance (numprocs); here for the errors. */
		free(p->command);
		free_words(p->argv);
		p->argv = NULL;
		p->command = strdup(v);
		if ((p->argv = split_words(v, &err)) == NULL)
			bad(w, err);
	} else if (strcmp(w->key, "numprocs") == 0) {
		m = strtoul(v, &end, 10);
		if (v[0] == '\0' || *end != '\0' || m < 1 || m > 1000)
			bad(w, "expected a count from 1 to 1000");
		p->numprocs = (unsigned)m;
	} else if (strcmp(w->key, "numprocs_start") == 0) {
		m = strtoul(v, &end, 10);
		if (v[0] == '\0' || *end != '\0' || m > 100000)
			bad(w, "expected a number from 0 to 100000");
		p->numprocs_start = (unsigned)m;
	} else if (strcmp(w->key, "requires") == 0 ||
	    strcmp(w->key, "after") == 0) {
		char **slot = w->key[0] == 'r' ? &p->requires_s : &p->after_s;

		free(*slot);
		*slot = strdup(v);
	} else if (strcmp(w->key, "owner") == 0) {
		if (owners(p, v, w) == -1)
			bad(w, "expected user names and @groups that exist");
	} else if (strcmp(w->key, "env_file") == 0) {
		if (env_file(p, v) == -1)
			bad(w, "cannot be read, or a line is not NAME=VALUE");
	} else if (strcmp(w->key, "directory") == 0) {
		free(p->directory);
		if (v[0] != '/' || (p->directory = strdup(v)) == NULL)
			bad(w, "expected an absolute path");
	} else if (strcmp(w->key, "user") == 0) {
		if (user_of(p, v) == -1)
			bad(w, "no such user");
	} else if (strcmp(w->key, "environment") == 0) {
		if (environment(p, v) == -1)
			bad(w, "expected NAME=VALUE words (quotes allowed)");
	} else if (strcmp(w->key, "umask") == 0) {
		m = strtoul(v, &end, 8);
		if (v[0] == '\0' || *end != '\0' || m > 0777)
			bad(w, "expected an octal mask such as 022");
		p->umask = (mode_t)m;
	} else if (strcmp(w->key, "autostart") == 0) {
		if (yes_no(v, &p->autostart) == -1)
			bad(w, "expected yes or no");
	} else if (strcmp(w->key, "restart") == 0) {
		if (strcmp(v, "no") == 0)
			p->restart = RESTART_NO;
		else if (strcmp(v, "on-failure") == 0)
			p->restart = RESTART_ON_FAILURE;
		else if (strcmp(v, "always") == 0)
			p->restart = RESTART_ALWAYS;
		else
			bad(w, "expected no, on-failure or always");
	} else if (strcmp(w->key, "exit_codes") == 0) {
		if (exit_codes(p, v) == -1)
			bad(w, "expected exit statuses 0 to 255, at most 16");
	} else if (strcmp(w->key, "start_secs") == 0) {
		if (duration(v, &p->start_ms) == -1)
			bad(w, "expected a duration (1, 500ms, 2s, 1m)");
	} else if (strcmp(w->key, "backoff") == 0) {
		if (backoff(p, v) == -1)
			bad(w, "expected MIN..MAX, such as 1s..60s");
	} else if (strcmp(w->key, "start_limit") == 0) {
		if (start_limit(p, v) == -1)
			bad(w, "expected N/WINDOW, such as 5/60s (N at most 30)");
	} else if (strcmp(w->key, "stop_signal") == 0) {
		if ((p->stop_signal = signal_of(v)) == -1)
			bad(w, "expected a signal name such as TERM or INT");
	} else if (strcmp(w->key, "stop_timeout") == 0) {
		if (duration(v, &p->stop_ms) == -1)
			bad(w, "expected a duration (10s)");
	} else if (strcmp(w->key, "ready") == 0) {
		if (readiness(p, v) == -1)
			bad(w, "expected none, notify or fd:N (N from 3 to 255)");
	} else if (strcmp(w->key, "start_timeout") == 0) {
		if (duration(v, &p->ready_ms) == -1 || p->ready_ms == 0)
			bad(w, "expected a duration above 0 (90s)");
	} else if (strcmp(w->key, "memory_max") == 0) {
		if (size_of(v, &p->memory_max) == -1)
			bad(w, "expected a size of at least 64K (512M, 2G)");
	} else if (strcmp(w->key, "pids_max") == 0) {
		if (count_of(v, 4194304, &p->pids_max) == -1)
			bad(w, "expected a count from 1 to 4194304");
	} else if (strcmp(w->key, "nofile") == 0) {
		if (count_of(v, 1048576, &p->nofile) == -1)
			bad(w, "expected a count from 1 to 1048576");
	} else if (strcmp(w->key, "output") == 0) {
		if ((p->output = proc_output_parse(v)) == -1)
			bad(w, "expected ring, file, journal, null or inherit");
		else if (p->output == OUTPUT_FILE && proc_conf.log_dir[0] ==
		    '\0')
			bad(w, "file needs log_dir in [plugin:proc]");
	} else if (strcmp(w->key, "log_ring") == 0) {
		if (proc_ring_parse(v, &p->log_ring) == -1)
			bad(w, "expected a size from 0 to 64M (64K, 1M)");
	} else
		bad(w, "unknown key (docs/programs.md lists them)");
}

/* A program's settings before its section says anything (and those of
 * a `run --restart` one, progadhoc.c). */
void
program_defaults(struct program *p)
{
	p->umask = proc_conf.umask;
	p->autostart = 1;
	p->restart = RESTART_ON_FAILURE;
	p->exit_codes[0] = 0;
	p->nexit_codes = 1;
	p->start_ms = 1000;
	p->backoff_min_ms = 1000;
	p->backoff_max_ms = 60000;
	p->limit_starts = 5;
	p->limit_window_ms = 60000;
	p->stop_signal = SIGTERM;
	p->stop_ms = 10000;
	p->ready_ms = 90000;
	p->output = proc_conf.output;
	p->log_ring = proc_conf.log_ring;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
	p->numprocs = 1;
}

/* S with %(program_name)s and %(process_num)d (or %(process_num)0Nd)
 * replaced, as supervisord writes them; malloc'd. */
static char *
expand(const char *s, const char *name, unsigned num)
{
	char *out, *o, fmt[16];
	const char *q;
	size_t cap = strlen(s) * 4 + 64;
	int width;

	if ((out = o = malloc(cap)) == NULL)
		return NULL;
	while (*s != '\0' && (size_t)(o - out) < cap - 24) {
		if (strncmp(s, "%(program_name)s", 16) == 0) {
			o += snprintf(o, cap - (size_t)(o - out), "%s", name);
			s += 16;
		} else if (strncmp(s, "%(process_num)", 14) == 0 &&
		    (q = strchr(s + 14, 'd')) != NULL && q - s <= 17) {
			width = atoi(s + 14);
			snprintf(fmt, sizeof(fmt), "%%%s%dd", s[14] == '0' ?
			    "0" : "", width);
			o += snprintf(o, cap - (size_t)(o - out), fmt, num);
			s = q + 1;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

/* FILE's variables, then ENV's, a later NAME replacing an earlier. */
static char **
merge_env(char *const *file, char *const *env)
{
	char **out, *const *src[2] = { file, env };
	size_t n = 0, i, k, len;
	int s;

	for (s = 0; s < 2; s++)
		for (i = 0; src[s] != NULL && src[s][i] != NULL; i++)
			n++;
	if (n == 0 || (out = calloc(n + 1, sizeof(*out))) == NULL)
		return NULL;
	for (n = 0, s = 0; s < 2; s++)
		for (i = 0; src[s] != NULL && src[s][i] != NULL; i++) {
			len = strcspn(src[s][i], "=") + 1;
			for (k = 0; k < n && strncmp(out[k], src[s][i], len);
			    k++)
				;
			if (k < n)
				free(out[k]);
			else
				n++;
			out[k] = strdup(src[s][i]);
		}
	return out;
}

/* Instance NUM of T (numprocs > 1: NAME:NUM, its command expanded). */
static int
instance(const struct program *t, unsigned num, struct program *p)
{
	const char *err;
	char *cmd;

	*p = *t;
	p->name = p->group = p->command = p->directory = p->user = NULL;
	p->file = NULL;
	p->argv = p->env = NULL;
	if (t->numprocs > 1) {
		if (asprintf(&p->name, "%s:%u", t->name, num) == -1)
			return -1;
		p->group = strdup(t->name);
	} else
		p->name = strdup(t->name);
	if ((cmd = expand(t->command, t->name, num)) == NULL)
		return -1;
	p->command = cmd;
	p->argv = split_words(cmd, &err);
	p->directory = t->directory ? strdup(t->directory) : NULL;
	p->user = t->user ? strdup(t->user) : NULL;
	p->file = strdup(t->file);
	p->env_file = NULL;
	p->env = merge_env(t->env_file, t->env);
	p->requires_s = t->requires_s ? strdup(t->requires_s) : NULL;
	p->after_s = t->after_s ? strdup(t->after_s) : NULL;
	p->requires = p->after = NULL;
	p->nrequires = p->nafter = 0;
	p->owner_uids = NULL;
	p->owner_gids = NULL;
	if ((t->nowner_uids > 0 && (p->owner_uids = calloc(t->nowner_uids,
	    sizeof(uid_t))) == NULL) || (t->nowner_gids > 0 &&
	    (p->owner_gids = calloc(t->nowner_gids, sizeof(gid_t))) == NULL))
		return -1;
	if (t->nowner_uids > 0)
		memcpy(p->owner_uids, t->owner_uids, t->nowner_uids *
		    sizeof(uid_t));
	if (t->nowner_gids > 0)
		memcpy(p->owner_gids, t->owner_gids, t->nowner_gids *
		    sizeof(gid_t));
	return p->name == NULL || p->argv == NULL || p->file == NULL ||
	    (t->numprocs > 1 && p->group == NULL) ? -1 : 0;
}

void
progconf_clear(struct program *p)
{
	free(p->name);
	free(p->group);
	free(p->command);
	free_words(p->argv);
	free(p->directory);
	free(p->user);
	free(p->file);
	free_words(p->env);
	free_words(p->env_file);
	free(p->owner_uids);
	free(p->owner_gids);
	free(p->requires_s);
	free(p->after_s);
	free(p->requires);
	free(p->after);
	free(p->waiters);
	memset(p, 0, sizeof(*p));
}

static int
valid_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	return i > 0 && i < 64;
}

/* Every [program:NAME]: 0, or -1 after logging every problem. */
int
progconf_load(void)
{
	struct where w;
	struct program t, *p = &t, **grown;
	const char *name;
	size_t i, k;
	unsigned num;
	int line, errors = 0;

	for (i = 0; (name = H->section(proc_self, "program", i, &line)) !=
	    NULL; i++) {
		memset(&t, 0, sizeof(t));
		program_defaults(p);
		p->line = line;
		memset(&w, 0, sizeof(w));
		w.name = name;
		w.file = H->section_file(proc_self, "program", i);
		if ((p->file = strdup(w.file)) == NULL)
			return -1;
		if ((p->name = strdup(name)) == NULL)
			return -1;
		if (!valid_name(name)) {
			H->log(proc_self, PROCCTL_LOG_ERROR, "%s:%d: [program:%s]"
			    ": a name is letters, digits, '-', '_' and '.'",
			    w.file, line, name);
			errors++;
		}
		for (k = 0; H->section_kv(proc_self, "program", name, k, &w.key,
		    &w.value, &w.line) == 0; k++)
			set_key(p, &w);
		if (p->argv == NULL && w.errors == 0) {
			H->log(proc_self, PROCCTL_LOG_ERROR, "%s:%d: [program:%s]"
			    " needs a command", w.file, line,
			    name);
			errors++;
		}
		errors += w.errors;
		if (errors > 0) {
			progconf_clear(&t);
			continue;
		}
		/* One program per instance: worker:0 ... worker:N-1. */
		if ((grown = realloc(programs, (nprograms + t.numprocs) *
		    sizeof(*programs))) == NULL) {
			progconf_clear(&t);
			return -1;
		}
		programs = grown;
		for (num = 0; num < t.numprocs; num++) {
			if ((programs[nprograms] = calloc(1,
			    sizeof(**programs))) == NULL ||
			    instance(&t, t.numprocs_start + num,
			    programs[nprograms++]) == -1) {
				progconf_clear(&t);
				return -1;
			}
		}
		progconf_clear(&t);
	}
	return errors > 0 ? -1 : 0;
}

void
progconf_free(void)
{
	size_t i;

	for (i = 0; i < nprograms; i++) {
		progconf_clear(programs[i]);
		free(programs[i]);
	}
	free(programs);
	programs = NULL;
	nprograms = 0;
}

struct program *
program_find(const char *name)
{
	size_t i;

	for (i = 0; i < nprograms; i++)
		if (!programs[i]->removed &&
		    strcmp(programs[i]->name, name) == 0)
			return programs[i];
	return NULL;
}

/* The programs NAMES ("db cache", a numprocs group meaning all its
 * instances) into *OUT: 0, or -1 after logging what is unknown. */
static int
link_names(struct program *g, const char *key, const char *names,
    struct program ***out, size_t *n)
{
	char word[128];
	size_t len, i, before;
	void *grown;

	*out = NULL;
	*n = 0;
	while (names != NULL && *names != '\0') {
		names += strspn(names, " ,\t");
		if ((len = strcspn(names, " ,\t")) == 0)
			break;
		snprintf(word, sizeof(word), "%.*s", (int)len, names);
		names += len;
		before = *n;
		for (i = 0; i < nprograms; i++) {
			if (programs[i]->removed || programs[i]->adhoc)
				continue;
			if (strcmp(programs[i]->name, word) != 0 &&
			    (programs[i]->group == NULL ||
			    strcmp(programs[i]->group, word) != 0))
				continue;
			if (programs[i] == g ||
			    (grown = realloc(*out, (*n + 1) *
			    sizeof(**out))) == NULL)
				continue;
			*out = grown;
			(*out)[(*n)++] = programs[i];
		}
		if (*n == before) {
			H->log(proc_self, PROCCTL_LOG_ERROR, "%s:%d: [program:%s] "
			    "%s = %s: no program named '%s'",
			    g->file, g->line, g->group ?
			    g->group : g->name, key, word, word);
			return -1;
		}
	}
	return 0;
}

/* Does following requires/after from G come back to it? */
static int
cycle(struct program *g, struct program *from, unsigned depth)
{
	size_t i;

	if (depth > nprograms)
		return 1;
	for (i = 0; i < from->nrequires; i++)
		if (from->requires[i] == g ||
		    cycle(g, from->requires[i], depth + 1))
			return 1;
	for (i = 0; i < from->nafter; i++)
		if (from->after[i] == g || cycle(g, from->after[i], depth + 1))
			return 1;
	return 0;
}

int
progconf_link(void)
{
	size_t i;
	int errors = 0;

	for (i = 0; i < nprograms; i++)
		if (link_names(programs[i], "requires",
		    programs[i]->requires_s, &programs[i]->requires,
		    &programs[i]->nrequires) == -1 ||
		    link_names(programs[i], "after", programs[i]->after_s,
		    &programs[i]->after, &programs[i]->nafter) == -1)
			errors++;
	for (i = 0; errors == 0 && i < nprograms; i++)
		if (cycle(programs[i], programs[i], 0)) {
			H->log(proc_self, PROCCTL_LOG_ERROR, "%s:%d: [program:%s] "
			    "requires or comes after itself (a cycle)",
			    programs[i]->file, programs[i]->line,
			    programs[i]->name);
			errors++;
		}
	return errors > 0 ? -1 : 0;
}

void
progconf_relink(void)
{
	size_t i;

	for (i = 0; i < nprograms; i++) {
		free(programs[i]->requires);
		free(programs[i]->after);
		programs[i]->requires = programs[i]->after = NULL;
		programs[i]->nrequires = programs[i]->nafter = 0;
	}
	(void)progconf_link();	/* checked on the new list before */
}
