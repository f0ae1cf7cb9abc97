/* duration.c: a length of time as a person reads it. */
#ifndef PROCCTL_DURATION_H
#define PROCCTL_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* MS milliseconds into OUT (SIZE bytes), in two units at most: "0.3s",
 * "59.9s" (tenths cut, not rounded), "4m05s", "1h02m", "3d04h".  Always
 * NUL-terminated. */
void	duration_text(char *out, size_t size, uint64_t ms);

#endif
