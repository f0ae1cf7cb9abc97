/* procctl, the client: connection, rendering, exit codes. */
#ifndef PROCCTL_CTL_H
#define PROCCTL_CTL_H

#include <stdio.h>

#include "buf.h"
#include "resp.h"

/* Exit codes (documented in --help and procctl(1)). */
#define EXIT_OK		0
#define EXIT_ERROR	1	/* the daemon answered with an error */
#define EXIT_USAGE	2
#define EXIT_NOENT	3	/* no such process */
#define EXIT_UNAVAIL	69	/* daemon unreachable, connection lost */
#define EXIT_TIMEOUT	75	/* timeout or busy */
#define EXIT_PROTO	76	/* protocol error */
#define EXIT_NOPERM	77	/* permission denied */

struct client {
	int		 fd;
	struct buf	 in;
	char		 target[256];	/* for messages */
};

/* 0, or an exit code after printing why. */
int	client_connect_unix(struct client *c, const char *path);
/* 0, an exit code after printing why, or CLIENT_PEER_CLOSED (nothing
 * printed): the daemon closed the connection, and may have sent a reply
 * saying why before it did. */
#define CLIENT_PEER_CLOSED	(-1)
int	client_send(struct client *c, const struct buf *b, int timeout_ms);
/* Next value that is not a push (pushes go to ON_PUSH if set).  0 or an
 * exit code after printing why.  timeout_ms < 0: wait forever. */
int	client_read(struct client *c, struct resp_value *v, int timeout_ms,
	    void (*on_push)(const struct resp_value *));
void	client_close(struct client *c);

/* Rendering. */
void	render_human(FILE *fp, const struct resp_value *v);
void	render_json(FILE *fp, const struct resp_value *v);
/* Error reply: its exit code, and the message without the code. */
int	error_exit_code(const char *err);
const char *error_message(const char *err);

#endif
