/* strhash.h: FNV-1a of a string, for the daemon's small hash tables
 * keyed by names (connection slots, AUTH throttling). */
#ifndef PROCCTL_STRHASH_H
#define PROCCTL_STRHASH_H

static inline unsigned
strhash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

#endif
