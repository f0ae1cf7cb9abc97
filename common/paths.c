#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
paths_default_socket(char *out, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (geteuid() != 0 && xdg != NULL && xdg[0] == '/')
		n = snprintf(out, size, "%s/%s", xdg, PROCCTL_SOCKET_NAME);
	else
		n = snprintf(out, size, "%s", PROCCTL_SYSTEM_SOCKET);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
