/* Exact arithmetic: operands in, text out, as the arith plugin computes
 * it (the plugin's loop is add/sub/mult/div over dec_parse'd rationals,
 * formatted with dec_format). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "decimal.h"

struct op_case {
	char		 op;		/* + - * / */
	const char	*a, *b, *c;	/* c may be NULL */
	const char	*want;
};

static const struct op_case op_cases[] = {
	{ '+', "1", "2", NULL, "3" },
	{ '+', "0.1", "0.2", NULL, "0.3" },
	{ '+', "9223372036854775807", "1", NULL, "9223372036854775808" },
	{ '+', "-9223372036854775808", "-1", NULL, "-9223372036854775809" },
	{ '+', "1e3", "0.5", NULL, "1000.5" },
	{ '+', "1.50", "1.50", NULL, "3" },
	{ '+', "-0.1", "0.1", NULL, "0" },
	{ '+', ".5", "5.", NULL, "5.5" },
	{ '+', "+1", "1E-2", NULL, "1.01" },
	{ '+', "123456789012345678901234567890", "1", "1",
	  "123456789012345678901234567892" },
	{ '-', "0.3", "0.1", NULL, "0.2" },
	{ '-', "1", "2", "3", "-4" },
	{ '-', "0.001", "1", NULL, "-0.999" },
	{ '*', "0.1", "0.1", NULL, "0.01" },
	{ '*', "99999999999", "99999999999", NULL, "9999999999800000000001" },
	{ '*', "-2", "3", "0.5", "-3" },
	{ '*', "1e-5", "1e-5", NULL, "0.0000000001" },
	{ '/', "1", "3", NULL, "0.33333333333333333333" },
	{ '/', "2", "3", NULL, "0.66666666666666666667" },
	{ '/', "10", "4", NULL, "2.5" },
	{ '/', "1", "8", NULL, "0.125" },
	{ '/', "-1", "3", NULL, "-0.33333333333333333333" },
	{ '/', "100", "10", "5", "2" },
	{ '/', "1", "1024", NULL, "0.0009765625" },
	/* Ties at the 20th digit round to even. */
	{ '/', "1", "200000000000000000000", "2", "0" },
	{ '/', "3", "200000000000000000000", NULL, "0.00000000000000000002" },
	{ '/', "5", "200000000000000000000", NULL, "0.00000000000000000002" },
	{ '/', "7", "200000000000000000000", NULL, "0.00000000000000000004" },
	{ '/', "-5", "200000000000000000000", NULL, "-0.00000000000000000002" },
	{ '/', "1", "300000000000000000000", NULL, "0" },
};

static int
apply(mpq_t acc, char op, const char *s)
{
	mpq_t x;
	int rc;

	mpq_init(x);
	rc = dec_parse(x, s, strlen(s));
	if (rc == DEC_OK) {
		if (op == '+')
			mpq_add(acc, acc, x);
		else if (op == '-')
			mpq_sub(acc, acc, x);
		else if (op == '*')
			mpq_mul(acc, acc, x);
		else
			mpq_div(acc, acc, x);
	}
	mpq_clear(x);
	return rc;
}

static void
test_ops(void)
{
	size_t i;
	mpq_t acc;
	char *out;

	for (i = 0; i < sizeof(op_cases) / sizeof(op_cases[0]); i++) {
		const struct op_case *t = &op_cases[i];

		mpq_init(acc);
		CHECK(dec_parse(acc, t->a, strlen(t->a)) == DEC_OK,
		    "case %zu: parse %s", i, t->a);
		CHECK(apply(acc, t->op, t->b) == DEC_OK, "case %zu: parse %s",
		    i, t->b);
		if (t->c != NULL)
			CHECK(apply(acc, t->op, t->c) == DEC_OK,
			    "case %zu: parse %s", i, t->c);
		out = dec_format(acc, t->op == '/' ? 20 : (size_t)-1);
		CHECK(out != NULL && strcmp(out, t->want) == 0,
		    "case %zu: %s %c %s%s%s = %s, want %s", i, t->a, t->op,
		    t->b, t->c ? " ... " : "", t->c ? t->c : "", out, t->want);
		free(out);
		mpq_clear(acc);
	}
}

struct parse_case {
	const char	*in;
	int		 rc;
};

