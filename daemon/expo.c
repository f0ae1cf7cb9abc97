/*
 * The Prometheus text format (version 0.0.4), written family by family:
 * "# HELP", "# TYPE", then the family's samples, each
 * name{label="value",...} value.  Whoever writes -- the core, or a plugin
 * through host->metric_family and host->metric_sample -- cannot break
 * it: names are checked against the format's syntax (and the procctl_
 * prefix), a name is written once, a counter's ends in _total, a sample
 * belongs to the family begun last, and label values are escaped (\\,
 * \", \n; a byte that is not UTF-8 becomes U+FFFD, which the format
 * needs).  What is refused is logged, once per writer and page, and left
 * out: a scrape gets a valid page either way.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "procctld.h"

#define PREFIX		"procctl_"
#define MAX_LABELS	16

static const char *const type_names[] = { "counter", "gauge", "histogram" };

void
expo_begin(struct procctl_metrics *m, struct buf *out)
{
	memset(m, 0, sizeof(*m));
	m->out = out;
	m->who = "core";
	m->type = -1;
}

void
expo_set_owner(struct procctl_metrics *m, const char *who)
{
	m->who = who;
	m->type = -1;	/* a plugin's samples never join another's family */
	m->warned = 0;
}

void
expo_end(struct procctl_metrics *m)
{
	size_t i;

	for (i = 0; i < m->nnames; i++)
		free(m->names[i]);
	free(m->names);
	m->names = NULL;
	m->nnames = 0;
}

static int
refuse(struct procctl_metrics *m, const char *fmt, const char *what)
{
	if (!m->warned) {
		char line[256];

		snprintf(line, sizeof(line), fmt, what);
		log_warn("metrics from %s: %s; left out", m->who, line);
		m->warned = 1;
	}
	return -1;
}

static int
name_ok(const char *s, int metric)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > EXPO_NAME_MAX - 16)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char ch = s[i];

		if (ch == '_' || (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (metric && ch == ':') ||
		    (i > 0 && ch >= '0' && ch <= '9'))
			continue;
		return 0;
	}
	return 1;
}

static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* Text for a HELP line: a backslash and a newline escaped. */
static void
put_help(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else
			buf_append(b, s, 1);
	}
}

int
expo_family(struct procctl_metrics *m, const char *name, int type,
    const char *help)
{
	char **grown, *copy;
	size_t i;

	m->type = -1;
	if (!name_ok(name, 1) || strncmp(name, PREFIX, strlen(PREFIX)) != 0)
		return refuse(m, "family name '%.64s' is not procctl_ then "
		    "[a-zA-Z0-9_:]", name ? name : "(null)");
	if (type < EXPO_COUNTER || type > EXPO_HISTOGRAM)
		return refuse(m, "family %.64s: no such type", name);
	if ((type == EXPO_COUNTER) != ends_with(name, "_total"))
		return refuse(m, "family %.64s: a counter's name, and only "
		    "a counter's, ends in _total", name);
	for (i = 0; i < m->nnames; i++)
		if (strcmp(m->names[i], name) == 0)
			return refuse(m, "family %.64s is written twice", name);
	if ((grown = realloc(m->names, (m->nnames + 1) *
	    sizeof(*grown))) == NULL)
		return -1;
	m->names = grown;
	if ((copy = strdup(name)) == NULL)
		return -1;
	m->names[m->nnames++] = copy;
	snprintf(m->family, sizeof(m->family), "%s", name);
	m->type = type;
	buf_printf(m->out, "# HELP %s ", name);
	put_help(m->out, help != NULL ? help : "");
	buf_printf(m->out, "\n# TYPE %s %s\n", name, type_names[type]);
	return 0;
}

/* What a plugin may begin: counters and gauges. */
int
expo_plugin_family(struct procctl_metrics *m, const char *name, int type,
    const char *help)
{
	if (type != EXPO_COUNTER && type != EXPO_GAUGE) {
		m->type = -1;
		return refuse(m, "family %.64s: a plugin writes counters and "
		    "gauges", name ? name : "(null)");
	}
	return expo_family(m, name, type, help);
}

