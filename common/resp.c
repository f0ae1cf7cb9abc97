/*
 * RESP: requests as the daemon parses them (multibulk and inline, within
 * the connection's limits), and every value encoded for RESP2 or RESP3.
 * Values as a client reads them are respvalue.c's.
 */
#include "resp.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_MAX		32	/* longest "*<count>\r\n" / "$<len>\r\n" */

long
resp_find_crlf(const char *p, size_t n)
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

int
resp_parse_ll(const char *p, size_t n, long long *out)
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

	if ((e = resp_find_crlf(p, n < HDR_MAX ? n : HDR_MAX)) < 0) {
		if (n >= HDR_MAX) {
			*err = "invalid multibulk length";
			return RESP_BAD;
		}
		return RESP_MORE;
	}
	if (resp_parse_ll(p + 1, (size_t)e - 1, &count) == -1) {
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
		e = resp_find_crlf(p + pos, n - pos < HDR_MAX ? n - pos :
		    HDR_MAX);
		if (e < 0) {
			if (n - pos >= HDR_MAX) {
				*err = "invalid bulk length";
				return RESP_BAD;
			}
			return RESP_MORE;
		}
		if (resp_parse_ll(p + pos + 1, (size_t)e - 1, &len) == -1 ||
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
resp_put_verbatim(struct buf *b, int proto, const char *fmt, const void *p,
    size_t n)
{
	if (proto < 3 || strlen(fmt) != 3)
		return resp_put_bulk(b, p, n);
	if (put_num(b, '=', (long long)n + 4) == -1 ||
	    buf_append(b, fmt, 3) == -1 || buf_append(b, ":", 1) == -1 ||
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
