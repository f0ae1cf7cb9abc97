/*
 * A duration for people, as the tables and the result texts show it:
 * seconds with a tenth under a minute (what the results always said:
 * "after 2.0s"), then the two largest units, so that a process up for a
 * day reads "1d02h" and not "93784.5".  Scripts get the seconds as a
 * number (--json): this is only what is shown.
 */
#include <stdio.h>

#include "duration.h"

void
duration_text(char *out, size_t size, uint64_t ms)
{
	unsigned long long s = ms / 1000;

	if (s < 60)
		snprintf(out, size, "%llu.%01llus", s,
		    (unsigned long long)(ms % 1000 / 100));
	else if (s < 3600)
		snprintf(out, size, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, size, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(out, size, "%llud%02lluh", s / 86400,
		    s % 86400 / 3600);
}
