/* clock.h: milliseconds of a clock, and a wall-clock time as RFC 3339
 * text; small enough to be inline wherever they are wanted (daemon,
 * monitor, plugins). */
#ifndef PROCCTL_CLOCK_H
#define PROCCTL_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline int64_t
clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

#endif
