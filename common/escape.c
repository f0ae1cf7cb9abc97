/*
 * Bytes as a log line shows them: what a terminal would obey or a reader
 * would take for something else is written as \xNN, so that a name a
 * user chose can neither colour, move, ring, reverse nor break a line of
 * the daemon's log.  The same bytes always come out the same way, and a
 * backslash is written \\, so the original can be read back.
 */
#include <stdint.h>
#include <string.h>

#include "escape.h"

/* The length of the valid UTF-8 sequence at S (N bytes there), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;	/* not overlong */
		else if (s[0] == 0xed)
			hi = 0x9f;	/* not a surrogate */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;	/* not past U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Valid, but shown escaped: C1 controls, which terminals obey as ESC
 * sequences; U+2028 and U+2029, line breaks to some readers; and the
 * bidirectional marks, embeddings, overrides and isolates, which make a
 * line read as something else. */
static int
invisible(const unsigned char *s, size_t len)
{
	uint32_t cp;

	if (len == 2) {
		cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
		return cp <= 0x9f || cp == 0x061c;
	}
	if (len == 3) {
		cp = (uint32_t)(s[0] & 0x0f) << 12 |
		    (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		return cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x2028 && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069);
	}
	return 0;
}

/* BACKSLASH: a backslash doubled (a log, read back) or as it is (a
 * screen, read by a person). */
static size_t
escape(char *out, size_t size, const char *src, size_t len, int backslash)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0, n, k;

	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x7f &&
		    (s[i] != '\\' || !backslash)) {
			if (o + 1 >= size)
				break;
			out[o++] = (char)s[i++];
			continue;
		}
		if (s[i] == '\\') {
			if (o + 2 >= size)
				break;
			out[o++] = '\\';
			out[o++] = '\\';
			i++;
			continue;
		}
		n = s[i] >= 0x80 ? utf8_len(s + i, len - i) : 0;
		if (n > 0 && !invisible(s + i, n)) {
			if (o + n >= size)
				break;
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
			continue;
		}
		if (n == 0)
			n = 1;
		if (o + 4 * n >= size)
			break;
		for (k = 0; k < n; k++, i++) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[s[i] >> 4];
			out[o++] = hex[s[i] & 15];
		}
	}
	out[o] = '\0';
	return o;
}

size_t
escape_log(char *out, size_t size, const char *src, size_t len)
{
	return escape(out, size, src, len, 1);
}

size_t
escape_display(char *out, size_t size, const char *src, size_t len)
{
	return escape(out, size, src, len, 0);
}
