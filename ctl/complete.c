/*
 * What Tab offers in the shell, from the daemon's description of its
 * commands alone (cmdinfo.c): the first word is a shell command or one of
 * the daemon's; after it, the words of the command's declared arguments,
 * by position.  A `keyword` argument offers its words, `program` and
 * `file` offer file names, and one with a `complete` source offers the
 * values that the source command's reply, and the push events it names,
 * hold in its fields.  A word starting with '-' where options may come
 * offers the option names.  A command that does not declare its arguments
 * completes nothing after its name.
 *
 * Words are walked as the daemon parses them (docs/protocol.md): options
 * first, until "--" or the first word that is not one; then each word
 * fills the next argument that still has room; a `rest` argument takes
 * every word after it as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"
#include "escape.h"

/* Candidates are kept as "KEY\037VALUE", so that one strv holds every
 * field of a source and a value is offered only for the fields asked. */
#define SEP		'\037'
#define MAX_VALUES	10000	/* per source: a bound on what events add */
#define SOURCE_MAX	256	/* bytes of a source command line */
#define SOURCE_WORDS	8	/* its words: a command and its keywords */

struct cands {
	char		*from;		/* the source command, or event kind */
	struct strv	 keys;		/* the fields anyone wants from it */
	struct strv	 values;	/* KEY SEP VALUE */
};

static const char *const local_cmds[] = {
	"connect", "disconnect", "exit", "quit", "help", NULL
};
static const char *const connect_opts[] = {
	"--tls", "--cacert", "--cert", "--key", NULL
};

static const struct cmd_table no_commands;

static struct {
	const struct cmd_table *tab;	/* the shell's; NULL: none */
	struct cands	*src;		/* per distinct complete.command */
	size_t		 nsrc;
	struct cands	*ev;		/* per event kind named */
	size_t		 nev;
} cp;

static void
free_cands(struct cands **set, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		free((*set)[i].from);
		strv_free(&(*set)[i].keys);
		strv_free(&(*set)[i].values);
	}
	free(*set);
	*set = NULL;
	*n = 0;
}

void
complete_reset(void)
{
	cp.tab = NULL;
	free_cands(&cp.src, &cp.nsrc);
	free_cands(&cp.ev, &cp.nev);
}

static struct cands *
find_cands(struct cands *set, size_t n, const char *from)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(set[i].from, from) == 0)
			return &set[i];
	return NULL;
}

/* The entry for FROM, made if new; it is to hold the fields KEYS. */
static void
want_cands(struct cands **set, size_t *n, const char *from,
    const struct strv *keys)
{
	struct cands *c, *l;
	size_t i;

	if ((c = find_cands(*set, *n, from)) == NULL) {
		if ((l = realloc(*set, (*n + 1) * sizeof(*l))) == NULL)
			return;
		*set = l;
		c = &l[*n];
		memset(c, 0, sizeof(*c));
		if ((c->from = strdup(from)) == NULL)
			return;
		(*n)++;
	}
	for (i = 0; i < keys->n; i++)
		strv_add(&c->keys, keys->v[i]);
}

/* A source complete_put_source can send: a command and a few keywords
 * (SOURCE_WORDS at most, SOURCE_MAX bytes).  One that is not is left
 * out, not the others with it: a daemon's odd command cannot turn the
 * completion of every other off. */
