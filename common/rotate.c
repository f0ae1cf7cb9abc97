#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "rotate.h"

int
rotate_shift(const char *path, unsigned backups, const char **what)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];
	unsigned i;

	*what = "rename";
	for (i = backups; i > 1; i--) {
		snprintf(from, sizeof(from), "%s.%u", path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", path, i);
		if (rename(from, to) == -1 && errno != ENOENT)
			return -1;
	}
	if (backups == 0) {
		*what = "unlink";
		return unlink(path) == -1 && errno != ENOENT ? -1 : 0;
	}
	snprintf(to, sizeof(to), "%s.1", path);
	return rename(path, to) == -1 && errno != ENOENT ? -1 : 0;
}
