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

int
main(void)
{
	test_parse();
	test_ops();
	return check_report("test_decimal");
}
