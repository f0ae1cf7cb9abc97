/*
 * Arguments against a command's declaration, as tmux's args_parse does
 * for a cmd_entry: options (--name, --name=value, --name value, -l,
 * -lvalue, -l value, -ab for flags), `--` to end them, then positional
 * words counted and typed.  One error per request, always ending with the
 * usage line, so no handler walks argv for flags or writes its own usage
 * error.
 *
 * Options may come anywhere among the words (`greet world -l`), except in
 * a command with a `rest` parameter: there the first positional word ends
 * them, so a program's own arguments (`CMD prog -l`) keep their dashes.
 * `--` ends options in a command that declares some; in one that
 * declares none it is a word like any other.
 * A lone "-" and negative numbers are words.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "procctld.h"

static int
grow(struct cmd_args *a, size_t argc, size_t nopts)
{
	struct procctl_arg *v;
	const char **o;

	if (argc > a->argv_cap) {
		if ((v = realloc(a->argv, argc * sizeof(*v))) == NULL)
			return -1;
		a->argv = v;
		a->argv_cap = argc;
	}
	if (nopts > a->optv_cap) {
		if ((o = realloc(a->optv, nopts * sizeof(*o))) == NULL)
			return -1;
		a->optv = o;
		a->optv_cap = nopts;
	}
	return 0;
}

/* Option IDX was given VALUE: the last one wins for args_option, every
 * one is kept for args_option_at. */
static int
set_opt(struct cmd_args *a, size_t idx, const char *value)
{
	struct cmd_occ *o;

	if (a->nocc == a->occ_cap) {
		if ((o = reallocarray(a->occ, a->occ_cap ? 2 * a->occ_cap : 8,
		    sizeof(*o))) == NULL)
			return -1;
		a->occ = o;
		a->occ_cap = a->occ_cap ? 2 * a->occ_cap : 8;
	}
	a->occ[a->nocc].opt = idx;
	a->occ[a->nocc++].value = value;
	a->optv[idx] = value;
	return 0;
}

void
args_free(struct cmd_args *a)
{
	free(a->argv);
	free(a->occ);
	free(a->optv);
	memset(a, 0, sizeof(*a));
}

static int
fail(const struct command *c, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(const struct command *c, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, "; usage: %s", c->usage);
	return -1;
}

/* "-", "-5", "-.5", "-1e3": words, not options. */
static int
looks_like_option(const struct procctl_arg *w)
{
	if (w->len < 2 || w->ptr[0] != '-')
		return 0;
	return !isdigit((unsigned char)w->ptr[1]) && w->ptr[1] != '.';
}

static const struct cmd_option *
find_long(const struct command *c, const char *name, size_t len,
    size_t *idx)
{
	size_t i;

	for (i = 0; i < c->nopts; i++)
		if (strlen(c->opts[i].name) == len &&
		    memcmp(c->opts[i].name, name, len) == 0) {
			*idx = i;
			return &c->opts[i];
		}
	return NULL;
}

static const struct cmd_option *
find_letter(const struct command *c, char letter, size_t *idx)
{
	size_t i;

	for (i = 0; i < c->nopts; i++)
		if (c->opts[i].letter == letter && letter != 0) {
			*idx = i;
			return &c->opts[i];
		}
	return NULL;
}

/* The value of option O (written WHO) that follows at ARGV[*I + 1]:
 * NULL, with ERR set, when there is none or it hides a NUL. */
static const char *
next_value(const struct command *c, const struct cmd_option *o,
    const char *who, int argc, const struct procctl_arg *argv, int *i,
    char *err, size_t errlen)
{
	if (*i + 1 >= argc) {
		fail(c, err, errlen, "option '%s' needs a value (%s)", who,
		    o->value);
		return NULL;
	}
	if (strlen(argv[*i + 1].ptr) != argv[*i + 1].len) {
		fail(c, err, errlen, "option '%s': a value with a NUL byte",
		    who);
		return NULL;
	}
	return argv[++*i].ptr;
}

