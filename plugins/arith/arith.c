/*
 * plugins/arith: add, sub, mult, div over two or more numbers, exactly.
 * Integers of any size; decimals without binary rounding (0.1 + 0.2 is
 * 0.3); division rounded half to even at div_scale fractional digits.
 *
 * Keys in [plugin:arith]:
 *   div_scale = 20         fractional digits kept by div
 *   max_digits = 100000    size bound on operands and results (digits)
 *   max_work = 10000000    bound on one request's work: operands x
 *                          digits, estimated from the operands' text
 *                          before anything is built (-LIMIT past it)
 *
 * The daemon has one thread: a request computes while every other
 * client waits.  So each is measured first (dec_measure: the digits each
 * operand would expand to, 1e99999 being 100,000 of them, and the
 * digits of the running result it would make at each step), and one
 * over max_work is refused at once, nothing computed.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "procctl/plugin.h"

enum op { OP_ADD, OP_SUB, OP_MULT, OP_DIV };

static const struct procctl_host *H;
static size_t div_scale = 20;
static size_t max_digits = 100000;
static size_t max_work = 10000000;

/* Digits to write Q's numerator and denominator: a cheap size bound. */
static size_t
size_digits(const mpq_t q)
{
	return mpz_sizeinbase(mpq_numref(q), 10) +
	    mpz_sizeinbase(mpq_denref(q), 10);
}

