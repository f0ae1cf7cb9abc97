/*
 * Where procctld listens by default, and so where procctl looks first.
 * Root: the system socket.  A user: their runtime directory, else their
 * home: never a directory only root may write, where a user's daemon
 * could only fail ("bind /run/procctl/procctl.sock: Permission denied").
 */
#include "paths.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* DIR is a directory the user owns: somewhere a socket of theirs may go. */
static int
owned_dir(const char *dir)
{
	struct stat st;

	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == geteuid();
}

int
paths_default_socket(char *out, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *home = getenv("HOME");
	char run[64];
	int n;

	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)geteuid());
	if (geteuid() == 0)
		n = snprintf(out, size, "%s", PROCCTL_SYSTEM_SOCKET);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, size, "%s/%s", xdg, PROCCTL_SOCKET_NAME);
	else if (owned_dir(run))
		n = snprintf(out, size, "%s/%s", run, PROCCTL_SOCKET_NAME);
	else if (home != NULL && home[0] == '/' && owned_dir(home))
		n = snprintf(out, size, "%s/%s/%s", home, PROCCTL_HOME_DIR,
		    PROCCTL_SOCKET_NAME);
	else
		n = snprintf(out, size, "%s", PROCCTL_SYSTEM_SOCKET);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