/* A label value between its quotes. */
static void
put_label_value(struct buf *b, const char *s)
{
	size_t len = strlen(s), i = 0, n;
	uint32_t cp;

	while (i < len) {
		if (s[i] == '\\' || s[i] == '"') {
			buf_append(b, "\\", 1);
			buf_append(b, s + i++, 1);
		} else if (s[i] == '\n') {
			buf_puts(b, "\\n");
			i++;
		} else if ((n = escape_utf8(s + i, len - i, &cp)) == 0) {
			buf_puts(b, "\xef\xbf\xbd");	/* U+FFFD */
			i++;
		} else {
			buf_append(b, s + i, n);
			i += n;
		}
	}
}

static void
put_value(struct buf *b, double v)
{
	if (isnan(v))
		buf_puts(b, "NaN");
	else if (isinf(v))
		buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_printf(b, "%.0f", v);
	else {
		char text[40];

		/* The shortest of 15 or 17 digits that reads back as V. */
		snprintf(text, sizeof(text), "%.15g", v);
		if (strtod(text, NULL) != v)
			snprintf(text, sizeof(text), "%.17g", v);
		buf_puts(b, text);
	}
}

/* LABELS checked: names well formed, none twice, none reserved. */
static int
labels_ok(struct procctl_metrics *m, const char *const *labels)
{
	size_t i, j;

	for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		if (i / 2 == MAX_LABELS)
			return refuse(m, "a sample of %.64s has too many "
			    "labels", m->family);
		if (labels[i + 1] == NULL)
			return refuse(m, "label '%.64s' has no value",
			    labels[i]);
		if (!name_ok(labels[i], 0) || strncmp(labels[i], "__", 2) == 0)
			return refuse(m, "label name '%.64s' is not "
			    "[a-zA-Z_][a-zA-Z0-9_]* (nor __...)", labels[i]);
		if (m->type == EXPO_HISTOGRAM && strcmp(labels[i], "le") == 0)
			return refuse(m, "label 'le' is a histogram's own%s",
			    "");
		for (j = 0; j < i; j += 2)
			if (strcmp(labels[i], labels[j]) == 0)
				return refuse(m, "label '%.64s' given twice",
				    labels[i]);
	}
	return 0;
}

/* NAME{LABELS[,le="LE"]} VALUE */
static void
put_sample(struct procctl_metrics *m, const char *suffix,
    const char *const *labels, const char *le, double v)
{
	struct buf *b = m->out;
	size_t i;
	int any = 0;

	buf_printf(b, "%s%s", m->family, suffix);
	for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		buf_printf(b, "%s%s=\"", any ? "," : "{", labels[i]);
		put_label_value(b, labels[i + 1]);
		buf_append(b, "\"", 1);
		any = 1;
	}
	if (le != NULL) {
		buf_printf(b, "%sle=\"%s\"", any ? "," : "{", le);
		any = 1;
	}
	buf_puts(b, any ? "} " : " ");
	put_value(b, v);
	buf_append(b, "\n", 1);
}

int
expo_sample(struct procctl_metrics *m, const char *const *labels,
    double value)
{
	if (m->type != EXPO_COUNTER && m->type != EXPO_GAUGE)
		return refuse(m, "a sample with no counter or gauge family "
		    "begun before it%s", "");
	if (labels_ok(m, labels) == -1)
		return -1;
	if (m->type == EXPO_COUNTER && !(value >= 0))
		return refuse(m, "counter %.64s below zero", m->family);
	put_sample(m, "", labels, NULL, value);
	return 0;
}

/* A histogram's samples: COUNTS[i] observations in bucket i (BOUNDS[i]
 * the upper bound of the N buckets, COUNTS[N] above the last), written
 * cumulative as the format wants, then _sum and _count. */
int
expo_histogram(struct procctl_metrics *m, const char *const *labels,
    const double *bounds, const uint64_t *counts, size_t n, double sum)
{
	char le[32];
	uint64_t total = 0;
	size_t i;

	if (m->type != EXPO_HISTOGRAM)
		return refuse(m, "histogram samples with no histogram family "
		    "begun before them%s", "");
	if (labels_ok(m, labels) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		total += counts[i];
		snprintf(le, sizeof(le), "%g", bounds[i]);
		put_sample(m, "_bucket", labels, le, (double)total);
	}
	total += counts[n];
	put_sample(m, "_bucket", labels, "+Inf", (double)total);
	put_sample(m, "_sum", labels, NULL, sum);
	put_sample(m, "_count", labels, NULL, (double)total);
	return 0;
}
