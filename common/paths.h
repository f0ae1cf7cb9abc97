#ifndef PROCCTL_PATHS_H
#define PROCCTL_PATHS_H

#include <stddef.h>

#define PROCCTL_SOCKET_NAME	"procctl.sock"
#define PROCCTL_SYSTEM_SOCKET	"/run/procctl/procctl.sock"
#define PROCCTL_HOME_DIR	".procctl"	/* under $HOME, made by procctld */

/*
 * The default socket: /run/procctl/procctl.sock for root; for a user,
 * $XDG_RUNTIME_DIR/procctl.sock, else /run/user/UID/procctl.sock (each
 * when the directory is theirs alone), else ~/.procctl/procctl.sock (a
 * home of their own that others may not write in); a place too long for a socket's address is passed
 * over; else the system socket (a user with none of these talks to the
 * system daemon).
 */
int	paths_default_socket(char *out, size_t size);

#endif
