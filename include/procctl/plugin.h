/*
 * procctl plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * `procctl_plugin`, a `struct procctl_plugin_decl` (use PROCCTL_PLUGIN()).
 * procctld checks the ABI version it declares, then calls its init function
 * with a table of host services.  Everything a plugin does -- registering
 * commands, replying, logging, timers, watching fds and children, pushing
 * events -- goes through that table; a plugin never touches a socket.
 *
 * Versioning: PROCCTL_ABI_MAJOR must equal the daemon's; PROCCTL_ABI_MINOR
 * must not exceed it.  Minor versions only append members to the end of
 * struct procctl_host, so a plugin built against minor N works with any host
 * of minor >= N.
 *
 * Threading: everything runs on the daemon's single event-loop thread.  No
 * callback may block; wait for things with timers and watchers instead.
 */
#ifndef PROCCTL_PLUGIN_H
#define PROCCTL_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROCCTL_ABI_MAJOR 1
#define PROCCTL_ABI_MINOR 0

/* Opaque to plugins. */
struct procctl_plugin;	/* the host's record of one loaded plugin */
struct procctl_ctx;	/* one request being answered, or a push being built */

/* One command argument.  Binary-safe: `len` counts the bytes; `ptr` is also
 * NUL-terminated for convenience, but may contain NULs itself. */
struct procctl_arg {
	const char	*ptr;
	size_t		 len;
};

/* Who sent the request, as the kernel (SO_PEERCRED) or authentication says.
 * Never derived from anything the client sent about itself. */
struct procctl_caller {
	uint64_t	 conn_id;	/* unique for the daemon's lifetime */
	uid_t		 uid;
	gid_t		 gid;
	pid_t		 pid;		/* -1 when unknown (remote peers) */
	const char	*user;		/* user name, or the uid in decimal */
	int		 admin;		/* may see and act on everything */
	int		 interactive;	/* the connection asked for events */
};

/* Log levels, most severe first. */
enum procctl_log_level {
	PROCCTL_LOG_ERROR,
	PROCCTL_LOG_WARN,
	PROCCTL_LOG_INFO,
	PROCCTL_LOG_DEBUG,
};

/* Command flags. */
#define PROCCTL_CMD_ADMIN	0x01u	/* only admins may call it */

/*
 * A command handler.  argv[0] is the command name as typed.  The handler
 * must either produce exactly one reply (one call of a reply_* builder, or
 * an aggregate header followed by its elements) before returning, or call
 * host->defer() and reply later through the returned handle.
 */
typedef void (*procctl_cmd_fn)(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv);

struct procctl_command {
	const char	*name;		/* lower case; matched case-insensitively */
	procctl_cmd_fn	 fn;
	int		 arity;		/* as Redis: N exactly N words with the
					 * name, -N at least N */
	const char	*usage;		/* "close <pid|name> [all]" */
	const char	*summary;	/* one line, no trailing period */
	unsigned	 flags;		/* PROCCTL_CMD_* */
};

/* fd watcher events. */
#define PROCCTL_EV_READ		0x01u
#define PROCCTL_EV_WRITE	0x02u
#define PROCCTL_EV_ERROR	0x04u

typedef void (*procctl_fd_fn)(int fd, unsigned events, void *arg);
typedef void (*procctl_timer_fn)(void *arg);

/* How a child ended, as waitid() reported it. */
struct procctl_exit {
	pid_t	pid;
	int	code;		/* exit status, or -1 when killed */
	int	signal;		/* terminating signal, or 0 */
	int	core_dumped;
};
typedef void (*procctl_child_fn)(const struct procctl_exit *ex, void *arg);

typedef void (*procctl_conn_fn)(const struct procctl_caller *who, void *arg);

/*
 * Services the host gives every plugin.  `self` is the plugin's own handle,
 * as passed to init.  Reply builders take the ctx of the request being
 * answered (or of a push being built); on a ctx whose connection has gone,
 * they do nothing, so plugins need not track connection lifetimes.
 */
struct procctl_host {
	uint32_t	abi_major;
	uint32_t	abi_minor;
	size_t		size;		/* sizeof(struct procctl_host) in the host */

	/* Registration and configuration. */
	int		(*register_command)(struct procctl_plugin *self,
			    const struct procctl_command *cmd);
	/* The value of KEY in this plugin's [plugin:NAME] section, or NULL. */
	const char	*(*config_get)(struct procctl_plugin *self,
			    const char *key);
	void		(*log)(struct procctl_plugin *self, int level,
			    const char *fmt, ...)
			    __attribute__((format(printf, 3, 4)));

