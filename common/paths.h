#ifndef PROCCTL_PATHS_H
#define PROCCTL_PATHS_H

#include <stddef.h>

#define PROCCTL_SOCKET_NAME	"procctl.sock"
#define PROCCTL_SYSTEM_SOCKET	"/run/procctl/procctl.sock"

/*
 * The default socket: $XDG_RUNTIME_DIR/procctl.sock for a user with a
 * runtime directory, /run/procctl/procctl.sock for root (and for users
 * without one, who then talk to the system daemon).
 */
int	paths_default_socket(char *out, size_t size);

#endif
