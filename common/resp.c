#include "resp.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_MAX		32	/* longest "*<count>\r\n" / "$<len>\r\n" */
#define SIMPLE_MAX	(64 * 1024)

/* Index of the "\r\n" that ends the line at P, or -1 if not within N. */
static long
find_crlf(const char *p, size_t n)
{
	size_t i = 0;
	const char *q;

	while (i + 1 < n) {
		q = memchr(p + i, '\r', n - i - 1);
		if (q == NULL)
			return -1;
		i = (size_t)(q - p);
		if (p[i + 1] == '\n')
			return (long)i;
		i++;
	}
	return -1;
}

/* Parse a decimal integer filling exactly P[0..N). */
static int
parse_ll(const char *p, size_t n, long long *out)
{
	char tmp[HDR_MAX];
	char *end;
	long long v;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
		return -1;
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
grow_argv(struct resp_req *r, size_t need)
{
	struct procctl_arg *a;
	size_t cap;

	if (need <= r->argv_cap)
		return 0;
	cap = r->argv_cap ? r->argv_cap : 8;
	while (cap < need)
		cap *= 2;
	if ((a = realloc(r->argv, cap * sizeof(*a))) == NULL)
		return -1;
	r->argv = a;
	r->argv_cap = cap;
	return 0;
}

static int
parse_multibulk(struct resp_req *r, char *p, size_t n, size_t *used,
    const struct resp_limits *lim, const char **err)
{
	long long count, len;
	size_t pos, total;
	long e;
	int i;

	if ((e = find_crlf(p, n < HDR_MAX ? n : HDR_MAX)) < 0) {
		if (n >= HDR_MAX) {
			*err = "invalid multibulk length";
			return RESP_BAD;
		}
		return RESP_MORE;
	}
	if (parse_ll(p + 1, (size_t)e - 1, &count) == -1) {
		*err = "invalid multibulk length";
		return RESP_BAD;
	}
	pos = (size_t)e + 2;
	if (count <= 0) {
		r->argc = 0;
		*used = pos;
		return RESP_OK;
	}
	if ((unsigned long long)count > lim->max_args) {
		*err = "too many arguments in request";
		return RESP_BAD;
	}
	if (grow_argv(r, (size_t)count) == -1) {
		*err = "out of memory";
		return RESP_BAD;
	}
	total = 0;
	for (i = 0; i < count; i++) {
		if (pos >= n)
			return RESP_MORE;
		if (p[pos] != '$') {
			*err = "expected '$' in multibulk request";
			return RESP_BAD;
		}
		e = find_crlf(p + pos, n - pos < HDR_MAX ? n - pos : HDR_MAX);
		if (e < 0) {
			if (n - pos >= HDR_MAX) {
				*err = "invalid bulk length";
				return RESP_BAD;
			}
			return RESP_MORE;
		}
		if (parse_ll(p + pos + 1, (size_t)e - 1, &len) == -1 ||
		    len < 0) {
			*err = "invalid bulk length";
			return RESP_BAD;
		}
		total += (size_t)len;
		if ((unsigned long long)len > lim->max_bulk ||
		    total > lim->max_bulk) {
			*err = "request too large";
			return RESP_BAD;
		}
		pos += (size_t)e + 2;
		if (n - pos < (size_t)len + 2)
			return RESP_MORE;
		if (p[pos + (size_t)len] != '\r' ||
		    p[pos + (size_t)len + 1] != '\n') {
			*err = "bulk string not terminated by CRLF";
			return RESP_BAD;
		}
		r->argv[i].ptr = p + pos;
		r->argv[i].len = (size_t)len;
		pos += (size_t)len + 2;
	}
	/* Complete: terminate each argument in place (over its '\r'). */
	for (i = 0; i < count; i++)
		((char *)r->argv[i].ptr)[r->argv[i].len] = '\0';
	r->argc = (int)count;
	*used = pos;
	return RESP_OK;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
push_off(size_t **offs, size_t *cap, size_t count, size_t off)
{
	size_t *o, c;

	if (count >= *cap) {
		c = *cap ? *cap * 2 : 8;
		if ((o = realloc(*offs, c * sizeof(*o))) == NULL)
			return -1;
		*offs = o;
		*cap = c;
	}
	(*offs)[count] = off;
	return 0;
}

int
resp_split_line(const char *s, size_t n, struct buf *out, size_t **offs,
    size_t *offs_cap, size_t max_args, const char **err)
{
	size_t i = 0, count = 0;
	char c;
	int h, l;

	buf_reset(out);
	for (;;) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		    s[i] == '\n'))
			i++;
		if (i >= n)
			break;
		if (count >= max_args) {
			*err = "too many arguments in request";
			return -1;
		}
		if (push_off(offs, offs_cap, count, out->len) == -1)
			goto nomem;
		count++;
		while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n') {
			if (s[i] == '"') {
				for (i++; i < n && s[i] != '"'; i++) {
					c = s[i];
					if (c == '\\' && i + 1 < n) {
						c = s[++i];
						if (c == 'n')
							c = '\n';
						else if (c == 'r')
							c = '\r';
						else if (c == 't')
							c = '\t';
						else if (c == '0')
							c = '\0';
						else if (c == 'x' && i + 2 < n &&
						    (h = hexval(s[i + 1])) >= 0 &&
						    (l = hexval(s[i + 2])) >= 0) {
							c = (char)(h * 16 + l);
							i += 2;
						}
					}
					if (buf_append(out, &c, 1) == -1)
						goto nomem;
				}
				if (i >= n) {
					*err = "unbalanced quotes in request";
					return -1;
				}
				i++;
			} else if (s[i] == '\'') {
				for (i++; i < n && s[i] != '\''; i++) {
					c = s[i];
					if (c == '\\' && i + 1 < n &&
					    s[i + 1] == '\'')
						c = s[++i];
					if (buf_append(out, &c, 1) == -1)
						goto nomem;
				}
				if (i >= n) {
					*err = "unbalanced quotes in request";
					return -1;
				}
				i++;
			} else {
				if (buf_append(out, &s[i], 1) == -1)
					goto nomem;
				i++;
			}
		}
		if (buf_append(out, "", 1) == -1)
			goto nomem;
	}
	return (int)count;
