/* The wire protocol: request parsing (multibulk and inline), value
 * parsing, encoding, as tables of input -> expected result. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "resp.h"

static const struct resp_limits lim = { 16, 64, 128 };

struct req_case {
	const char	*in;
	size_t		 inlen;		/* 0: strlen */
	int		 rc;
	int		 argc;
	const char	*args[4];
	size_t		 used;		/* 0: all of it */
};

static const struct req_case req_cases[] = {
	{ "*2\r\n$3\r\nadd\r\n$1\r\n1\r\n", 0, RESP_OK, 2, { "add", "1" }, 0 },
	{ "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", 0, RESP_OK, 1,
	  { "PING" }, 14 },
	{ "*2\r\n$3\r\nadd\r\n$1\r\n", 0, RESP_MORE, 0, { 0 }, 0 },
	{ "*2\r\n$3\r\nad", 0, RESP_MORE, 0, { 0 }, 0 },
	{ "*2", 0, RESP_MORE, 0, { 0 }, 0 },
	{ "*0\r\n", 0, RESP_OK, 0, { 0 }, 0 },
	{ "*-1\r\n", 0, RESP_OK, 0, { 0 }, 0 },
	{ "*x\r\n", 0, RESP_BAD, 0, { 0 }, 0 },
	{ "*1\r\n:1\r\n", 0, RESP_BAD, 0, { 0 }, 0 },
	{ "*1\r\n$-1\r\n", 0, RESP_BAD, 0, { 0 }, 0 },
	{ "*1\r\n$3\r\nabcX\r\n", 0, RESP_BAD, 0, { 0 }, 0 },
	{ "*17\r\n", 0, RESP_BAD, 0, { 0 }, 0 },		/* max_args */
	{ "*1\r\n$65\r\n", 0, RESP_BAD, 0, { 0 }, 0 },	/* max_bulk */
	{ "*2\r\n$40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n$40\r\n",
	  0, RESP_BAD, 0, { 0 }, 0 },				/* total */
	{ "*99999999999999999999999\r\n", 0, RESP_BAD, 0, { 0 }, 0 },
	{ "*1111111111111111111111111111111111", 0, RESP_BAD, 0, { 0 }, 0 },
	{ "*1\r\n$3\r\na\0c\r\n", 13, RESP_OK, 1, { "a" }, 0 },
	{ "add 1 2\r\n", 0, RESP_OK, 3, { "add", "1", "2" }, 0 },
	{ "add 1 2\n", 0, RESP_OK, 3, { "add", "1", "2" }, 0 },
	{ "  list   all  \r\n", 0, RESP_OK, 2, { "list", "all" }, 0 },
	{ "run \"a b\" 'c d'\n", 0, RESP_OK, 3, { "run", "a b", "c d" }, 0 },
	{ "run \"x\\ty\\x41\"\n", 0, RESP_OK, 2, { "run", "x\tyA" }, 0 },
	{ "run \"unbalanced\n", 0, RESP_BAD, 0, { 0 }, 0 },
	{ "\r\n", 0, RESP_OK, 0, { 0 }, 0 },
	{ "add 1 2", 0, RESP_MORE, 0, { 0 }, 0 },
	{ "a b c d e f g h i j k l m n o p q\n", 0, RESP_BAD, 0, { 0 }, 0 },
};

