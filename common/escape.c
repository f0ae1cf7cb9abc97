/*
 * Bytes as a log line shows them: what a terminal would obey or a reader
 * would take for something else is written as \xNN, so that a name a
 * user chose can neither colour, move, ring, reverse nor break a line of
 * the daemon's log.  The same bytes always come out the same way, and a
 * backslash is written \\, so the original can be read back.  procctl
 * shows what a daemon sends the same way (escape_display): a name, an
 * error, an event can no more drive a user's terminal than the log.
 */
#include <stdint.h>
#include <string.h>

#include "escape.h"

/* The length of the valid UTF-8 sequence at S (N bytes there), or 0;
 * *CP its code point. */
static size_t
utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		*cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		*cp = s[0] & 0x0f;
		if (s[0] == 0xe0)
			lo = 0xa0;	/* not overlong */
		else if (s[0] == 0xed)
			hi = 0x9f;	/* not a surrogate */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		*cp = s[0] & 0x07;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;	/* not past U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 1; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	return len;
}

size_t
escape_utf8(const char *s, size_t n, uint32_t *cp)
{
	uint32_t c;

	if (n == 0)
		return 0;
	if ((unsigned char)s[0] < 0x80) {
		*cp = (unsigned char)s[0];
		return 1;
	}
	n = utf8_len((const unsigned char *)s, n, &c);
	if (n > 0)
		*cp = c;
	return n;
}

/* Valid, but shown escaped: C1 controls, which terminals obey as ESC
 * sequences; U+061C, U+200E and U+200F, U+2028 and U+2029 (line breaks
 * to some readers), and the bidirectional embeddings, overrides and
 * isolates, which make a line read as something else. */
int
escape_hidden(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

#define ESC_BACKSLASH	0x1	/* a backslash doubled: a log */
#define ESC_LINES	0x2	/* newline and tab as they are: text */

static size_t
escape(char *out, size_t size, const char *src, size_t len, int flags)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0, n, k;
	uint32_t cp = 0;

	while (i < len) {
		if ((s[i] >= 0x20 && s[i] < 0x7f && (s[i] != '\\' ||
		    !(flags & ESC_BACKSLASH))) || ((flags & ESC_LINES) &&
		    (s[i] == '\n' || s[i] == '\t'))) {
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
		n = s[i] >= 0x80 ? utf8_len(s + i, len - i, &cp) : 0;
		if (n > 0 && !escape_hidden(cp)) {
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
	return escape(out, size, src, len, ESC_BACKSLASH);
}

size_t
escape_display(char *out, size_t size, const char *src, size_t len)
{
	return escape(out, size, src, len, 0);
}

size_t
escape_lines(char *out, size_t size, const char *src, size_t len)
{
	return escape(out, size, src, len, ESC_LINES);
}

int
escape_needed(const char *src, size_t len)
{
	uint32_t cp;
	size_t i = 0, n;

	while (i < len) {
		if ((n = escape_utf8(src + i, len - i, &cp)) == 0 ||
		    escape_hidden(cp))
			return 1;
		i += n;
	}
	return 0;
}
