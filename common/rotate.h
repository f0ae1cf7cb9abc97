#ifndef PROCCTL_ROTATE_H
#define PROCCTL_ROTATE_H

/*
 * Size rotation's renames: PATH.BACKUPS-1 becomes PATH.BACKUPS, ...,
 * PATH.1 becomes PATH.2, PATH becomes PATH.1 (with no backups, PATH is
 * removed).  The caller then begins a new PATH.  0, or -1 with errno
 * and *WHAT the call that failed ("rename", "unlink"): it needs the
 * right to rename in PATH's directory.
 */
int	rotate_shift(const char *path, unsigned backups, const char **what);

#endif