/* One option word at ARGV[*I] (and its value, which may be the next
 * word): 0, or -1 with ERR set. */
static int
parse_option(const struct command *c, int argc,
    const struct procctl_arg *argv, int *i, struct cmd_args *a, char *err,
    size_t errlen)
{
	const struct procctl_arg *w = &argv[*i];
	const struct cmd_option *o;
	const char *name, *eq, *val;
	char who[80];
	size_t idx, k;

	if (strlen(w->ptr) != w->len)
		return fail(c, err, errlen, "an option with a NUL byte");
	if (w->ptr[1] == '-') {
		name = w->ptr + 2;
		eq = strchr(name, '=');
		o = find_long(c, name, eq ? (size_t)(eq - name) : strlen(name),
		    &idx);
		if (o == NULL)
			return fail(c, err, errlen, "unknown option '--%.*s'",
			    (int)(eq ? eq - name : 64), name);
		if (o->value == NULL && eq != NULL)
			return fail(c, err, errlen, "option '--%s' takes no "
			    "value", o->name);
		snprintf(who, sizeof(who), "--%s", o->name);
		val = o->value == NULL ? "" : eq != NULL ? eq + 1 :
		    next_value(c, o, who, argc, argv, i, err, errlen);
		if (val == NULL)
			return -1;
		return set_opt(a, idx, val) == -1 ? fail(c, err, errlen,
		    "out of memory") : 0;
	}
	/* -abc: flags; a letter that takes a value takes the rest of the
	 * word, or the next word. */
	for (k = 1; k < w->len; k++) {
		if ((o = find_letter(c, w->ptr[k], &idx)) == NULL)
			return fail(c, err, errlen, "unknown option '-%c'",
			    isprint((unsigned char)w->ptr[k]) ? w->ptr[k] :
			    '?');
		snprintf(who, sizeof(who), "-%c", o->letter);
		val = o->value == NULL ? "" : k + 1 < w->len ? w->ptr + k + 1 :
		    next_value(c, o, who, argc, argv, i, err, errlen);
		if (val == NULL)
			return -1;
		if (set_opt(a, idx, val) == -1)
			return fail(c, err, errlen, "out of memory");
		if (o->value != NULL)
			break;
	}
	return 0;
}

/* Check W against P; a keyword is handed on as declared (its case). */
static int
check_word(const struct command *c, const struct cmd_param *p,
    struct procctl_arg *w, char *err, size_t errlen)
{
	char list[256];
	char *const *k;
	size_t len = 0;
	long long v;
	char *end;

	switch (p->type) {
	case PROCCTL_PARAM_KEYWORD:
		for (k = p->words; k != NULL && *k != NULL; k++)
			if (strlen(w->ptr) == w->len &&
			    strcasecmp(*k, w->ptr) == 0) {
				w->ptr = *k;
				return 0;
			}
		list[0] = '\0';
		for (k = p->words; k != NULL && *k != NULL &&
		    len < sizeof(list); k++)
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s", len ? ", " : "", *k);
		return fail(c, err, errlen, "'%.64s' is not one of: %s",
		    w->ptr, list);
	case PROCCTL_PARAM_INT:
		errno = 0;
		v = strtoll(w->ptr, &end, 10);
		(void)v;
		if (w->len == 0 || *end != '\0' || errno != 0 ||
		    (size_t)(end - w->ptr) != w->len ||
		    isspace((unsigned char)w->ptr[0]))
			return fail(c, err, errlen, "%s: '%.64s' is not an "
			    "integer", p->name, w->ptr);
		return 0;
	default:
		return 0;
	}
}

/* Share the positional words among the parameters, left to right, each
 * taking as many as it may while leaving the later ones their minimum. */
