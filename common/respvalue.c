/*
 * Values as a client reads them: what procctl makes of a server's bytes.
 * A client cannot trust its server, so nothing is guessed at: a value is
 * taken only as RESP3 writes it (numbers, doubles, big numbers, booleans;
 * no CR or LF inside a line; lengths and counts within the bounds of
 * resp.h; nesting bounded; a push only at the top), and anything else is
 * RESP_BAD with the reason.  resp_scan_value says when a value being
 * received is whole, looking at each byte once however many reads it
 * takes; resp_parse_value then makes it.
 */
#include "resp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SIMPLE_MAX	(64 * 1024)	/* one line: a header, a number */

static char *
dup_bytes(const char *p, size_t n)
{
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* What one parse may still make: the values a reply may hold in all
 * (RESP_VALUE_MAX_ELEMS), so that no reply, however nested, makes more. */
struct budget {
	long long	 values;
};

static int parse_value(const char *, size_t, size_t *, struct resp_value *,
    const char **, int, struct budget *);

/* Digits, at least one, filling P[0..N). */
static int
all_digits(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* A big number as RESP3 writes it: an optional sign, then digits. */
static int
valid_bignum(const char *p, size_t n)
{
	if (n > 0 && (p[0] == '-' || p[0] == '+'))
		p++, n--;
	return all_digits(p, n);
}

/* A double as RESP3 writes it: [sign] digits [. digits] [e [sign]
 * digits], or inf, -inf, nan. */
static int
valid_double(const char *p, size_t n)
{
	size_t i = 0, d;

	if ((n == 3 && memcmp(p, "inf", 3) == 0) ||
	    (n == 4 && memcmp(p, "-inf", 4) == 0) ||
	    (n == 3 && memcmp(p, "nan", 3) == 0))
		return 1;
	if (i < n && (p[i] == '-' || p[i] == '+'))
		i++;
	for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		;
	if (i == d)
		return 0;
	if (i < n && p[i] == '.') {
		for (d = ++i; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		if (++i < n && (p[i] == '-' || p[i] == '+'))
			i++;
		for (d = i; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i == n;
}

/* The text P[0..N) of a one-line value of TYPE (after its type byte):
 * 0, or -1 with *err set. */
static int
check_line(int type, const char *p, size_t n, const char **err)
{
	long long num;

	switch (type) {
	case '+':
	case '-':
		if (memchr(p, '\r', n) != NULL || memchr(p, '\n', n) != NULL) {
			*err = "CR or LF inside a line";
			return -1;
		}
		return 0;
	case ',':
		*err = "invalid double";
		return valid_double(p, n) ? 0 : -1;
	case '(':
		*err = "invalid big number";
		return valid_bignum(p, n) ? 0 : -1;
	case ':':
		*err = "invalid integer";
		return resp_parse_ll(p, n, &num);
	case '#':
		*err = "invalid boolean";
		return n == 1 && (p[0] == 't' || p[0] == 'f') ? 0 : -1;
	case '_':
		*err = "invalid null";
		return n == 0 ? 0 : -1;
	}
	*err = "unknown reply type";
	return -1;
}

/* The length of a string ($ = !) or the count of an aggregate (* ~ > %
 * |) in the header P[0..N): 0, or -1 with *err set.  -1 (a RESP2 null)
 * only where RESP2 has it: "$-1" and "*-1". */
static int
check_header(int type, const char *p, size_t n, long long *num,
    const char **err)
{
	int blob = type == '$' || type == '=' || type == '!';

	*err = blob ? "invalid bulk length" : "invalid aggregate length";
	if (resp_parse_ll(p, n, num) == -1 || *num < -1 ||
	    (*num == -1 && type != '$' && type != '*'))
		return -1;
	if (blob && *num > RESP_VALUE_MAX_BULK)
		return -1;
	if ((type == '%' || type == '|') && *num > LLONG_MAX / 2) {
		*err = "aggregate too large";
		return -1;
	}
	return 0;
}

static int
parse_aggregate(const char *p, size_t n, size_t *used, struct resp_value *v,
    long long count, const char **err, int depth, struct budget *bg)
{
	struct resp_value *e;
	size_t pos = *used, u, cap = 0, i;
	int rc;

	v->n = 0;
	v->elem = NULL;
	/* Refused before any is read: a count no reply may hold. */
	if (count > bg->values) {
		*err = "aggregate too large";
		return RESP_BAD;
	}
	for (i = 0; i < (size_t)count; i++) {
		if (v->n == cap) {
			cap = cap ? cap * 2 : 4;
			if ((e = realloc(v->elem, cap * sizeof(*e))) == NULL) {
				*err = "out of memory";
				return RESP_BAD;
			}
			v->elem = e;
		}
		rc = parse_value(p + pos, n - pos, &u, &v->elem[v->n], err,
		    depth + 1, bg);
		if (rc != RESP_OK) {
			/* Not counted in v->n: free its parts here. */
			resp_value_free(&v->elem[v->n]);
			return rc;
		}
		v->n++;
		pos += u;
	}
	*used = pos;
	return RESP_OK;
}

/* $, = and !: NUM bytes and CRLF at P (past the header). */
static int
blob_value(struct resp_value *v, int type, long long num, const char *p,
    size_t n, const char **err)
{
	size_t len = (size_t)num, skip = 0;

	if (n < len || n - len < 2)
		return RESP_MORE;
	if (p[len] != '\r' || p[len + 1] != '\n') {
		*err = "bulk string not terminated by CRLF";
		return RESP_BAD;
	}
	v->type = type == '!' ? RESP_T_ERROR : RESP_T_BULK;
	if (type == '=') {
		/* "txt:": three bytes of format, then a colon. */
		if (len < 4 || p[3] != ':') {
			*err = "invalid verbatim string";
			return RESP_BAD;
		}
		skip = 4;
	}
	if ((v->str = dup_bytes(p + skip, len - skip)) == NULL) {
		*err = "out of memory";
		return RESP_BAD;
	}
	v->len = len - skip;
	return RESP_OK;
}

/* A one-line value: its text (P[0..N), checked) kept or read. */
static int
line_value(struct resp_value *v, const char *p, size_t n, const char **err)
{
	if (check_line(v->type, p, n, err) == -1)
		return RESP_BAD;
	switch (v->type) {
	case ':':
		resp_parse_ll(p, n, &v->integer);
		return RESP_OK;
	case '#':
		v->integer = p[0] == 't';
		return RESP_OK;
	case '_':
		return RESP_OK;
	}
	if ((v->str = dup_bytes(p, n)) == NULL) {
		*err = "out of memory";
		return RESP_BAD;
	}
	v->len = n;
	if (v->type == RESP_T_DOUBLE)
		v->dbl = strtod(v->str, NULL);
	return RESP_OK;
}

/* An aggregate of type TYPE and NUM elements, its header ending at *POS:
 * made, and *POS moved past it. */
static int
aggregate_value(const char *p, size_t n, size_t *pos, struct resp_value *v,
    int type, long long num, const char **err, int depth, struct budget *bg)
{
	size_t u;
	int rc;

	if (type == '%' || type == '|')
		num *= 2;
	if (type == '~')
		v->type = RESP_T_ARRAY;
	if ((rc = parse_aggregate(p, n, pos, v, num, err, depth, bg)) !=
	    RESP_OK || type != '|')
		return rc;
	/* Attributes annotate the next value: skip them.  One level deeper,
	 * so that a chain of them is bounded. */
	resp_value_free(v);
	rc = parse_value(p + *pos, n - *pos, &u, v, err, depth + 1, bg);
	if (rc == RESP_OK)
		*pos += u;
	return rc;
}

static int
parse_value(const char *p, size_t n, size_t *used, struct resp_value *v,
    const char **err, int depth, struct budget *bg)
{
	long long num;
	long e;
	size_t pos;
	int type, rc;

	memset(v, 0, sizeof(*v));
	if (depth > RESP_VALUE_MAX_DEPTH) {
		*err = "reply nested too deeply";
		return RESP_BAD;
	}
	if (n == 0)
		return RESP_MORE;
	if (bg->values-- <= 0) {
		*err = "reply has too many values";
		return RESP_BAD;
	}
	if ((e = resp_find_crlf(p, n < SIMPLE_MAX ? n : SIMPLE_MAX)) < 0) {
		if (n >= SIMPLE_MAX) {
			*err = "reply line too long";
			return RESP_BAD;
		}
		return RESP_MORE;
	}
	type = (unsigned char)p[0];
	v->type = type;
	pos = (size_t)e + 2;
	switch (type) {
	case '$':
	case '=':
	case '!':
		if (check_header(type, p + 1, (size_t)e - 1, &num, err) == -1)
			return RESP_BAD;
		if (num == -1) {
			v->type = RESP_T_NULL;
			break;
		}
		rc = blob_value(v, type, num, p + pos, n - pos, err);
		if (rc != RESP_OK)
			return rc;
		pos += (size_t)num + 2;
		break;
	case '>':
		/* Out of band: a push is never part of a reply. */
		if (depth > 0) {
			*err = "push inside a reply";
			return RESP_BAD;
		}
		/* FALLTHROUGH */
	case '*':
	case '~':
	case '%':
	case '|':
		if (check_header(type, p + 1, (size_t)e - 1, &num, err) == -1)
			return RESP_BAD;
		if (num == -1) {
			v->type = RESP_T_NULL;
			break;
		}
		rc = aggregate_value(p, n, &pos, v, type, num, err, depth, bg);
		if (rc != RESP_OK)
			return rc;
		break;
	default:
		if ((rc = line_value(v, p + 1, (size_t)e - 1, err)) != RESP_OK)
			return rc;
	}
	*used = pos;
	return RESP_OK;
}

int
resp_parse_value(const char *p, size_t n, size_t *used,
    struct resp_value *out, const char **err)
{
	struct budget bg = { RESP_VALUE_MAX_ELEMS };
	int rc;

	rc = parse_value(p, n, used, out, err, 0, &bg);
	if (rc != RESP_OK)
		resp_value_free(out);
	return rc;
}

/*
 * The value at S->off is whole: close the aggregates it completes.  1
 * when that completes the value the scan is for.
 */
static int
scan_done(struct resp_scan *s)
{
	while (s->depth > 0) {
		if (--s->left[s->depth - 1] > 0)
			return 0;
		s->depth--;
	}
	return 1;
}

/* One aggregate of NUM elements (of TYPE) opens at the current depth. */
static int
scan_open(struct resp_scan *s, int type, long long num)
{
	if (type == '%' || type == '|')
		num *= 2;
	if (type == '|')
		num++;	/* and the value the attributes annotate */
	if (num == 0)
		return scan_done(s);
	s->left[s->depth++] = num;
	return 0;
}

/*
 * Each header is looked at once, each string skipped whole.  Anything
 * the parser would refuse stops the scan with RESP_OK: the parser, run
 * then, says what is wrong, at once rather than when more bytes come.
 */
int
resp_scan_value(struct resp_scan *s, const char *p, size_t n)
{
	const char *err, *h;
	long long num;
	size_t at;
	long e;
	int type;

	for (;;) {
		/* The parser's bounds, in its order: nesting, then (once a
		 * byte of the value is there) values in all. */
		if (s->depth > RESP_VALUE_MAX_DEPTH)
			return RESP_OK;
		if (s->off >= n)
			return RESP_MORE;
		if (++s->values > RESP_VALUE_MAX_ELEMS)
			return RESP_OK;
		at = s->off;
		h = p + at;
		if ((e = resp_find_crlf(h, n - at < SIMPLE_MAX ? n - at :
		    SIMPLE_MAX)) < 0) {
			s->values--;
			return n - at >= SIMPLE_MAX ? RESP_OK : RESP_MORE;
		}
		type = (unsigned char)h[0];
		switch (type) {
		case '$':
		case '=':
		case '!':
			if (check_header(type, h + 1, (size_t)e - 1, &num,
			    &err) == -1)
				return RESP_OK;
			if (num == -1)
				break;
			/* The string is skipped, not looked at. */
			if (n - at - (size_t)e - 2 < (size_t)num + 2) {
				s->values--;
				return RESP_MORE;
			}
			h += e + 2;
			if (h[num] != '\r' || h[num + 1] != '\n' ||
			    (type == '=' && (num < 4 || h[3] != ':')))
				return RESP_OK;
			s->off += (size_t)num + 2;
			break;
		case '>':
			if (s->depth > 0)
				return RESP_OK;
			/* FALLTHROUGH */
		case '*':
		case '~':
		case '%':
		case '|':
			if (check_header(type, h + 1, (size_t)e - 1, &num,
			    &err) == -1 || (type == '%' || type == '|' ?
			    2 * num : num) > RESP_VALUE_MAX_ELEMS - s->values)
				return RESP_OK;
			if (num == -1)
				break;	/* a RESP2 null: one line */
			s->off += (size_t)e + 2;
			if (scan_open(s, type, num))
				return RESP_OK;
			continue;
		default:
			if (check_line(type, h + 1, (size_t)e - 1, &err) == -1)
				return RESP_OK;
		}
		s->off += (size_t)e + 2;
		if (scan_done(s))
			return RESP_OK;
	}
}

void
resp_value_free(struct resp_value *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		resp_value_free(&v->elem[i]);
	free(v->elem);
	free(v->str);
	memset(v, 0, sizeof(*v));
}

const struct resp_value *
resp_map_get(const struct resp_value *map, const char *key)
{
	size_t i;

	if (map->type != RESP_T_MAP && map->type != RESP_T_ARRAY)
		return NULL;
	for (i = 0; i + 1 < map->n; i += 2) {
		const struct resp_value *k = &map->elem[i];

		if (k->str != NULL && strcmp(k->str, key) == 0)
			return &map->elem[i + 1];
	}
	return NULL;
}
