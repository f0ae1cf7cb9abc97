#include "decimal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int
dec_parse(mpq_t out, const char *s, size_t len)
{
	size_t i = 0, ndig = 0, nfrac = 0, start;
	long exp = 0, scale;
	int neg = 0, eneg = 0, edig = 0;
	char *digits;
	mpz_t m, p;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	start = i;
	if ((digits = malloc(len + 1)) == NULL)
		return DEC_ERANGE;
	for (; i < len && isdigit((unsigned char)s[i]); i++)
		digits[ndig++] = s[i];
	if (i < len && s[i] == '.')
		for (i++; i < len && isdigit((unsigned char)s[i]); i++) {
			digits[ndig++] = s[i];
			nfrac++;
		}
	if (ndig == 0 || (i == start)) {
		free(digits);
		return DEC_ENAN;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (; i < len && isdigit((unsigned char)s[i]); i++) {
			edig++;
			if (exp <= DEC_MAX_EXP)
				exp = exp * 10 + (s[i] - '0');
		}
		if (edig == 0) {
			free(digits);
			return DEC_ENAN;
		}
		if (exp > DEC_MAX_EXP) {
			free(digits);
			return DEC_ERANGE;
		}
		if (eneg)
			exp = -exp;
	}
	if (i != len) {
		free(digits);
		return DEC_ENAN;
	}
	digits[ndig] = '\0';
	mpz_init_set_str(m, digits, 10);
	free(digits);
	if (neg)
		mpz_neg(m, m);
	scale = exp - (long)nfrac;
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
