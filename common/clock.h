/* clock.h: milliseconds of a clock, and a wall-clock time as RFC 3339
 * text; small enough to be inline wherever they are wanted (daemon,
 * monitor, plugins). */
#ifndef PROCCTL_CLOCK_H
#define PROCCTL_CLOCK_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static inline int64_t
clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t
clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* MS (CLOCK_REALTIME milliseconds) as "2026-11-26T03:13:02.114Z" into
 * OUT (at least 25 bytes); its length. */
static inline size_t
rfc3339_ms(char *out, size_t size, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(out + n, size - n, ".%03dZ", (int)(ms % 1000));
	return n;
}

/* N digits of S as a number, or -1. */
static inline int
clock_digits(const char *s, int n)
{
	int v = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

/* S, a time as rfc3339_ms() writes it or as a person types one
 * ("2026-11-26T10:00:00Z"; fractions of a second, a 'Z' or an offset
 * "+01:00" optional, no offset being UTC; a space for the 'T'; a date
 * alone is its midnight), from 1970 on: milliseconds since the epoch,
 * or -1 (no such time). */
static inline int64_t
rfc3339_parse(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	struct tm tm;
	int64_t frac = 0, scale = 100, off = 0, ms;
	int hh, mm, leap;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 10 || (tm.tm_year = clock_digits(s, 4)) < 0 ||
	    s[4] != '-' || s[7] != '-' ||
	    (tm.tm_mon = clock_digits(s + 5, 2)) < 1 ||
	    (tm.tm_mday = clock_digits(s + 8, 2)) < 1)
		return -1;
	s += 10;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		if ((tm.tm_hour = clock_digits(s + 1, 2)) < 0 || s[3] != ':' ||
		    (tm.tm_min = clock_digits(s + 4, 2)) < 0)
			return -1;
		s += 6;
		if (*s == ':') {
			if ((tm.tm_sec = clock_digits(s + 1, 2)) < 0)
				return -1;
			s += 3;
			if (*s == '.')
				for (s++; isdigit((unsigned char)*s); s++) {
					frac += (*s - '0') * scale;
					scale /= 10;
				}
		}
		if (*s == 'Z' || *s == 'z')
			s++;
		else if (*s == '+' || *s == '-') {
			if ((hh = clock_digits(s + 1, 2)) < 0 || hh > 23 ||
			    s[3] != ':' || (mm = clock_digits(s + 4, 2)) < 0 ||
			    mm > 59)
				return -1;
			off = (*s == '+' ? 1 : -1) * (hh * 60 + mm) * 60000LL;
			s += 6;
		}
	}
	leap = tm.tm_year % 4 == 0 && (tm.tm_year % 100 != 0 ||
	    tm.tm_year % 400 == 0);
	if (*s != '\0' || tm.tm_mon > 12 ||
	    tm.tm_mday > mdays[tm.tm_mon - 1] ||
	    (tm.tm_mon == 2 && tm.tm_mday == 29 && !leap) ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon--;
	ms = (int64_t)timegm(&tm) * 1000 + frac - off;
	return ms < 0 ? -1 : ms;
}

#endif
