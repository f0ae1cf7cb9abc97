/*
 * The daemon's commands as it describes them (the command maps of HELLO
 * and COMMAND, docs/protocol.md "Core commands"), read into a table that
 * help and completion use.  This is all procctl knows of any daemon
 * command.  A daemon that sends less (an older one: no group, no options,
 * no args) gives a table with less in it, never an error: a missing group
 * is "other", missing args mean the arguments are not declared.  Its
 * strings are kept as a person is shown them (escape_display): help
 * prints them, and the shell offers them to be typed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"
#include "escape.h"

int
strv_add(struct strv *v, const char *w)
{
	char **l;
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->v[i], w) == 0)
			return 0;
	if ((l = realloc(v->v, (v->n + 2) * sizeof(*l))) == NULL)
		return -1;
	v->v = l;
	if ((l[v->n] = strdup(w)) == NULL)
		return -1;
	l[++v->n] = NULL;
	return 0;
}

void
strv_free(struct strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

/* The text of a string value of MAP's KEY, or NULL. */
static const char *
get_str(const struct resp_value *map, const char *key)
{
	const struct resp_value *v = resp_map_get(map, key);

	if (v == NULL || (v->type != RESP_T_BULK && v->type != RESP_T_SIMPLE &&
	    v->type != RESP_T_VERBATIM))
		return NULL;
	return v->str;
}

static long long
get_int(const struct resp_value *map, const char *key, long long def)
{
	const struct resp_value *v = resp_map_get(map, key);

	return v != NULL && v->type == RESP_T_INT ? v->integer : def;
}

/* S as help shows it: what the daemon says is shown, so nothing in it
 * may drive a terminal (escape_display).  Malloc'd, or NULL. */
static char *
shown(const char *s)
{
	size_t len = strlen(s);
	char *out;

	if ((out = malloc(4 * len + 1)) != NULL)
		escape_display(out, 4 * len + 1, s, len);
	return out;
}

/* A copy of MAP's KEY, or of DEF, as shown; -1 only when out of memory. */
static int
dup_str(char **dst, const struct resp_value *map, const char *key,
    const char *def)
{
	const char *s = get_str(map, key);

	*dst = NULL;
	if (s == NULL && (s = def) == NULL)
		return 0;
	return (*dst = shown(s)) == NULL ? -1 : 0;
}

/* The strings of the array MAP[KEY], or none. */
static int
get_strv(struct strv *out, const struct resp_value *map, const char *key)
{
	const struct resp_value *a = resp_map_get(map, key);
	size_t i;
	char *w;

	memset(out, 0, sizeof(*out));
	if (a == NULL || (a->type != RESP_T_ARRAY && a->type != RESP_T_SET))
		return 0;
	for (i = 0; i < a->n; i++) {
		if (a->elem[i].str == NULL || a->elem[i].type == RESP_T_ERROR)
			continue;
		if ((w = shown(a->elem[i].str)) == NULL ||
		    strv_add(out, w) == -1) {
			free(w);
			return -1;
		}
		free(w);
	}
	return 0;
}

static int
read_option(struct cmd_option *o, const struct resp_value *m)
{
	const char *l = get_str(m, "letter");

	o->letter = l != NULL && strlen(l) == 1 && l[0] > ' ' && l[0] < 0x7f ?
	    l[0] : 0;
	if (dup_str(&o->name, m, "name", NULL) == -1 ||
	    dup_str(&o->value, m, "value", NULL) == -1 ||
	    dup_str(&o->summary, m, "summary", "") == -1)
		return -1;
	return 0;
}

/* An argument map; a `complete` map names where candidates come from. */
static int
read_param(struct cmd_param *p, const struct resp_value *m)
{
	const struct resp_value *rest, *c;

	p->min = get_int(m, "min", 1);
	p->max = get_int(m, "max", 1);
	rest = resp_map_get(m, "rest");
	p->rest = rest != NULL && (rest->type == RESP_T_BOOL ||
	    rest->type == RESP_T_INT) && rest->integer != 0;
	if (dup_str(&p->name, m, "name", "arg") == -1 ||
	    dup_str(&p->type, m, "type", "word") == -1 ||
	    get_strv(&p->words, m, "words") == -1)
		return -1;
	c = resp_map_get(m, "complete");
	if (c == NULL || c->type != RESP_T_MAP)
		return 0;
	if (dup_str(&p->source, c, "command", NULL) == -1 ||
	    get_strv(&p->fields, c, "fields") == -1 ||
	    get_strv(&p->events, c, "events") == -1)
		return -1;
	return 0;
}

/* Options and arguments, when the command declares them. */
static int
read_args(struct cmd_info *ci, const struct resp_value *m)
{
	const struct resp_value *a;
	size_t i;

	a = resp_map_get(m, "options");
	if (a != NULL && a->type == RESP_T_ARRAY && a->n > 0) {
		if ((ci->opts = calloc(a->n, sizeof(*ci->opts))) == NULL)
			return -1;
		for (i = 0; i < a->n; i++)
			if (a->elem[i].type == RESP_T_MAP &&
			    get_str(&a->elem[i], "name") != NULL &&
			    read_option(&ci->opts[ci->nopts++], &a->elem[i])
			    == -1)
				return -1;
	}
	a = resp_map_get(m, "args");
	if (a == NULL || a->type != RESP_T_ARRAY)
		return 0;
	/* One more than needed: declaring none is not NULL. */
	if ((ci->params = calloc(a->n + 1, sizeof(*ci->params))) == NULL)
		return -1;
	for (i = 0; i < a->n; i++)
		if (a->elem[i].type == RESP_T_MAP &&
		    read_param(&ci->params[ci->nparams++], &a->elem[i]) == -1)
			return -1;
	return 0;
}

