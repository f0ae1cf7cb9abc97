/* Exact decimal arithmetic on GMP rationals: parsing operands and
 * formatting results. */
#ifndef PROCCTL_DECIMAL_H
#define PROCCTL_DECIMAL_H

#include <gmp.h>
#include <stddef.h>

#define DEC_OK		0
#define DEC_ENAN	1	/* not a number */
#define DEC_ERANGE	2	/* exponent or size beyond the limits */

#define DEC_MAX_EXP	100000	/* |exponent| accepted in operands */

/* Parse "[+-]digits[.digits][e[+-]digits]" (".5" and "5." too) into OUT,
 * exactly.  OUT must be initialised. */
int	dec_parse(mpq_t out, const char *s, size_t len);

/* How big a number's text is once built, told without building it (an
 * upper bound: leading zeros count): digits of its numerator NUM and
 * denominator DEN (a power of ten), of its whole part WHOLE and of its
 * fraction FRAC; ZERO when it is 0. */
struct dec_size {
	size_t	 num;
	size_t	 den;
	size_t	 whole;
	size_t	 frac;
	int	 zero;
};

/* What dec_parse would say of S, and the size it would build:
 * DEC_OK, DEC_ENAN or DEC_ERANGE, in time linear in LEN. */
int	dec_measure(const char *s, size_t len, struct dec_size *out);

/* Format Q as decimal text: exact when its expansion ends within
 * MAX_FRAC fractional digits, else rounded half to even at MAX_FRAC.
 * Trailing zeros dropped; "-0" never appears.  Returns a malloc'd string
 * (NULL on allocation failure). */
char	*dec_format(const mpq_t q, size_t max_frac);

/* Fractional digits needed to write Q exactly, or (size_t)-1 if its
 * expansion never ends. */
size_t	dec_frac_digits(const mpq_t q);

#endif
