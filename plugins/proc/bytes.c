/*
 * Bytes that outlive the code that wrote them (handover.c): integers
 * little-endian of fixed widths, strings a 32-bit length and the bytes.
 * Writing marks the buffer failed on the first allocation that fails and
 * then does nothing.  Reading never goes past the end and never trusts a
 * length or a count: the first thing that does not fit marks the input
 * bad, and every read after that gives zero (or NULL).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

void
bytes_put(struct bytes_out *w, const void *p, size_t n)
{
	unsigned char *grown;
	size_t cap;

	if (w->failed || n == 0)
		return;
	if (n > w->cap - w->len) {
		cap = w->cap ? w->cap : 4096;
		while (cap - w->len < n && cap < SIZE_MAX / 2)
			cap *= 2;
		if (cap - w->len < n || (grown = realloc(w->p, cap)) == NULL) {
			w->failed = 1;
			return;
		}
		w->p = grown;
		w->cap = cap;
	}
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void
put_le(struct bytes_out *w, uint64_t v, int n)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	bytes_put(w, b, (size_t)n);
}

void
bytes_put_u64(struct bytes_out *w, uint64_t v)
{
	put_le(w, v, 8);
}

void
bytes_put_u32(struct bytes_out *w, uint32_t v)
{
	put_le(w, v, 4);
}

void
bytes_put_str(struct bytes_out *w, const char *s, size_t n)
{
	if (n > BYTES_STR_MAX) {
		w->failed = 1;
		return;
	}
	bytes_put_u32(w, (uint32_t)n);
	bytes_put(w, s, n);
}

void
bytes_put_ts(struct bytes_out *w, const struct timespec *ts)
{
	bytes_put_u64(w, (uint64_t)ts->tv_sec);
	bytes_put_u32(w, (uint32_t)ts->tv_nsec);
}

static uint64_t
get_le(struct bytes_in *r, int n)
{
	uint64_t v = 0;
	int i;

	if (r->bad || r->len - r->off < (size_t)n) {
		r->bad = 1;
		return 0;
	}
	for (i = 0; i < n; i++)
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += (size_t)n;
	return v;
}

uint64_t
bytes_u64(struct bytes_in *r)
{
	return get_le(r, 8);
}

uint32_t
bytes_u32(struct bytes_in *r)
{
	return (uint32_t)get_le(r, 4);
}

char *
bytes_str(struct bytes_in *r, size_t max, size_t *n)
{
	uint32_t len = bytes_u32(r);
	char *s;

	if (r->bad || len > max || len > r->len - r->off ||
	    (s = malloc((size_t)len + 1)) == NULL) {
		r->bad = 1;
		return NULL;
	}
	memcpy(s, r->p + r->off, len);
	s[len] = '\0';
	r->off += len;
	if (n != NULL)
		*n = len;
	return s;
}

void
bytes_text(struct bytes_in *r, char *out, size_t size)
{
	char *s = bytes_str(r, BYTES_STR_MAX, NULL);

	snprintf(out, size, "%s", s != NULL ? s : "");
	free(s);
}

void
bytes_ts(struct bytes_in *r, struct timespec *ts)
{
	ts->tv_sec = (time_t)bytes_u64(r);
	ts->tv_nsec = (long)bytes_u32(r);
	if (ts->tv_nsec >= 1000000000L)
		r->bad = 1;
}

uint32_t
bytes_count(struct bytes_in *r, size_t least)
{
	uint32_t n = bytes_u32(r);

	if (least == 0 || n > (r->len - r->off) / least)
		r->bad = 1;
	return r->bad ? 0 : n;
}