nomem:
	*err = "out of memory";
	return -1;
}

static int
parse_inline(struct resp_req *r, char *p, size_t n, size_t *used,
    const struct resp_limits *lim, const char **err)
{
	char *nl;
	size_t linelen, i;
	int count;

	nl = memchr(p, '\n', n < lim->max_inline ? n : lim->max_inline);
	if (nl == NULL) {
		if (n >= lim->max_inline) {
			*err = "inline request too long";
			return RESP_BAD;
		}
		return RESP_MORE;
	}
	linelen = (size_t)(nl - p);
	count = resp_split_line(p, linelen, &r->scratch, &r->offs,
	    &r->offs_cap, lim->max_args, err);
	if (count < 0)
		return RESP_BAD;
	if (grow_argv(r, (size_t)count) == -1) {
		*err = "out of memory";
		return RESP_BAD;
	}
	for (i = 0; i < (size_t)count; i++) {
		r->argv[i].ptr = r->scratch.data + r->offs[i];
		if (i + 1 < (size_t)count)
			r->argv[i].len = r->offs[i + 1] - r->offs[i] - 1;
		else
			r->argv[i].len = r->scratch.len - r->offs[i] - 1;
	}
	r->argc = count;
	*used = linelen + 1;
	return RESP_OK;
}

int
resp_parse_request(struct resp_req *r, char *p, size_t n, size_t *used,
    const struct resp_limits *lim, const char **err)
{
	r->argc = 0;
	if (n == 0)
		return RESP_MORE;
	if (p[0] == '*')
		return parse_multibulk(r, p, n, used, lim, err);
	return parse_inline(r, p, n, used, lim, err);
}

void
resp_req_free(struct resp_req *r)
{
	free(r->argv);
	free(r->offs);
	buf_free(&r->scratch);
	memset(r, 0, sizeof(*r));
}

/* ---- values (client side) ---- */

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

