/*
 * procctld: the structures and functions the daemon's files share.
 * One thread, one epoll loop; the core knows no command but its built-ins.
 */
#ifndef PROCCTLD_H
#define PROCCTLD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "resp.h"
#include "procctl/plugin.h"

#define PROCCTLD_VERSION	"0.1.0"
#define EX_CONFIG_CODE		78	/* sysexits EX_CONFIG */

/* ---- log.c ---- */
enum { LOG_ERROR = PROCCTL_LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void	log_init(int level);
void	log_set_level(int level);
int	log_level_parse(const char *s);
void	log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vmsg(int level, const char *prefix, const char *fmt, va_list ap);
#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* ---- loop.c ---- */
struct watch;
struct timer;
typedef void (*loop_fd_fn)(int fd, unsigned events, void *arg);
typedef void (*loop_timer_fn)(void *arg);
typedef void (*loop_idle_fn)(void);

#define LOOP_READ	PROCCTL_EV_READ
#define LOOP_WRITE	PROCCTL_EV_WRITE
#define LOOP_ERROR	PROCCTL_EV_ERROR

int		 loop_init(void);
void		 loop_free(void);
/* Watchers are owned by the loop; unwatch marks them dead and they are
 * freed after the current batch of events, so a callback may unwatch any
 * fd (its own included) safely. */
struct watch	*loop_watch(int fd, unsigned events, loop_fd_fn fn, void *arg);
int		 loop_modify(struct watch *w, unsigned events);
void		 loop_unwatch(struct watch *w);
uint64_t	 loop_timer_add(uint64_t ms, loop_timer_fn fn, void *arg);
void		 loop_timer_cancel(uint64_t id);
/* Called after every batch of events (deferred work: closing conns). */
void		 loop_set_idle(loop_idle_fn fn);
int		 loop_run(void);
void		 loop_stop(void);
uint64_t	 loop_now_ms(void);

/* ---- config.c ---- */
struct kv {
	char	*key;
	char	*value;
	int	 line;
};

struct plugin_conf {
	char		*name;
	char		*path;		/* as written; resolved at load */
	int		 line;
	struct kv	*kv;		/* the plugin's own keys */
	size_t		 nkv;
};

struct config {
	char			*file;		/* NULL: built-in defaults */
	char			*socket;
	mode_t			 socket_mode;
	char			*plugin_dir;
	int			 log_level;
	size_t			 max_clients;	/* 0: bounded by RLIMIT_NOFILE */
	size_t			 max_request;
	size_t			 max_args;
	size_t			 max_output;
	struct plugin_conf	*plugins;
	size_t			 nplugins;
	int			 load_all;	/* no file: every .so in dir */
	char			**tcp_listen;	/* "host:port", owned */
	size_t			 ntcp;
	char			*tcp_secrets;	/* file of user:secret lines */
	int			 tcp_line;	/* where [tcp] was, for errors */
	char			*tls_cert;	/* PEM chain: TLS on every listen */
	char			*tls_key;
	char			*tls_client_ca;	/* set: client certificates */
	char			*socket_group;
	char			*allow_users;	/* [access], as written */
	char			*allow_groups;
	char			*admin_users;
	char			*admin_groups;
};

void	config_defaults(struct config *c);
/* 0, or -1 after logging every problem (file:line). */
int	config_load(struct config *c, const char *file);
void	config_free(struct config *c);
int	config_parse_size(const char *s, size_t *out);

/* ---- listen.c ---- */
int	listen_unix(const char *path, mode_t mode, gid_t group);
/* "host:port", "[v6]:port"; TLS on it when tls_init() loaded a cert. */
int	listen_tcp(const char *spec);
const char *listen_path(void);
void	listen_close(void);
/* 1 if SPEC names only loopback addresses, 0 if not, -1 if unusable. */
int	listen_is_loopback(const char *spec, char *err, size_t errlen);

/* ---- access.c: the [access] policy ---- */
/* Resolve C's [access] names and make it the policy: 0, or -1 after
 * logging every unknown name (the old policy stays). */
int	access_load(const struct config *c);
void	access_free(void);
/* Changes whenever a policy is loaded: decisions older than it are stale. */
unsigned access_generation(void);
/* 1 if the user may use the daemon; *ADMIN says whether as an admin. */
int	access_decide(uid_t uid, gid_t gid, const gid_t *groups,
	    size_t ngroups, int *admin);
/* USER's groups (with GID), malloc'd. */
int	access_groups_of(const char *user, gid_t gid, gid_t **out, size_t *n);

/* ---- tls.c: OpenSSL for TCP listeners ---- */
struct ssl_st;
/* Load the certificate, key and client CA: 0, or -1 after logging why. */
int	tls_init(const struct config *c);
void	tls_free(void);
int	tls_enabled(void);
int	tls_client_certs(void);	/* client certificates are required */
struct ssl_st *tls_new(int fd);
/* The user a verified client certificate names (its subject CN), or -1. */
int	tls_peer_user(struct ssl_st *ssl, char *out, size_t size);
const char *tls_error(void);

/* ---- auth.c: secrets for TCP peers ---- */
int	auth_load(const char *file);
void	auth_free(void);
int	auth_enabled(void);
/* 0 when USER's secret is SECRET (constant time), -1 otherwise. */
int	auth_check(const char *user, const char *secret, size_t secret_len);

/* ---- conn.c ---- */
struct conn;
struct command;

struct procctl_ctx {
	struct conn	*conn;		/* NULL once the connection is gone */
	struct buf	*out;		/* where values are encoded */
	struct buf	 own;		/* for deferred replies and pushes */
	int		 proto;
	int		 kind;		/* CTX_* */
	long		 expect;	/* values still owed */
	int		 started;	/* a value has been built */
	uid_t		 push_uid;
	uint64_t	 push_conn;	/* 0: every connection of push_uid */
	const struct command *cmd;
};

enum { CTX_SYNC, CTX_DEFERRED, CTX_PUSH };

void	conn_new(int fd, int tcp);
void	conn_close_all(void);
size_t	conn_count(void);
void	conn_push(struct procctl_ctx *push);
struct procctl_ctx *conn_defer(struct procctl_ctx *ctx);
void	conn_idle(void);
void	conn_finish_deferred(struct procctl_ctx *ctx);
const struct procctl_caller *conn_caller(struct conn *c);
void	conn_set_subscribed(struct conn *c);
void	conn_set_quit(struct conn *c);
void	conn_set_proto(struct conn *c, int proto);
int	conn_is_tcp(struct conn *c);
int	conn_authed(struct conn *c);
/* Become USER (TCP peers, after AUTH): 0, or -1 if no such local user. */
int	conn_set_user(struct conn *c, const char *user);
/* -2 from conn_set_user: the user exists but [access] refuses them. */
/* The policy again (it may have been reloaded): 1 if still allowed. */
int	conn_recheck(struct conn *c);
int	conn_cert_user(struct conn *c);	/* identity from a certificate */
const char *conn_peer(struct conn *c);
/* Counted failures, for the log. */
unsigned long conn_auth_failed(struct conn *c);
uint64_t conn_id(struct conn *c);
void	conn_limits(size_t max_clients, size_t max_request, size_t max_args,
	    size_t max_output);

/* ---- reply.c: the reply builders behind the host table ---- */
void	reply_simple(struct procctl_ctx *, const char *);
void	reply_error(struct procctl_ctx *, const char *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	reply_verror(struct procctl_ctx *, const char *, const char *,
	    va_list);
void	reply_int(struct procctl_ctx *, long long);
void	reply_double(struct procctl_ctx *, double);
void	reply_double_text(struct procctl_ctx *, const char *);
void	reply_bignum(struct procctl_ctx *, const char *);
void	reply_bulk(struct procctl_ctx *, const void *, size_t);
void	reply_str(struct procctl_ctx *, const char *);
void	reply_null(struct procctl_ctx *);
void	reply_bool(struct procctl_ctx *, int);
void	reply_array(struct procctl_ctx *, size_t);
void	reply_map(struct procctl_ctx *, size_t);
/* Pad an incomplete reply (a plugin bug) so the stream stays valid. */
void	reply_complete(struct procctl_ctx *);

/* ---- command.c ---- */
struct command {
	char			*name;		/* owned */
	procctl_cmd_fn		 fn;
	int			 arity;
	char			*usage;		/* owned */
	char			*summary;	/* owned */
	unsigned		 flags;
	struct procctl_plugin	*plugin;	/* NULL: built-in */
};

int	command_init(void);
void	command_free_all(void);
int	command_add(const struct procctl_command *cmd,
	    struct procctl_plugin *owner);
const struct command *command_find(const char *name);
void	command_remove_owner(struct procctl_plugin *owner);
/* Run one request on CTX (arity, permission, then the handler). */
void	command_dispatch(struct procctl_ctx *ctx, int argc,
	    const struct procctl_arg *argv);
void	command_reply_docs(struct procctl_ctx *ctx);

/* ---- plugin.c ---- */
int	plugin_load_all(const struct config *c);
void	plugin_unload_all(void);
const char *plugin_name(const struct procctl_plugin *p);
void	plugin_run_disconnect(const struct procctl_caller *who);
/* `plugin load NAME`: its [plugin:NAME] section in the file as it is now
 * (or NAME.so in the plugin directory when there is no file).  0, or -1
 * with ERR set. */
int	plugin_load_named(const struct config *active, const char *name,
	    char *err, size_t errlen);
void	plugin_reply_list(struct procctl_ctx *ctx);
void	plugin_free_later(void);	/* after plugin_unload_all */

#endif