static void
test_requests(void)
{
	struct resp_req r = { 0 };
	const char *err;
	char buf[512];
	size_t i, used, n;
	int rc, k;

	for (i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *t = &req_cases[i];

		n = t->inlen ? t->inlen : strlen(t->in);
		memcpy(buf, t->in, n);
		err = NULL;
		used = 0;
		rc = resp_parse_request(&r, buf, n, &used, &lim, &err);
		CHECK(rc == t->rc, "request %zu: rc %d, want %d (%s)", i, rc,
		    t->rc, err ? err : "");
		if (rc == RESP_BAD)
			CHECK(err != NULL, "request %zu: no error text", i);
		if (rc != RESP_OK || t->rc != RESP_OK)
			continue;
		CHECK(used == (t->used ? t->used : n), "request %zu: used %zu",
		    i, used);
		CHECK(r.argc == t->argc, "request %zu: argc %d, want %d", i,
		    r.argc, t->argc);
		for (k = 0; k < r.argc && k < t->argc; k++)
			CHECK(strcmp(r.argv[k].ptr, t->args[k]) == 0,
			    "request %zu arg %d: '%s', want '%s'", i, k,
			    r.argv[k].ptr, t->args[k]);
	}
	/* Binary-safe: the NUL inside the argument is kept and counted. */
	memcpy(buf, "*1\r\n$3\r\na\0c\r\n", 13);
	rc = resp_parse_request(&r, buf, 13, &used, &lim, &err);
	CHECK(rc == RESP_OK && r.argv[0].len == 3 &&
	    memcmp(r.argv[0].ptr, "a\0c", 3) == 0, "binary argument");
	/* Fed one byte at a time, a request completes exactly once. */
	{
		const char *msg = "*3\r\n$3\r\nadd\r\n$2\r\n10\r\n$2\r\n20\r\n";
		size_t len = strlen(msg), got = 0;

		for (n = 1; n <= len; n++) {
			memcpy(buf, msg, n);
			rc = resp_parse_request(&r, buf, n, &used, &lim, &err);
			if (rc == RESP_OK)
				got++;
			CHECK(rc != RESP_BAD, "byte-wise at %zu: %s", n, err);
		}
		CHECK(got == 1 && r.argc == 3, "byte-wise: %zu completions",
		    got);
	}
	resp_req_free(&r);
}

struct value_case {
	const char	*in;
	int		 rc;
	int		 type;
	const char	*str;		/* for string-like types */
	long long	 integer;
	size_t		 n;
};

