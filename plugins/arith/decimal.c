#include "decimal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* What a number's text says, read without building it: the sign, the
 * digits (before and after the point, in place), and the exponent. */
struct scan {
	int		 neg;
	size_t		 ndig;		/* digits, the point not counted */
	size_t		 nfrac;		/* of which after the point */
	long		 exp;
	int		 zero;		/* every digit is 0 */
};

static int
scan(const char *s, size_t len, struct scan *sc)
{
	size_t i = 0, start;
	int eneg = 0, edig = 0;

	memset(sc, 0, sizeof(*sc));
	sc->zero = 1;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		sc->neg = s[i++] == '-';
	start = i;
	for (; i < len && isdigit((unsigned char)s[i]); i++, sc->ndig++)
		sc->zero &= s[i] == '0';
	if (i < len && s[i] == '.')
		for (i++; i < len && isdigit((unsigned char)s[i]); i++) {
			sc->zero &= s[i] == '0';
			sc->ndig++;
			sc->nfrac++;
		}
	if (sc->ndig == 0 || i == start)
		return DEC_ENAN;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (; i < len && isdigit((unsigned char)s[i]); i++) {
			edig++;
			if (sc->exp <= DEC_MAX_EXP)
				sc->exp = sc->exp * 10 + (s[i] - '0');
		}
		if (edig == 0)
			return DEC_ENAN;
		if (sc->exp > DEC_MAX_EXP)
			return DEC_ERANGE;
		if (eneg)
			sc->exp = -sc->exp;
	}
	return i == len ? DEC_OK : DEC_ENAN;
}

int
dec_measure(const char *s, size_t len, struct dec_size *out)
{
	struct scan sc;
	long scale;
	int rc;

	if ((rc = scan(s, len, &sc)) != DEC_OK)
		return rc;
	scale = sc.exp - (long)sc.nfrac;
	out->num = sc.ndig + (scale > 0 ? (size_t)scale : 0);
	out->den = (scale < 0 ? (size_t)-scale : 0) + 1;
	out->frac = scale < 0 ? (size_t)-scale : 0;
	out->whole = scale >= 0 ? out->num : sc.ndig > out->frac ?
	    sc.ndig - out->frac : 0;
	out->zero = sc.zero;
	return DEC_OK;
}

int
dec_parse(mpq_t out, const char *s, size_t len)
{
	struct scan sc;
	size_t i, n = 0;
	long scale;
	char *digits;
	mpz_t m, p;
	int rc;

	if ((rc = scan(s, len, &sc)) != DEC_OK)
		return rc;
	if ((digits = malloc(sc.ndig + 1)) == NULL)
		return DEC_ERANGE;
	for (i = 0; i < len && n < sc.ndig; i++)
		if (isdigit((unsigned char)s[i]))
			digits[n++] = s[i];
	digits[n] = '\0';
	mpz_init_set_str(m, digits, 10);
	free(digits);
	if (sc.neg)
		mpz_neg(m, m);
	scale = sc.exp - (long)sc.nfrac;
	mpz_init(p);
	mpz_ui_pow_ui(p, 10, (unsigned long)labs(scale));
	if (scale >= 0) {
		mpz_mul(m, m, p);
		mpz_set_ui(p, 1);
	}
	mpq_set_num(out, m);
	mpq_set_den(out, p);
	mpq_canonicalize(out);
	mpz_clear(m);
	mpz_clear(p);
	return DEC_OK;
}

size_t
dec_frac_digits(const mpq_t q)
{
	size_t a, b;
	mpz_t d, f;
	int ends;

	mpz_init_set(d, mpq_denref(q));
	mpz_init_set_ui(f, 2);
	a = mpz_remove(d, d, f);
	mpz_set_ui(f, 5);
	b = mpz_remove(d, d, f);
	ends = mpz_cmp_ui(d, 1) == 0;
	mpz_clear(d);
	mpz_clear(f);
	if (!ends)
		return (size_t)-1;
	return a > b ? a : b;
}

/* Digit I of DIGITS behind PAD leading zeros. */
static char
padded_at(const char *digits, size_t pad, size_t i)
{
	return i < pad ? '0' : digits[i - pad];
}

char *
dec_format(const mpq_t q, size_t max_frac)
{
	size_t k, len, pad, plen, flen, pos = 0, i;
	char *digits, *out;
	mpz_t n, r, t;
	int neg, c, nonzero;

	k = dec_frac_digits(q);
	mpz_init(n);
	mpz_init(r);
	mpz_init(t);
	if (k <= max_frac) {
		mpz_ui_pow_ui(t, 10, (unsigned long)k);
		mpz_mul(n, mpq_numref(q), t);
		mpz_divexact(n, n, mpq_denref(q));
	} else {
		k = max_frac;
		mpz_ui_pow_ui(t, 10, (unsigned long)k);
		mpz_mul(n, mpq_numref(q), t);
		/* Floor, then round half to even on the remainder. */
		mpz_fdiv_qr(n, r, n, mpq_denref(q));
		mpz_mul_2exp(r, r, 1);
		c = mpz_cmp(r, mpq_denref(q));
		if (c > 0 || (c == 0 && mpz_odd_p(n)))
			mpz_add_ui(n, n, 1);
	}
	neg = mpz_sgn(n) < 0;
	mpz_abs(n, n);
	digits = mpz_get_str(NULL, 10, n);
	mpz_clear(n);
	mpz_clear(r);
	mpz_clear(t);
	if (digits == NULL)
		return NULL;
	len = strlen(digits);
	/* Pad so that there is at least one integer digit: value is
	 * padded[0 .. plen-k] "." padded[plen-k ..]. */
	pad = len <= k ? k + 1 - len : 0;
	if ((out = malloc(pad + len + 3)) == NULL) {
		free(digits);
		return NULL;
	}
	nonzero = strspn(digits, "0") != len;
	if (neg && nonzero)
		out[pos++] = '-';
	plen = pad + len;
	for (i = 0; i < plen - k; i++)
		out[pos++] = padded_at(digits, pad, i);
	flen = k;
	while (flen > 0 && padded_at(digits, pad, plen - 1 - (k - flen)) == '0')
		flen--;
	if (flen > 0) {
		out[pos++] = '.';
		for (i = plen - k; i < plen - k + flen; i++)
			out[pos++] = padded_at(digits, pad, i);
	}
	out[pos] = '\0';
	free(digits);
	return out;
}