static int
sendable(const char *src)
{
	size_t len = strlen(src), words = 0, i;

	if (len >= SOURCE_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (src[i] != ' ' && (i == 0 || src[i - 1] == ' '))
			words++;
	return words > 0 && words <= SOURCE_WORDS;
}

/* Note, for every argument that names them, its source command and the
 * events that add to it, with the fields wanted from each. */
void
complete_set_commands(const struct cmd_table *tab)
{
	const struct cmd_param *p;
	size_t i, j, k;

	complete_reset();
	cp.tab = tab;
	for (i = 0; i < cp.tab->n; i++)
		for (j = 0; j < cp.tab->v[i].nparams; j++) {
			p = &cp.tab->v[i].params[j];
			if (p->source != NULL && sendable(p->source))
				want_cands(&cp.src, &cp.nsrc, p->source,
				    &p->fields);
			for (k = 0; k < p->events.n; k++)
				want_cands(&cp.ev, &cp.nev, p->events.v[k],
				    &p->fields);
		}
}

size_t
complete_nsources(void)
{
	return cp.nsrc;
}

const char *
complete_source(size_t i)
{
	return i < cp.nsrc ? cp.src[i].from : NULL;
}

/* A source names a command line ("list all"): its words, as the daemon
 * is sent them.  At most a few: a source is a command and its keywords. */
int
complete_put_source(struct buf *b, size_t i)
{
	const char *argv[SOURCE_WORDS], *src = complete_source(i);
	char words[SOURCE_MAX], *w, *save;
	int argc = 0;

	if (src == NULL || strlen(src) >= sizeof(words))
		return -1;
	strcpy(words, src);
	for (w = strtok_r(words, " ", &save); w != NULL && argc < SOURCE_WORDS;
	    w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	if (argc == 0)
		return -1;
	return resp_put_command(b, argc, argv, NULL);
}

/* A value that can be typed as one word, and shown as it is (nothing a
 * terminal would obey: escape_needed): offered; others are not. */
static void
note_value(struct cands *c, const char *key, const struct resp_value *v)
{
	char text[512];
	int n;

	if (c->values.n >= MAX_VALUES)
		return;
	if (v->type == RESP_T_INT)
		n = snprintf(text, sizeof(text), "%s%c%lld", key, SEP,
		    v->integer);
	else if ((v->type == RESP_T_BULK || v->type == RESP_T_SIMPLE) &&
	    v->len > 0 && strlen(v->str) == v->len &&
	    v->str[strcspn(v->str, " \"'\\")] == '\0' &&
	    !escape_needed(v->str, v->len))
		n = snprintf(text, sizeof(text), "%s%c%s", key, SEP, v->str);
	else
		return;
	if (n > 0 && (size_t)n < sizeof(text))
		strv_add(&c->values, text);
}

static void
note_record(struct cands *c, const struct resp_value *rec)
{
	const struct resp_value *v;
	size_t i;

	for (i = 0; i < c->keys.n; i++)
		if ((v = resp_map_get(rec, c->keys.v[i])) != NULL)
			note_value(c, c->keys.v[i], v);
}

void
complete_note_reply(size_t i, const struct resp_value *reply)
{
	size_t j;

	if (i >= cp.nsrc || reply->type != RESP_T_ARRAY)
		return;
	strv_free(&cp.src[i].values);
	for (j = 0; j < reply->n; j++)
		note_record(&cp.src[i], &reply->elem[j]);
}

void
complete_note_event(const struct resp_value *push)
{
	struct cands *c;

	/* ["event", KIND, RECORD] */
	if (push->n < 3 || push->elem[1].str == NULL ||
	    (c = find_cands(cp.ev, cp.nev, push->elem[1].str)) == NULL)
		return;
	note_record(c, &push->elem[2]);
}

/* ---- the words for a Tab ---- */

/* An option, not a word: "-x", "--x"; not "-" nor "-5". */
static int
is_option(const char *w)
{
	return w[0] == '-' && w[1] != '\0' &&
	    !(w[1] >= '0' && w[1] <= '9') && !(w[1] == '.' && w[2] != '\0');
}

static const struct cmd_option *
find_option(const struct cmd_info *ci, const char *w)
{
	size_t i, n;

	for (i = 0; i < ci->nopts; i++) {
		const struct cmd_option *o = &ci->opts[i];

		n = strlen(o->name);
		if (w[1] == '-' && strncmp(w + 2, o->name, n) == 0 &&
		    (w[2 + n] == '\0' || w[2 + n] == '='))
			return o;
		if (w[1] != '-' && o->letter != 0 && w[1] == o->letter &&
		    w[2] == '\0')
			return o;
	}
	return NULL;
}

static int
keyword_matches(const struct cmd_param *p, const char *w)
{
	size_t i;

	for (i = 0; i < p->words.n; i++)
		if (strcasecmp(p->words.v[i], w) == 0)
			return 1;
	return 0;
}

/* Where the words before the one being completed have put us. */
struct walk {
	size_t	 param;		/* the argument being filled */
	long long count;	/* words it has */
	int	 options;	/* options may still come */
	int	 value;		/* the next word is an option's value */
	int	 rest;		/* inside a `rest` argument */
};

static void
walk_word(const struct cmd_info *ci, struct walk *w, const char *word)
{
	const struct cmd_option *o;
	const struct cmd_param *p;

	if (w->value) {
		w->value = 0;
		return;
	}
	if (w->rest) {
		w->count++;
		return;
	}
	if (w->options && is_option(word)) {
		if (strcmp(word, "--") == 0)
			w->options = 0;
		else if ((o = find_option(ci, word)) != NULL &&
		    o->value != NULL && strchr(word, '=') == NULL)
			w->value = 1;
		return;
	}
	w->options = 0;
	while (w->param < ci->nparams) {
		p = &ci->params[w->param];
		/* Full, or an optional keyword this word is not: next. */
		if ((p->max > 0 && w->count >= p->max) ||
		    (strcmp(p->type, "keyword") == 0 && w->count >= p->min &&
		    !keyword_matches(p, word) && w->param + 1 < ci->nparams)) {
			w->param++;
			w->count = 0;
			continue;
		}
		w->count++;
		w->rest = p->rest;
		return;
	}
}

/* What argument P offers, added to OUT. */
static void
param_words(const struct cmd_param *p, struct strv *out, int *files)
{
	const struct cands *c;
	const char *v;
	size_t i, j, k, n;

	if (strcmp(p->type, "keyword") == 0)
		for (i = 0; i < p->words.n; i++)
			strv_add(out, p->words.v[i]);
	if (strcmp(p->type, "program") == 0 || strcmp(p->type, "file") == 0)
		*files = 1;
	for (k = 0; k <= p->events.n; k++) {
		if (k < p->events.n)
			c = find_cands(cp.ev, cp.nev, p->events.v[k]);
		else
			c = p->source == NULL ? NULL :
			    find_cands(cp.src, cp.nsrc, p->source);
		for (i = 0; c != NULL && i < c->values.n; i++)
			for (j = 0; j < p->fields.n; j++) {
				v = c->values.v[i];
				n = strlen(p->fields.v[j]);
				if (strncmp(v, p->fields.v[j], n) == 0 &&
				    v[n] == SEP)
					strv_add(out, v + n + 1);
			}
	}
}

/* The candidates for TEXT where the walk W has got to: option names, or
 * what the next arguments offer. */
static void
command_words(const struct cmd_info *ci, const struct walk *w,
    const char *text, struct strv *out, int *files)
{
	const struct cmd_param *p;
	size_t i = w->param;
	long long count = w->count;

	if (w->value)
		return;
	if (w->options && ci->nopts > 0 && text[0] == '-' &&
	    !(text[1] >= '0' && text[1] <= '9')) {
		for (i = 0; i < ci->nopts; i++) {
			char opt[256];

			snprintf(opt, sizeof(opt), "--%s", ci->opts[i].name);
			strv_add(out, opt);
			if (ci->opts[i].letter != 0) {
				snprintf(opt, sizeof(opt), "-%c",
				    ci->opts[i].letter);
				strv_add(out, opt);
			}
		}
		return;
	}
	/* This word goes to the argument being filled if it has room, else
	 * to the next; and past an optional one, to the one after. */
	for (; i < ci->nparams; i++, count = 0) {
		p = &ci->params[i];
		if (!w->rest && p->max > 0 && count >= p->max)
			continue;
		param_words(p, out, files);
		if (w->rest || p->rest || count < p->min)
			break;
	}
}

/* Split what precedes the word, find the command, walk its words. */
char **
complete_words(const char *line, int start, const char *text, int *files)
{
	struct buf words = { 0 };
	struct strv out = { 0 };
	struct walk w = { 0, 0, 1, 0, 0 };
	const struct cmd_info *ci;
	size_t *offs = NULL, offs_cap = 0, i;
	const char *err, *first;
	const struct cmd_table *tab = cp.tab != NULL ? cp.tab : &no_commands;
	int argc;

	*files = 0;
	argc = resp_split_line(line, (size_t)start, &words, &offs, &offs_cap,
	    4096, &err);
	if (argc < 0)
		goto done;
	if (argc == 0) {
		for (i = 0; local_cmds[i] != NULL; i++)
			strv_add(&out, local_cmds[i]);
		for (i = 0; i < tab->n; i++)
			strv_add(&out, tab->v[i].name);
		goto done;
	}
	first = words.data + offs[0];
	if (strcasecmp(first, "help") == 0) {
		for (i = 0; argc == 1 && i < tab->n; i++)
			strv_add(&out, tab->v[i].name);
		goto done;
	}
	if (strcasecmp(first, "connect") == 0) {
		for (i = 0; text[0] == '-' && connect_opts[i] != NULL; i++)
			strv_add(&out, connect_opts[i]);
		*files = text[0] != '-';
		goto done;
	}
	if ((ci = cmdinfo_find(tab, first)) == NULL || ci->params == NULL)
		goto done;
	for (i = 1; i < (size_t)argc; i++)
		walk_word(ci, &w, words.data + offs[i]);
	command_words(ci, &w, text, &out, files);
done:
	free(offs);
	buf_free(&words);
	return out.v;
}