static const struct value_case value_cases[] = {
	{ "+OK\r\n", RESP_OK, RESP_T_SIMPLE, "OK", 0, 0 },
	{ "-ERR bad thing\r\n", RESP_OK, RESP_T_ERROR, "ERR bad thing", 0, 0 },
	{ ":-42\r\n", RESP_OK, RESP_T_INT, NULL, -42, 0 },
	{ ",0.3\r\n", RESP_OK, RESP_T_DOUBLE, "0.3", 0, 0 },
	{ ",inf\r\n", RESP_OK, RESP_T_DOUBLE, "inf", 0, 0 },
	{ "(123456789012345678901234567890\r\n", RESP_OK, RESP_T_BIGNUM,
	  "123456789012345678901234567890", 0, 0 },
	{ "$5\r\nhello\r\n", RESP_OK, RESP_T_BULK, "hello", 0, 0 },
	{ "$0\r\n\r\n", RESP_OK, RESP_T_BULK, "", 0, 0 },
	{ "$-1\r\n", RESP_OK, RESP_T_NULL, NULL, 0, 0 },
	{ "_\r\n", RESP_OK, RESP_T_NULL, NULL, 0, 0 },
	{ "#t\r\n", RESP_OK, RESP_T_BOOL, NULL, 1, 0 },
	{ "=8\r\ntxt:abcd\r\n", RESP_OK, RESP_T_BULK, "abcd", 0, 0 },
	{ "!9\r\nERR oops!\r\n", RESP_OK, RESP_T_ERROR, "ERR oops!", 0, 0 },
	{ "*2\r\n:1\r\n:2\r\n", RESP_OK, RESP_T_ARRAY, NULL, 0, 2 },
	{ "%1\r\n+a\r\n:1\r\n", RESP_OK, RESP_T_MAP, NULL, 0, 2 },
	{ ">2\r\n+event\r\n:1\r\n", RESP_OK, RESP_T_PUSH, NULL, 0, 2 },
	{ "|1\r\n+k\r\n+v\r\n:7\r\n", RESP_OK, RESP_T_INT, NULL, 7, 0 },
	{ "*2\r\n:1\r\n", RESP_MORE, 0, NULL, 0, 0 },
	{ "$5\r\nhel", RESP_MORE, 0, NULL, 0, 0 },
	{ "*3000000\r\n:1\r\n", RESP_MORE, 0, NULL, 0, 0 },
	{ ",-1.5e+300\r\n", RESP_OK, RESP_T_DOUBLE, "-1.5e+300", 0, 0 },
	{ ",-inf\r\n", RESP_OK, RESP_T_DOUBLE, "-inf", 0, 0 },
	{ ",nan\r\n", RESP_OK, RESP_T_DOUBLE, "nan", 0, 0 },
	{ "(-12\r\n", RESP_OK, RESP_T_BIGNUM, "-12", 0, 0 },
	{ "*-1\r\n", RESP_OK, RESP_T_NULL, NULL, 0, 0 },
	{ "|1\r\n+k\r\n+v\r\n>1\r\n:1\r\n", RESP_BAD, 0, NULL, 0, 0 },
	/* What a server must not send (issue 12): each a protocol error,
	 * never a value the renderer would have to guess at. */
	{ "(\r\n", RESP_BAD, 0, NULL, 0, 0 },		/* empty big number */
	{ "(-\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "(12a\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "( 12\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ",\r\n", RESP_BAD, 0, NULL, 0, 0 },		/* empty double */
	{ ",.5\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ",1.\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ",1e\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ", 1\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ",0x10\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ",infinity\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ",-nan\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ":\r\n", RESP_BAD, 0, NULL, 0, 0 },		/* empty integer */
	{ ":-\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ":99999999999999999999\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "#\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "#tt\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "_x\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "+a\rb\r\n", RESP_BAD, 0, NULL, 0, 0 },	/* CR inside a line */
	{ "-ERR a\nb\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "$\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "$-2\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "$536870913\r\n", RESP_BAD, 0, NULL, 0, 0 },	/* over 512 MiB */
	{ "$9223372036854775807\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "=3\r\ntxt\r\n", RESP_BAD, 0, NULL, 0, 0 },	/* no "fmt:" */
	{ "=5\r\ntxtxy\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "=-1\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "!-1\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "*\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "*-2\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "%-1\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "*3000000000\r\n:1\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "%9223372036854775807\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "*16777217\r\n", RESP_BAD, 0, NULL, 0, 0 },	/* over the values */
	{ "*1\r\n>1\r\n:1\r\n", RESP_BAD, 0, NULL, 0, 0 },	/* nested push */
	{ "?\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ":abc\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "#x\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ "$3\r\nabcd\r\n", RESP_BAD, 0, NULL, 0, 0 },
	{ ",1.5x\r\n", RESP_BAD, 0, NULL, 0, 0 },
};

/* An array of 4096 arrays of 4096 nulls (the last one's not sent):
 * more values than a reply may hold, refused at the last array's
 * header, before its elements are waited for. */
static void
test_value_budget(void)
{
	struct resp_value v;
	struct buf b = { 0 };
	const char *err = NULL;
	size_t used, i, j;
	int rc;

	buf_puts(&b, "*4096\r\n");
	for (i = 0; i < 4096; i++) {
		buf_puts(&b, "*4096\r\n");
		for (j = 0; j < 4096 && i < 4095; j++)
			buf_puts(&b, "_\r\n");
	}
	rc = resp_parse_value(b.data, b.len, &used, &v, &err);
	CHECK(rc == RESP_BAD, "values in all are bounded (rc %d, %s)", rc,
	    err ? err : "");
	buf_free(&b);
}

static void
test_values(void)
{
	struct resp_value v;
	const char *err;
	char deep[200];
	size_t i, used;
	int rc;

	for (i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
		const struct value_case *t = &value_cases[i];

		err = NULL;
		rc = resp_parse_value(t->in, strlen(t->in), &used, &v, &err);
		CHECK(rc == t->rc, "value %zu (%s): rc %d want %d (%s)", i,
		    t->in, rc, t->rc, err ? err : "");
		if (rc == RESP_OK && t->rc == RESP_OK) {
			CHECK(v.type == t->type, "value %zu: type %c want %c",
			    i, v.type, t->type);
			if (t->str)
				CHECK(v.str && strcmp(v.str, t->str) == 0,
				    "value %zu: '%s'", i, v.str);
			if (t->type == RESP_T_INT || t->type == RESP_T_BOOL)
				CHECK(v.integer == t->integer, "value %zu: %lld",
				    i, v.integer);
			CHECK(v.n == t->n, "value %zu: n %zu", i, v.n);
			CHECK(used == strlen(t->in), "value %zu: used %zu", i,
			    used);
			resp_value_free(&v);
		}
	}
	/* Nesting is bounded. */
	for (i = 0; i < 50; i++)
		memcpy(deep + 4 * i, "*1\r\n", 4);
	memcpy(deep + 200 - 4, ":1\r\n", 4);
	rc = resp_parse_value(deep, sizeof(deep), &used, &v, &err);
	CHECK(rc == RESP_BAD, "deep nesting refused (rc %d)", rc);
	/* So is a chain of attributes, each annotating the next: it used
	 * to recurse without a bound (a stack overflow, given enough). */
	for (i = 0; i < 50; i++)
		memcpy(deep + 4 * i, "|0\r\n", 4);
	memcpy(deep + 200 - 4, ":1\r\n", 4);
	rc = resp_parse_value(deep, sizeof(deep), &used, &v, &err);
	CHECK(rc == RESP_BAD, "a chain of attributes is bounded (rc %d)", rc);
	/* Aggregates of aggregates hold no more values in all than one
	 * reply may: refused once they would, whatever the nesting. */
	test_value_budget();
}

/*
 * The scan that says when a value being received is whole agrees with the
 * parser on every prefix of every case: it says "more" exactly when the
 * parser would, so that a value is parsed once, as soon as it is whole,
 * and a malformed one is refused as soon as it would have been.
 */
static void
scan_agrees(const char *in, size_t len, const char *what)
{
	struct resp_scan sc;
	struct resp_value v;
	const char *err;
	size_t k, used;
	int rs, rp;

	memset(&sc, 0, sizeof(sc));
	for (k = 1; k <= len; k++) {
		rs = resp_scan_value(&sc, in, k);
		rp = resp_parse_value(in, k, &used, &v, &err);
		if (rp == RESP_OK)
			resp_value_free(&v);
		CHECK((rs == RESP_MORE) == (rp == RESP_MORE),
		    "%s: %zu of %zu bytes: scan %d, parse %d", what, k, len,
		    rs, rp);
		if (rs != RESP_MORE)
			return;
	}
}

static void
test_scan(void)
{
	static const char *const more[] = {
		"*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n*0\r\n_\r\n",
		"*2\r\n$3\r\nabcX\r\n:1\r\n",	/* bad terminator */
		"*2\r\n(\r\n:1\r\n",		/* a bad element first */
		"*2\r\n=3\r\ntxt\r\n:1\r\n",
		"*2\r\n*-1\r\n$-1\r\n",
		"%2\r\n+a\r\n*0\r\n+b\r\n%0\r\n",
	};
	char deep[200];
	size_t i;

	for (i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++)
		scan_agrees(value_cases[i].in, strlen(value_cases[i].in),
		    value_cases[i].in);
	for (i = 0; i < 50; i++)
		memcpy(deep + 4 * i, "*1\r\n", 4);
	scan_agrees(deep, sizeof(deep), "deep");
	for (i = 0; i < 50; i++)
		memcpy(deep + 4 * i, "|0\r\n", 4);
	scan_agrees(deep, sizeof(deep), "attributes");
	for (i = 0; i < sizeof(more) / sizeof(more[0]); i++)
		scan_agrees(more[i], strlen(more[i]), more[i]);
}

static void
test_encoding(void)
{
	struct buf b = { 0 };
	struct resp_value v;
	const char *err;
	size_t used;

	resp_put_error(&b, "ERR", "two\r\nlines");
	CHECK(buf_avail(&b) == 17 && memcmp(b.data, "-ERR two  lines\r\n",
	    17) == 0, "error text kept on one line: %.*s", (int)b.len, b.data);
	buf_reset(&b);
	resp_put_map(&b, 2, 1);
	resp_put_null(&b, 2);
	resp_put_bool(&b, 2, 1);
	resp_put_double_text(&b, 2, "0.5");
	CHECK(b.len == 22 && memcmp(b.data, "*2\r\n$-1\r\n:1\r\n$3\r\n0.5\r\n",
	    22) == 0, "RESP2 downgrade: %.*s", (int)b.len, b.data);
	buf_reset(&b);
	resp_put_push(&b, 3, 2);
	resp_put_bulk(&b, "event", 5);
	resp_put_map(&b, 3, 1);
	resp_put_simple(&b, "k");
	resp_put_double_text(&b, 3, "1.25");
	CHECK(resp_parse_value(b.data, b.len, &used, &v, &err) == RESP_OK &&
	    v.type == RESP_T_PUSH && v.n == 2 && v.elem[1].type == RESP_T_MAP,
	    "push round trip");
	buf_reset(&b);
	resp_put_value(&b, 2, &v);
	CHECK(b.len > 0 && b.data[0] == '*' && strstr(b.data, "$4\r\n1.25"),
	    "push re-encoded for RESP2: %.*s", (int)b.len, b.data);
	resp_value_free(&v);
	buf_free(&b);
}

int
main(void)
{
	test_requests();
	test_values();
	test_scan();
	test_encoding();
	return check_report("test_resp");
}