static int
assign(const struct command *c, struct cmd_args *a, char *err,
    size_t errlen)
{
	size_t nwords = (size_t)a->argc - 1, pos = 0, need, take, i, j;
	const struct cmd_param *p;

	for (i = 0; i < c->nparams; i++) {
		p = &c->params[i];
		need = 0;
		for (j = i + 1; j < c->nparams; j++)
			need += c->params[j].min;
		take = nwords - pos > need ? nwords - pos - need : 0;
		if (p->max != 0 && take > p->max)
			take = p->max;
		if (take < p->min && p->min > 1)
			return fail(c, err, errlen, "at least %u <%s> needed",
			    p->min, p->name);
		if (take < p->min)
			return fail(c, err, errlen, "<%s> missing", p->name);
		for (j = 0; j < take; j++)
			if (check_word(c, p, &a->argv[1 + pos + j], err,
			    errlen) == -1)
				return -1;
		pos += take;
	}
	if (pos < nwords)
		return fail(c, err, errlen, "too many arguments ('%.64s' and "
		    "after)", a->argv[1 + pos].ptr);
	return 0;
}

int
args_parse(const struct command *c, int argc, const struct procctl_arg *argv,
    struct cmd_args *a, char *err, size_t errlen)
{
	int i, options = c->nopts > 0, stop_at_word = 0;
	size_t k;

	if (grow(a, (size_t)argc, c->nopts) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (k = 0; k < c->nopts; k++)
		a->optv[k] = NULL;
	a->nocc = 0;
	for (k = 0; k < c->nparams; k++)
		if (c->params[k].flags & PROCCTL_PARAM_REST)
			stop_at_word = 1;
	a->argv[0] = argv[0];
	a->argc = 1;
	for (i = 1; i < argc; i++) {
		if (options && argv[i].len == 2 &&
		    memcmp(argv[i].ptr, "--", 2) == 0) {
			options = 0;
			continue;
		}
		if (options && looks_like_option(&argv[i])) {
			if (parse_option(c, argc, argv, &i, a, err, errlen)
			    == -1)
				return -1;
			continue;
		}
		if (stop_at_word)
			options = 0;
		a->argv[a->argc++] = argv[i];
	}
	return assign(c, a, err, errlen);
}

const char *
args_option(const struct command *c, const struct cmd_args *a,
    const char *name)
{
	size_t i;

	if (c == NULL || a == NULL)
		return NULL;
	for (i = 0; i < c->nopts; i++)
		if (strcmp(c->opts[i].name, name) == 0)
			return a->optv[i];
	return NULL;
}

int
args_keyword(const struct command *c, size_t param,
    const struct procctl_arg *w)
{
	char *const *k;
	int i;

	if (c == NULL || param >= c->nparams ||
	    strlen(w->ptr) != w->len)
		return -1;
	for (i = 0, k = c->params[param].words; k != NULL && *k != NULL;
	    k++, i++)
		if (strcasecmp(*k, w->ptr) == 0)
			return i;
	return -1;
}

const char *
args_option_at(const struct command *c, const struct cmd_args *a,
    const char *name, size_t index)
{
	size_t i;

	if (c == NULL || a == NULL)
		return NULL;
	for (i = 0; i < a->nocc; i++)
		if (strcmp(c->opts[a->occ[i].opt].name, name) == 0 &&
		    index-- == 0)
			return a->occ[i].value;
	return NULL;
}

char *
args_usage(const struct command *c)
{
	struct buf b = { 0 };
	const struct cmd_param *p;
	size_t i;

	buf_puts(&b, c->name);
	for (i = 0; i < c->nopts; i++) {
		buf_printf(&b, " [--%s", c->opts[i].name);
		if (c->opts[i].value != NULL)
			buf_printf(&b, " %s", c->opts[i].value);
		buf_puts(&b, "]");
	}
	for (i = 0; i < c->nparams; i++) {
		p = &c->params[i];
		if (p->min == 0)
			buf_printf(&b, " [%s%s]", p->name, p->max == 1 ? "" :
			    "...");
		else
			buf_printf(&b, " <%s>%s", p->name, p->max == 1 ? "" :
			    "...");
	}
	if (buf_append(&b, "", 1) == -1 || b.failed) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}
