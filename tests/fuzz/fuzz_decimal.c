/*
 * libFuzzer harness for the arith plugin's numbers (plugins/arith/
 * decimal.c): operands parsed as the plugin parses them, combined as it
 * combines them, formatted as it replies.  Beyond "no crash":
 *
 * - what dec_format writes is "[-]digits[.digits]", no trailing zero
 *   after the point, never "-0": text every RESP3 client reads as a
 *   double (or a bulk string of digits);
 * - an exact result reads back as itself: dec_parse(dec_format(q)) == q
 *   whenever its expansion ends within the digits asked for.
 *
 * The input is up to three operands, separated by a space, as `add` and
 * the others get them.  `make fuzz` builds and runs it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SCALE	20	/* the plugin's default div_scale */
#define MAX_OPS	3

/* "[-]digits[.digits]", no trailing fractional zero, not "-0". */
static void
check_text(const char *s)
{
	size_t i = 0, d;

	if (s[0] == '-')
		i++;
	for (d = i; s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i == d || (i - d > 1 && s[d] == '0'))
		abort();	/* no digits, or a leading zero */
	if (s[i] == '.') {
		for (d = ++i; s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d || s[i - 1] == '0')
			abort();
	}
	if (s[i] != '\0' || strcmp(s, "-0") == 0)
		abort();
}

/* Q formatted with MAX_FRAC digits, checked, and read back when exact. */
static void
format(const mpq_t q, size_t max_frac)
{
	mpq_t back;
	char *s;

	if ((s = dec_format(q, max_frac)) == NULL)
		return;
	check_text(s);
	if (dec_frac_digits(q) <= max_frac) {
		mpq_init(back);
		if (dec_parse(back, s, strlen(s)) != DEC_OK ||
		    !mpq_equal(back, q))
			abort();
		mpq_clear(back);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *sp;
	mpq_t op[MAX_OPS], r;
	size_t n = 0, i, len;

	/* The plugin's operands are bounded by the daemon's max_request;
	 * digits, not time, are what the fuzzer should spend. */
	if (size > 1024)
		return 0;
	while (n < MAX_OPS && size > 0) {
		sp = memchr(p, ' ', size);
		len = sp != NULL ? (size_t)(sp - p) : size;
		mpq_init(op[n]);
		if (dec_parse(op[n], p, len) != DEC_OK) {
			mpq_clear(op[n]);
			break;
		}
		format(op[n], SCALE);
		n++;
		if (sp == NULL)
			break;
		size -= len + 1;
		p += len + 1;
	}
	mpq_init(r);
	for (i = 0; n >= 2 && i < 4; i++) {
		if (i == 0)
			mpq_add(r, op[0], op[1]);
		else if (i == 1)
			mpq_sub(r, op[0], op[1]);
		else if (i == 2)
			mpq_mul(r, op[0], op[1]);
		else if (mpq_sgn(op[1]) != 0)
			mpq_div(r, op[0], op[1]);
		else
			continue;
		format(r, SCALE);
		format(r, 0);
	}
	mpq_clear(r);
	for (i = 0; i < n; i++)
		mpq_clear(op[i]);
	return 0;
}
