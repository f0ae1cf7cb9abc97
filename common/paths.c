/*
 * Where procctld listens by default, and so where procctl looks first.
 * Root: the system socket.  A user: their runtime directory, else their
 * home: never a directory only root may write, where a user's daemon
 * could only fail ("bind /run/procctl/procctl.sock: Permission denied").
 *
 * A runtime directory counts only when it is the user's alone, as the
 * XDG spec requires of it: an XDG_RUNTIME_DIR left over from another
 * user (su, sudo) or pointing at /tmp would let someone else's socket
 * answer for the user's daemon.  A place whose socket path would not fit
 * a Unix socket's address is passed over: it could never be bound.
 */
#include "paths.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SUN_PATH_MAX	sizeof(((struct sockaddr_un *)NULL)->sun_path)

/* DIR is an absolute path to a directory the user owns, with none of
 * the write bits DENIED: where no one else can put a socket, or a
 * directory of sockets, in place of theirs. */
static int
users_dir(const char *dir, mode_t denied)
{
	struct stat st;

	return dir != NULL && dir[0] == '/' && stat(dir, &st) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	    (st.st_mode & denied) == 0;
}

/* DIR/NAME into OUT, when it fits OUT and a socket's address: 0, or -1. */
static int
join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size || (size_t)n >= SUN_PATH_MAX ?
	    -1 : 0;
}

int
paths_default_socket(char *out, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	char run[64];
	int n;

	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)geteuid());
	/* A runtime directory is the user's alone (XDG: mode 0700); a home
	 * may be shared with a group, the user's own, as with umask 002. */
	if (geteuid() != 0 && ((users_dir(xdg, S_IWGRP | S_IWOTH) &&
	    join(out, size, xdg, PROCCTL_SOCKET_NAME) == 0) ||
	    (users_dir(run, S_IWGRP | S_IWOTH) && join(out, size, run,
	    PROCCTL_SOCKET_NAME) == 0) || (users_dir(home, S_IWOTH) &&
	    join(out, size, home, PROCCTL_HOME_DIR "/" PROCCTL_SOCKET_NAME) ==
	    0)))
		return 0;
	n = snprintf(out, size, "%s", PROCCTL_SYSTEM_SOCKET);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