/* A line's text (after its type byte): one line, so no CR or LF. */
static int
line_value(struct resp_value *v, const char *p, size_t n, const char **err)
{
	if (memchr(p, '\r', n) != NULL || memchr(p, '\n', n) != NULL) {
		*err = "CR or LF inside a line";
		return RESP_BAD;
	}
	switch (v->type) {
	case RESP_T_DOUBLE:
		if (!valid_double(p, n)) {
			*err = "invalid double";
			return RESP_BAD;
		}
		break;
	case RESP_T_BIGNUM:
		if (!valid_bignum(p, n)) {
			*err = "invalid big number";
			return RESP_BAD;
		}
		break;
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

/* $, = and !: a length, the bytes and CRLF.  P is past the header. */
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

static int
parse_value(const char *p, size_t n, size_t *used, struct resp_value *v,
    const char **err, int depth, struct budget *bg)
{
	long long num;
	long e;
	size_t pos, u;
	int type, rc;

	memset(v, 0, sizeof(*v));
	if (depth > RESP_VALUE_MAX_DEPTH) {
		*err = "reply nested too deeply";
		return RESP_BAD;
	}
	if (bg->values-- <= 0) {
		*err = "reply has too many values";
		return RESP_BAD;
	}
	if (n == 0)
		return RESP_MORE;
	if ((e = find_crlf(p, n < SIMPLE_MAX ? n : SIMPLE_MAX)) < 0) {
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
	case '+':
	case '-':
	case ',':
	case '(':
		if ((rc = line_value(v, p + 1, (size_t)e - 1, err)) != RESP_OK)
			return rc;
		break;
	case ':':
		if (parse_ll(p + 1, (size_t)e - 1, &v->integer) == -1) {
			*err = "invalid integer";
			return RESP_BAD;
		}
		break;
	case '#':
		if (e != 2 || (p[1] != 't' && p[1] != 'f')) {
			*err = "invalid boolean";
			return RESP_BAD;
		}
		v->integer = p[1] == 't';
		break;
	case '_':
		if (e != 1) {
			*err = "invalid null";
			return RESP_BAD;
		}
		break;
	case '$':
	case '=':
	case '!':
		if (parse_ll(p + 1, (size_t)e - 1, &num) == -1 || num < -1 ||
		    (num == -1 && type != '$') || num > RESP_VALUE_MAX_BULK) {
			*err = "invalid bulk length";
			return RESP_BAD;
		}
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
		if (parse_ll(p + 1, (size_t)e - 1, &num) == -1 || num < -1 ||
		    (num == -1 && type != '*')) {
			*err = "invalid aggregate length";
			return RESP_BAD;
		}
		if (num == -1) {
			v->type = RESP_T_NULL;
			break;
		}
		if (type == '%' || type == '|') {
			if (num > LLONG_MAX / 2) {
				*err = "aggregate too large";
				return RESP_BAD;
			}
			num *= 2;
		}
		if (type == '~')
			v->type = RESP_T_ARRAY;
		rc = parse_aggregate(p, n, &pos, v, num, err, depth, bg);
		if (rc != RESP_OK)
			return rc;
		if (type == '|') {
			/* Attributes annotate the next value: skip them.  One
			 * level deeper, so that a chain of them is bounded. */
			resp_value_free(v);
			rc = parse_value(p + pos, n - pos, &u, v, err,
			    depth + 1, bg);
			if (rc != RESP_OK)
				return rc;
			pos += u;
		}
		break;
	default:
		*err = "unknown reply type";
		return RESP_BAD;
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

/* ---- encoding ---- */

/* Simple strings and errors are one line: CR and LF become spaces. */
static int
put_line(struct buf *b, char type, const char *s1, const char *s2)
{
	size_t start = b->len, i;

	if (buf_append(b, &type, 1) == -1 || buf_puts(b, s1) == -1)
		return -1;
	if (s2 != NULL && (buf_append(b, " ", 1) == -1 ||
	    buf_puts(b, s2) == -1))
		return -1;
	for (i = start + 1; i < b->len; i++)
		if (b->data[i] == '\r' || b->data[i] == '\n')
			b->data[i] = ' ';
	return buf_append(b, "\r\n", 2);
}

int
resp_put_simple(struct buf *b, const char *s)
{
	return put_line(b, '+', s, NULL);
}

int
resp_put_error(struct buf *b, const char *code, const char *msg)
{
	return put_line(b, '-', code, msg);
}

/* TYPE, the decimal V, CRLF: the header of nearly every value, so
 * without printf. */
static int
put_num(struct buf *b, char type, long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;

	*--p = '\n';
	*--p = '\r';
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	*--p = type;
	return buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int
resp_put_int(struct buf *b, long long v)
{
	return put_num(b, ':', v);
}

int
resp_put_double_text(struct buf *b, int proto, const char *text)
{
	if (proto >= 3)
		return put_line(b, ',', text, NULL);
	return resp_put_bulk(b, text, strlen(text));
}

int
resp_put_double(struct buf *b, int proto, double v)
{
	char tmp[64];

	if (isinf(v))
		snprintf(tmp, sizeof(tmp), "%s", v > 0 ? "inf" : "-inf");
	else if (isnan(v))
		snprintf(tmp, sizeof(tmp), "nan");
	else
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	return resp_put_double_text(b, proto, tmp);
}

int
resp_put_bignum(struct buf *b, int proto, const char *digits)
{
	if (proto >= 3)
		return put_line(b, '(', digits, NULL);
	return resp_put_bulk(b, digits, strlen(digits));
}

int
resp_put_bulk(struct buf *b, const void *p, size_t n)
{
	if (put_num(b, '$', (long long)n) == -1 ||
	    buf_append(b, p, n) == -1)
		return -1;
	return buf_append(b, "\r\n", 2);
}

int
resp_put_null(struct buf *b, int proto)
{
	return buf_puts(b, proto >= 3 ? "_\r\n" : "$-1\r\n");
}

int
resp_put_bool(struct buf *b, int proto, int v)
{
	if (proto >= 3)
		return buf_puts(b, v ? "#t\r\n" : "#f\r\n");
	return buf_puts(b, v ? ":1\r\n" : ":0\r\n");
}

int
resp_put_array(struct buf *b, size_t n)
{
	return put_num(b, '*', (long long)n);
}

int
resp_put_map(struct buf *b, int proto, size_t n)
{
	if (proto >= 3)
		return put_num(b, '%', (long long)n);
	return put_num(b, '*', (long long)(n * 2));
}

int
resp_put_push(struct buf *b, int proto, size_t n)
{
	return put_num(b, proto >= 3 ? '>' : '*', (long long)n);
}

int
resp_put_command(struct buf *b, int argc, const char *const *argv,
    const size_t *lens)
{
	int i;

	if (resp_put_array(b, (size_t)argc) == -1)
		return -1;
	for (i = 0; i < argc; i++)
		if (resp_put_bulk(b, argv[i],
		    lens ? lens[i] : strlen(argv[i])) == -1)
			return -1;
	return 0;
}

int
resp_put_value(struct buf *b, int proto, const struct resp_value *v)
{
	size_t i;
	int rc;

	switch (v->type) {
	case RESP_T_SIMPLE:
		return resp_put_simple(b, v->str);
	case RESP_T_ERROR:
		return put_line(b, '-', v->str, NULL);
	case RESP_T_INT:
		return resp_put_int(b, v->integer);
	case RESP_T_DOUBLE:
		return resp_put_double_text(b, proto, v->str);
	case RESP_T_BIGNUM:
		return resp_put_bignum(b, proto, v->str);
	case RESP_T_BULK:
	case RESP_T_VERBATIM:
		return resp_put_bulk(b, v->str, v->len);
	case RESP_T_NULL:
		return resp_put_null(b, proto);
	case RESP_T_BOOL:
		return resp_put_bool(b, proto, (int)v->integer);
	case RESP_T_MAP:
		rc = resp_put_map(b, proto, v->n / 2);
		break;
	case RESP_T_PUSH:
		rc = resp_put_push(b, proto, v->n);
		break;
	default:
		rc = resp_put_array(b, v->n);
		break;
	}
	for (i = 0; rc == 0 && i < v->n; i++)
		rc = resp_put_value(b, proto, &v->elem[i]);
	return rc;
}