	/* Replies: exactly one value per request.  reply_error's CODE is one
	 * of the protocol's upper-case codes (ERR, ARGS, NOENT, EXEC, NOPERM,
	 * LIMIT, DIV0, ...); the message follows it. */
	void		(*reply_simple)(struct procctl_ctx *ctx, const char *s);
	void		(*reply_error)(struct procctl_ctx *ctx, const char *code,
			    const char *fmt, ...)
			    __attribute__((format(printf, 3, 4)));
	void		(*reply_int)(struct procctl_ctx *ctx, long long v);
	/* A double given as decimal text, sent verbatim (exact values). */
	void		(*reply_double_text)(struct procctl_ctx *ctx,
			    const char *text);
	void		(*reply_double)(struct procctl_ctx *ctx, double v);
	/* An integer of any size, as decimal text: "-123456789012345678901". */
	void		(*reply_bignum)(struct procctl_ctx *ctx,
			    const char *digits);
	void		(*reply_bulk)(struct procctl_ctx *ctx, const void *p,
			    size_t len);
	void		(*reply_str)(struct procctl_ctx *ctx, const char *s);
	void		(*reply_null)(struct procctl_ctx *ctx);
	void		(*reply_bool)(struct procctl_ctx *ctx, int v);
	/* Aggregates: the header, then exactly N (array) or 2*N (map: key,
	 * value, ...) further values. */
	void		(*reply_array)(struct procctl_ctx *ctx, size_t n);
	void		(*reply_map)(struct procctl_ctx *ctx, size_t n);

	/* The identity of the caller of CTX. */
	const struct procctl_caller *(*caller)(struct procctl_ctx *ctx);

	/* Deferred replies.  defer() must be called before any reply is
	 * built; it returns a handle that stays valid until finish().  Build
	 * the reply on the handle with the reply_* functions, then call
	 * finish().  The connection waits for it: replies stay in order. */
	struct procctl_ctx *(*defer)(struct procctl_ctx *ctx);
	void		(*finish)(struct procctl_ctx *deferred);

	/* Timers: one-shot, milliseconds from now.  Returns an id > 0. */
	uint64_t	(*timer_add)(struct procctl_plugin *self, uint64_t ms,
			    procctl_timer_fn fn, void *arg);
	void		(*timer_cancel)(struct procctl_plugin *self, uint64_t id);

	/* fd watchers (level-triggered).  One watcher per fd. */
	int		(*watch_fd)(struct procctl_plugin *self, int fd,
			    unsigned events, procctl_fd_fn fn, void *arg);
	void		(*unwatch_fd)(struct procctl_plugin *self, int fd);

	/* Child-exit watcher on a pidfd: the host reaps the child with
	 * waitid(P_PIDFD) and calls FN once with how it ended.  The pidfd
	 * stays the plugin's to close, after FN has run (or after
	 * unwatch_child). */
	int		(*watch_child)(struct procctl_plugin *self, int pidfd,
			    procctl_child_fn fn, void *arg);
	void		(*unwatch_child)(struct procctl_plugin *self, int pidfd);

	/* Push events.  push_begin() returns a ctx on which to build one
	 * value (normally an array whose first element is the event kind);
	 * push_end() sends it as a RESP3 push frame to every subscribed
	 * connection of user UID (and to subscribed admins); see also
	 * push_begin_conn below.  A slow reader loses events, never
	 * replies. */
	struct procctl_ctx *(*push_begin)(struct procctl_plugin *self,
			    uid_t uid);
	void		(*push_end)(struct procctl_ctx *push);

	/* Called when any connection closes, with its caller identity. */
	int		(*on_disconnect)(struct procctl_plugin *self,
			    procctl_conn_fn fn, void *arg);

	/* A push to one connection (procctl_caller.conn_id), if it is
	 * subscribed; built and sent like push_begin/push_end. */
	struct procctl_ctx *(*push_begin_conn)(struct procctl_plugin *self,
			    uint64_t conn_id);
};

/* The one exported symbol. */
struct procctl_plugin_decl {
	uint32_t	 abi_major;
	uint32_t	 abi_minor;
	const char	*name;
	const char	*version;
	const char	*description;
	/* Register commands and read config; 0 on success, -1 (after
	 * logging why) to refuse loading. */
	int		(*init)(struct procctl_plugin *self,
			    const struct procctl_host *host);
	/* Release everything; end what must not outlive the daemon.  May be
	 * NULL.  Called on unload and at daemon shutdown. */
	void		(*fini)(struct procctl_plugin *self);
};

#define PROCCTL_PLUGIN(name, version, description, init, fini)		\
	__attribute__((visibility("default")))				\
	const struct procctl_plugin_decl procctl_plugin = {		\
		PROCCTL_ABI_MAJOR, PROCCTL_ABI_MINOR,			\
		(name), (version), (description), (init), (fini)	\
	}

#define PROCCTL_PLUGIN_SYMBOL "procctl_plugin"

#ifdef __cplusplus
}
#endif

#endif /* PROCCTL_PLUGIN_H */
