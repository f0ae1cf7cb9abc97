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

/* Where to connect: a Unix socket, or TCP with credentials. */
struct target {
	int	 tcp;
	char	 path[108];	/* Unix */
	char	 host[256];	/* TCP */
	char	 port[16];
	char	 user[64];	/* TCP: from the URL, -u, or the login */
	struct tls_opts {
		int	 on;
		char	 cacert[1024];	/* "": the system's CAs */
		char	 cert[1024];	/* client certificate, or "" */
		char	 key[1024];
	} tls;
};

struct ssl_st;
struct ssl_ctx_st;

struct client {
	int		 fd;
	struct ssl_st	*ssl;		/* TLS targets */
	struct ssl_ctx_st *ssl_ctx;
	struct buf	 in;
	char		 target[300];	/* for messages and the prompt */
};

/* Parse unix:///path, unix:path, a path, tcp://[user@]host:port
 * (IPv6 as [addr]).  0, or -1 after printing why. */
int	target_parse(const char *s, struct target *t);
/* HOST PORT, as the shell's `connect host port` gives them. */
int	target_host_port(const char *host, const char *port, struct target *t);
/* The default local target (see procctl --help). */
int	target_default(struct target *t);
/* The secret for a TCP target: $PROCCTL_SECRET, else asked on the
 * terminal.  NULL (after printing why) when there is none. */
char	*target_secret(const struct target *t);

/* 0, or an exit code after printing why. */
int	client_connect(struct client *c, const struct target *t);
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
/* read(2) on the connection, through TLS if it has it: bytes, 0 at the
 * end, -1 with errno (EAGAIN: nothing yet). */
ssize_t	client_recv(struct client *c, void *p, size_t n);
/* Why the connection failed, for ERR (an errno from client_recv). */
const char *client_error(const struct client *c, int err);
/* Bytes TLS has decrypted but not handed out: read before polling. */
int	client_pending(const struct client *c);
/* The TLS options from the environment: PROCCTL_CACERT, PROCCTL_CERT,
 * PROCCTL_KEY (any of them, or PROCCTL_TLS=1, turns TLS on). */
void	target_tls_env(struct tls_opts *o);
/* --tls, --cacert F, --cert F, --key F: 1 if ARGV[*I] was one (*I moves
 * past it), 0 if not, -1 after printing why. */
int	target_tls_option(struct tls_opts *o, int argc, const char *const *argv,
	    int *i);

/* The handshake: HELLO 3, with AUTH for TCP targets. */
int	client_put_hello(struct buf *b, const struct target *t,
	    const char *secret);

/* TCP without a client certificate: the user proves who they are with
 * a secret. */
#define target_needs_secret(t)	((t)->tcp && (t)->tls.cert[0] == '\0')

/* Give a TCP target the TLS options O (it keeps TLS on if tls:// set it). */
void	target_apply_tls(struct target *t, const struct tls_opts *o);

/* shell.c: the interactive shell; returns the exit status. */
/* The TLS options `connect` starts from (the command line's). */
void	shell_tls_defaults(const struct tls_opts *o);
int	shell_run(const struct target *t, int have_target, int json);

/* Rendering. */
/* One line for a push event: "[event] 4242 sleep exited with status 0
 * after 10.0s".  Returns 0, or -1 if V is not an event. */
int	render_event(struct buf *out, const struct resp_value *v);
void	render_human(FILE *fp, const struct resp_value *v);
void	render_json(FILE *fp, const struct resp_value *v);
/* Error reply: its exit code, and the message without the code. */
int	error_exit_code(const char *err);
const char *error_message(const char *err);

#endif