static void
reply_number(struct procctl_ctx *ctx, const mpq_t q, size_t scale)
{
	char *s;

	if ((s = dec_format(q, scale)) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	if (strchr(s, '.') != NULL)
		H->reply_double_text(ctx, s);
	else if (mpz_fits_slong_p(mpq_numref(q)) && mpz_cmp_ui(
	    mpq_denref(q), 1) == 0)
		H->reply_int(ctx, mpz_get_si(mpq_numref(q)));
	else
		/* Not the RESP3 big number type: common clients (redis-cli
		 * 7 among them) cannot show it.  Digits in a bulk string,
		 * as Redis does for big values. */
		H->reply_str(ctx, s);
	free(s);
}

/* A plain decimal integer that fits a long long: [+-]digits, at most 18
 * of them (so no overflow while reading it). */
static int
small_int(const struct procctl_arg *a, long long *out)
{
	size_t i = 0;
	long long v = 0;
	int neg = 0;

	if (a->len > 0 && (a->ptr[0] == '-' || a->ptr[0] == '+'))
		neg = a->ptr[i++] == '-';
	if (i == a->len || a->len - i > 18)
		return 0;
	for (; i < a->len; i++) {
		if (!isdigit((unsigned char)a->ptr[i]))
			return 0;
		v = v * 10 + (a->ptr[i] - '0');
	}
	*out = neg ? -v : v;
	return 1;
}

/*
 * The common case without GMP: add, sub and mult of machine integers
 * whose result fits.  0 when it does not apply (a decimal, an overflow,
 * div): then the exact path decides, with the same result.
 */
static int
fast_op(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv,
    enum op op)
{
	long long acc, x;
	int i;

	if (op == OP_DIV || !small_int(&argv[1], &acc))
		return 0;
	for (i = 2; i < argc; i++) {
		if (!small_int(&argv[i], &x))
			return 0;
		if ((op == OP_ADD && __builtin_add_overflow(acc, x, &acc)) ||
		    (op == OP_SUB && __builtin_sub_overflow(acc, x, &acc)) ||
		    (op == OP_MULT && __builtin_mul_overflow(acc, x, &acc)))
			return 0;
	}
	H->reply_int(ctx, acc);
	return 1;
}

static size_t
sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/*
 * Every operand checked, in order, without building one (the errors
 * parsing would give, and div's division by zero), and the work the
 * request would take: for each operand, the digits of the running result
 * it makes -- for add and sub the widest whole part and fraction so
 * far, for mult and div the sum of every size so far.  0, or -1 after
 * the reply.
 */
static int
check_operands(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv, enum op op)
{
	struct dec_size z;
	size_t whole = 0, frac = 0, acc = 0, work = 0, step = 0;
	int i, rc;

	for (i = 1; i < argc; i++) {
		rc = dec_measure(argv[i].ptr, argv[i].len, &z);
		if (rc == DEC_OK && z.num + z.den > 2 * max_digits)
			rc = DEC_ERANGE;
		if (rc == DEC_ENAN) {
			H->reply_error(ctx, "ERR", "not a number: '%.64s' "
			    "(operand %d)", argv[i].ptr, i);
			return -1;
		}
		if (rc == DEC_ERANGE) {
			H->reply_error(ctx, "ERR", "number out of range: "
			    "'%.64s' (operand %d; exponents up to %d and %zu "
			    "digits are allowed)", argv[i].ptr, i,
			    DEC_MAX_EXP, max_digits);
			return -1;
		}
		if (op == OP_DIV && i > 1 && z.zero) {
			H->reply_error(ctx, "DIV0", "division by zero "
			    "(operand %d)", i);
			return -1;
		}
		if (op == OP_ADD || op == OP_SUB) {
			whole = z.whole > whole ? z.whole : whole;
			frac = z.frac > frac ? z.frac : frac;
			step = whole + 2 * frac + 2;
		} else
			step = acc = sat_add(acc, z.num + z.den);
		work = sat_add(work, step);
	}
	if (work > max_work) {
		H->reply_error(ctx, "LIMIT", "too much work for one request: "
		    "%d operands making results of up to %zu digits (%s%zu "
		    "digit steps; max_work is %zu)", argc - 1, step,
		    work == SIZE_MAX ? "over " : "", work, max_work);
		return -1;
	}
	return 0;
}

static void
run_op(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv,
    enum op op)
{
	mpq_t acc, x;
	int i;

	if (fast_op(ctx, argc, argv, op) ||
	    check_operands(ctx, argc, argv, op) == -1)
		return;
	mpq_init(acc);
	mpq_init(x);
	for (i = 1; i < argc; i++) {
		/* Measured: a number, and within the bounds. */
		if (dec_parse(i == 1 ? acc : x, argv[i].ptr, argv[i].len) !=
		    DEC_OK) {
			H->reply_error(ctx, "ERR", "out of memory");
			goto done;
		}
		if (i == 1)
			continue;
		switch (op) {
		case OP_ADD:
			mpq_add(acc, acc, x);
			break;
		case OP_SUB:
			mpq_sub(acc, acc, x);
			break;
		case OP_MULT:
			mpq_mul(acc, acc, x);
			break;
		case OP_DIV:
			mpq_div(acc, acc, x);
			break;
		}
		if (size_digits(acc) > 2 * max_digits) {
			H->reply_error(ctx, "ERR", "result too large (over %zu "
			    "digits) at operand %d", max_digits, i);
			goto done;
		}
	}
	reply_number(ctx, acc, op == OP_DIV ? div_scale : (size_t)-1);
done:
	mpq_clear(acc);
	mpq_clear(x);
}

static void
cmd_add(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	run_op(ctx, argc, argv, OP_ADD);
}

static void
cmd_sub(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	run_op(ctx, argc, argv, OP_SUB);
}

static void
cmd_mult(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	run_op(ctx, argc, argv, OP_MULT);
}

static void
cmd_div(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	run_op(ctx, argc, argv, OP_DIV);
}

static const struct procctl_param numbers[] = {
	{ "number", PROCCTL_PARAM_NUMBER, NULL, 2, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command commands[] = {
	{ "add", cmd_add, 0, "add <number> <number> [number...]",
	  "Sum, exactly (integers of any size, decimals)", 0, NULL, numbers,
	  "arithmetic" },
	{ "sub", cmd_sub, 0, "sub <number> <number> [number...]",
	  "The first number minus the others, exactly", 0, NULL, numbers,
	  "arithmetic" },
	{ "mult", cmd_mult, 0, "mult <number> <number> [number...]",
	  "Product, exactly", 0, NULL, numbers, "arithmetic" },
	{ "div", cmd_div, 0, "div <number> <number> [number...]",
	  "The first number divided by the others, rounded half to even "
	  "at div_scale (20) fractional digits", 0, NULL, numbers,
	  "arithmetic" },
};

static int
parse_count(const char *s, size_t *out, size_t min, size_t max)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
arith_init(struct procctl_plugin *self, const struct procctl_host *host)
{
	static const char *const keys[] = { "div_scale", "max_digits",
	    "max_work", NULL };
	const char *v;
	size_t i;

	H = host;
	if (H->abi_minor >= 7)
		(void)H->config_keys(self, keys);
	if ((v = H->config_get(self, "div_scale")) != NULL &&
	    parse_count(v, &div_scale, 0, 10000) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "div_scale = %s: expected 0 to "
		    "10000", v);
		return -1;
	}
	if ((v = H->config_get(self, "max_digits")) != NULL &&
	    parse_count(v, &max_digits, 20, 10000000) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "max_digits = %s: expected 20 "
		    "to 10000000", v);
		return -1;
	}
	if ((v = H->config_get(self, "max_work")) != NULL &&
	    parse_count(v, &max_work, 1000, (size_t)1 << 40) == -1) {
		H->log(self, PROCCTL_LOG_ERROR, "max_work = %s: expected 1000 "
		    "to 1099511627776 (digits)", v);
		return -1;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (H->register_command(self, &commands[i]) == -1)
			return -1;
	return 0;
}

PROCCTL_PLUGIN("arith", "0.1.0", "exact arithmetic: add, sub, mult, div",
    arith_init, NULL);