static const struct parse_case parse_cases[] = {
	{ "0", DEC_OK }, { "-0", DEC_OK }, { "007", DEC_OK },
	{ "1.", DEC_OK }, { ".1", DEC_OK }, { "1e100000", DEC_OK },
	{ "1e-100000", DEC_OK }, { "2E+3", DEC_OK },
	{ "", DEC_ENAN }, { "x", DEC_ENAN }, { "1x", DEC_ENAN },
	{ ".", DEC_ENAN }, { "-", DEC_ENAN }, { "1e", DEC_ENAN },
	{ "1e+", DEC_ENAN }, { "inf", DEC_ENAN }, { "nan", DEC_ENAN },
	{ "0x10", DEC_ENAN }, { "1 2", DEC_ENAN }, { " 1", DEC_ENAN },
	{ "1..2", DEC_ENAN }, { "--1", DEC_ENAN },
	{ "1e999999999", DEC_ERANGE }, { "1e100001", DEC_ERANGE },
	{ "1e-99999999999999999999999", DEC_ERANGE },
};

static void
test_parse(void)
{
	size_t i;
	mpq_t q;
	int rc;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		mpq_init(q);
		rc = dec_parse(q, parse_cases[i].in, strlen(parse_cases[i].in));
		CHECK(rc == parse_cases[i].rc, "parse '%s': %d, want %d",
		    parse_cases[i].in, rc, parse_cases[i].rc);
		mpq_clear(q);
	}
}

/* dec_measure: what dec_parse would say, and the sizes it would build
 * (upper bounds), without building them. */
struct measure_case {
	const char	*in;
	int		 rc;
	size_t		 num, den, whole, frac;
	int		 zero;
};

static const struct measure_case measure_cases[] = {
	{ "0", DEC_OK, 1, 1, 1, 0, 1 },
	{ "-0.000", DEC_OK, 4, 4, 1, 3, 1 },
	{ "0e99999", DEC_OK, 100000, 1, 100000, 0, 1 },
	{ "123", DEC_OK, 3, 1, 3, 0, 0 },
	{ "1e99999", DEC_OK, 100000, 1, 100000, 0, 0 },
	{ "1e-99999", DEC_OK, 1, 100000, 0, 99999, 0 },
	{ "12.345", DEC_OK, 5, 4, 2, 3, 0 },
	{ "1.2345e2", DEC_OK, 5, 3, 3, 2, 0 },
	{ "1.25e-2", DEC_OK, 3, 5, 0, 4, 0 },
	{ ".5", DEC_OK, 1, 2, 0, 1, 0 },
	{ "7.", DEC_OK, 1, 1, 1, 0, 0 },
	{ "1e100001", DEC_ERANGE, 0, 0, 0, 0, 0 },
	{ "1e", DEC_ENAN, 0, 0, 0, 0, 0 },
	{ "x", DEC_ENAN, 0, 0, 0, 0, 0 },
};

static void
test_measure(void)
{
	const struct measure_case *t;
	struct dec_size z;
	size_t i, digits;
	char *s;
	mpq_t q;
	int rc;

	for (i = 0; i < sizeof(measure_cases) / sizeof(measure_cases[0]);
	    i++) {
		t = &measure_cases[i];
		memset(&z, 0, sizeof(z));
		rc = dec_measure(t->in, strlen(t->in), &z);
		CHECK(rc == t->rc, "measure '%s': %d, want %d", t->in, rc,
		    t->rc);
		if (rc != DEC_OK)
			continue;
		CHECK(z.num == t->num && z.den == t->den &&
		    z.whole == t->whole && z.frac == t->frac &&
		    z.zero == t->zero, "measure '%s': num %zu den %zu whole "
		    "%zu frac %zu zero %d", t->in, z.num, z.den, z.whole,
		    z.frac, z.zero);
		/* Never less than what dec_parse builds. */
		mpq_init(q);
		CHECK(dec_parse(q, t->in, strlen(t->in)) == DEC_OK,
		    "parse '%s'", t->in);
		digits = mpz_sizeinbase(mpq_numref(q), 10);
		CHECK(digits <= z.num, "'%s': %zu digits built, %zu measured",
		    t->in, digits, z.num);
		digits = mpz_sizeinbase(mpq_denref(q), 10);
		CHECK(digits <= z.den, "'%s': a denominator of %zu digits "
		    "built, %zu measured", t->in, digits, z.den);
		s = dec_format(q, (size_t)-1);
		CHECK(s != NULL && strlen(s) <= z.whole + z.frac + 2,
		    "'%s': formatted in %zu bytes", t->in, s ? strlen(s) : 0);
		free(s);
		mpq_clear(q);
	}
}

int
main(void)
{
	test_parse();
	test_measure();
	test_ops();
	return check_report("test_decimal");
}