/* A command map; what is missing takes its default. */
static int
read_command(struct cmd_info *ci, const struct resp_value *m)
{
	struct strv flags;
	size_t i;

	ci->arity = get_int(m, "arity", 0);
	if (dup_str(&ci->name, m, "name", NULL) == -1 ||
	    dup_str(&ci->usage, m, "usage", get_str(m, "name")) == -1 ||
	    dup_str(&ci->summary, m, "summary", "") == -1 ||
	    dup_str(&ci->group, m, "group", "other") == -1 ||
	    dup_str(&ci->plugin, m, "plugin", "") == -1 ||
	    get_strv(&flags, m, "flags") == -1)
		return -1;
	for (i = 0; i < flags.n; i++)
		if (strcmp(flags.v[i], "admin") == 0)
			ci->admin = 1;
	strv_free(&flags);
	return read_args(ci, m);
}

static void
free_command(struct cmd_info *ci)
{
	size_t i;

	for (i = 0; i < ci->nopts; i++) {
		free(ci->opts[i].name);
		free(ci->opts[i].value);
		free(ci->opts[i].summary);
	}
	for (i = 0; i < ci->nparams; i++) {
		free(ci->params[i].name);
		free(ci->params[i].type);
		free(ci->params[i].source);
		strv_free(&ci->params[i].words);
		strv_free(&ci->params[i].fields);
		strv_free(&ci->params[i].events);
	}
	free(ci->opts);
	free(ci->params);
	free(ci->name);
	free(ci->usage);
	free(ci->summary);
	free(ci->group);
	free(ci->plugin);
}

/* Maps that are not command maps (no name) are skipped, and with ONLY
 * those of another name. */
static int
parse(struct cmd_table *tab, const struct resp_value *arr, const char *only)
{
	const struct resp_value *m;
	size_t i;

	memset(tab, 0, sizeof(*tab));
	if (arr == NULL || arr->type != RESP_T_ARRAY || arr->n == 0)
		return 0;
	if ((tab->v = calloc(arr->n, sizeof(*tab->v))) == NULL)
		return -1;
	for (i = 0; i < arr->n; i++) {
		m = &arr->elem[i];
		if (m->type != RESP_T_MAP || get_str(m, "name") == NULL ||
		    (only != NULL && strcasecmp(get_str(m, "name"), only) != 0))
			continue;
		if (read_command(&tab->v[tab->n++], m) == -1) {
			cmdinfo_free(tab);
			return -1;
		}
	}
	return 0;
}

int
cmdinfo_parse(struct cmd_table *tab, const struct resp_value *arr)
{
	return parse(tab, arr, NULL);
}

int
cmdinfo_parse_one(struct cmd_table *tab, const struct resp_value *arr,
    const char *name)
{
	return parse(tab, arr, name);
}

void
cmdinfo_free(struct cmd_table *tab)
{
	size_t i;

	for (i = 0; i < tab->n; i++)
		free_command(&tab->v[i]);
	free(tab->v);
	tab->v = NULL;
	tab->n = 0;
}

const struct cmd_info *
cmdinfo_find(const struct cmd_table *tab, const char *name)
{
	size_t i;

	for (i = 0; i < tab->n; i++)
		if (strcasecmp(tab->v[i].name, name) == 0)
			return &tab->v[i];
	return NULL;
}

/* "-", "-5", "-.5": words, not options (the daemon's rule, args.c). */
static int
looks_like_option(const char *w)
{
	return w[0] == '-' && w[1] != '\0' &&
	    !(w[1] >= '0' && w[1] <= '9') && w[1] != '.';
}

static const struct cmd_option *
option_named(const struct cmd_info *ci, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ci->nopts; i++)
		if (strlen(ci->opts[i].name) == len &&
		    strncmp(ci->opts[i].name, name, len) == 0)
			return &ci->opts[i];
	return NULL;
}

static const struct cmd_option *
option_letter(const struct cmd_info *ci, char letter)
{
	size_t i;

	for (i = 0; i < ci->nopts; i++)
		if (ci->opts[i].letter == letter)
			return &ci->opts[i];
	return NULL;
}

/*
 * The words are read as the daemon parses them (docs/protocol.md):
 * options anywhere among the positional words, `--name`, `--name=value`,
 * `--name value`, `-l`, `-lvalue`, `-l value`, `-ab`; `--` ends them, and
 * so does the first positional word of a command with a `rest` argument.
 * An option the command does not declare is skipped: the daemon will say
 * what is wrong with it.
 */
int
cmdinfo_option_given(const struct cmd_info *ci, int argc,
    const char *const *argv, const char *name)
{
	const struct cmd_option *o;
	const char *w, *eq;
	size_t i;
	int k, rest = 0;

	for (i = 0; i < ci->nparams; i++)
		rest |= ci->params[i].rest;
	for (k = 1; k < argc && ci->nopts > 0; k++) {
		w = argv[k];
		if (strcmp(w, "--") == 0)
			break;
		if (!looks_like_option(w)) {
			if (rest)
				break;
			continue;
		}
		if (w[1] == '-') {
			eq = strchr(w + 2, '=');
			o = option_named(ci, w + 2, eq != NULL ?
			    (size_t)(eq - w - 2) : strlen(w + 2));
			if (o != NULL && strcmp(o->name, name) == 0)
				return 1;
			if (o != NULL && o->value != NULL && eq == NULL)
				k++;		/* its value */
			continue;
		}
		for (i = 1; w[i] != '\0'; i++) {
			if ((o = option_letter(ci, w[i])) == NULL)
				continue;
			if (strcmp(o->name, name) == 0)
				return 1;
			if (o->value != NULL) {
				k += w[i + 1] == '\0';	/* the next word */
				break;
			}
		}
	}
	return 0;
}
