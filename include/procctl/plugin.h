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
 * must not exceed it.  Minor versions only append members to the ends of
 * structures, so a plugin built against minor N works with any host of
 * minor >= N.  It works both ways, as in sudo's plugin API: the host reads a
 * member that a plugin-side structure (struct procctl_plugin_decl, struct
 * procctl_command) gained in minor N only when the plugin declares minor
 * >= N, so an older plugin is never read past what it was built with.
 *
 * Minor 1 added: declared arguments (struct procctl_option, struct
 * procctl_param, and the members after `flags` in struct procctl_command),
 * host->option(), and `size` in struct procctl_plugin_decl.
 * Minor 2 added: spawning through procctld's monitor (host->spawn,
 * host->signal, struct procctl_spawn) and repeated options
 * (host->option_at).
 * Minor 3 added: processes that outlive a server (the tag and cwd_pid in
 * struct procctl_spawn, host->on_adopt, struct procctl_adopted,
 * procctl_exit.unknown), sessions that outlive a connection
 * (procctl_caller.session, host->on_session).
 * Minor 4 added: sections of the configuration a plugin reads itself,
 * [kind:name] such as [program:web] (host->section, host->section_kv,
 * host->config_file), reloading them (host->on_reload, host->note), and
 * PROCCTL_INIT_BAD_CONFIG.
 * Minor 5 added: readiness, limits and why a process died (the members
 * after cwd_pid in struct procctl_spawn, struct procctl_notify,
 * procctl_started.limits, procctl_exit.oom_killed), where a section was
 * read from (host->section_file: drop-in files), and records that outlive
 * the plugin's own reload (host->keep, host->kept).
 * Minor 6 added: a ring size per process (host->output_ring), lines to
 * procctld's log (host->output_to_log) or to journald
 * (host->output_to_journal).
 * Minor 7 added: the keys a plugin's section may have (host->config_keys:
 * others are reported as typos); a connection that stops following
 * without closing (UNFOLLOW: host->on_unfollow).
 * Minor 8 added: how much a reply may still grow before its client's
 * unread output passes max_output (host->reply_room).
 * Minor 9 added: metrics in the Prometheus text format (host->on_metrics,
 * host->metric_family, host->metric_sample, struct procctl_metrics).
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
#define PROCCTL_ABI_MINOR 9

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
	/* Minor 3: the session this connection belongs to.  Its conn_id,
	 * unless the client named a session (HELLO ... SESSION token): then
	 * a key of the user and the token, the same on every connection
	 * that names it, so a client that reconnects (after a server
	 * restart) is the same session again.  Keys of named sessions have
	 * the top bit set; conn_ids never do. */
	uint64_t	 session;
};
#define PROCCTL_SESSION_NAMED	(1ULL << 63)

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
 *
 * A command that declares its arguments (`params` below) gets argv[1..]
 * holding only its positional words, already counted and checked against
 * the declaration; its options are asked for with host->option().  One
 * that does not gets every word as sent, checked only against `arity`.
 */
typedef void (*procctl_cmd_fn)(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv);

/*
 * Declared arguments (minor 1), as tmux's cmd_entry declares them: the host
 * parses a request against the declaration, writes the one usage error
 * (`-ARGS ...; usage: <usage>`), and describes the arguments to clients
 * (COMMAND, HELLO) so that they document and complete them without knowing
 * the command.
 *
 * Options may come anywhere among the positional words: `--name`,
 * `--name=value`, `--name value`, `-l` and `-l value` for a one-letter
 * alias, `-ab` for two flags; `--` ends them.  In a command with a
 * PROCCTL_PARAM_REST parameter the first positional word ends them too,
 * so a program's own arguments keep their dashes.  A lone "-" and
 * negative numbers ("-5") are words, not options.
 */
struct procctl_option {
	const char	*name;		/* "detach": --detach; NULL ends a list */
	char		 letter;	/* 'd': -d; 0 for none */
	const char	*value;		/* NULL: a flag; else its value's name
					 * in usage and help: "N", "TIME" */
	const char	*summary;	/* one line */
};

/* What a positional word is: checked by the host where it can be, and a
 * hint for completion and documentation. */
enum procctl_param_type {
	PROCCTL_PARAM_WORD,	/* any bytes */
	PROCCTL_PARAM_KEYWORD,	/* one of `words`, matched case-insensitively */
	PROCCTL_PARAM_INT,	/* a decimal integer that fits a long long */
	PROCCTL_PARAM_NUMBER,	/* a number; the command judges its form */
	PROCCTL_PARAM_PROGRAM,	/* a program: a path, or a name in PATH */
	PROCCTL_PARAM_FILE,	/* a file name */
};

/* This word and every one after it are taken as they are: no options are
 * looked for among them (a program's own arguments). */
#define PROCCTL_PARAM_REST	0x01u

struct procctl_param {
	const char	*name;		/* "id|name"; NULL ends a list */
	int		 type;		/* enum procctl_param_type */
	const char	*words;		/* KEYWORD: "world|moon" */
	unsigned	 min;		/* occurrences: 1 required, 0 optional */
	unsigned	 max;		/* at most; 0 for any number */
	unsigned	 flags;		/* PROCCTL_PARAM_* */
	/* Where a client finds candidates for completion: run the command
	 * `complete_command` (no arguments; it replies with an array of
	 * maps) and offer the values of the keys `complete_fields`
	 * ("name id"); keep them current from push events whose kind is
	 * one of `complete_events` ("created"): the event's record (a map)
	 * adds its values.  NULLs: nothing to complete. */
	const char	*complete_command;
	const char	*complete_fields;
	const char	*complete_events;
};

struct procctl_command {
	const char	*name;		/* lower case; matched case-insensitively */
	procctl_cmd_fn	 fn;
	int		 arity;		/* as Redis: N exactly N words with the
					 * name, -N at least N; with `params`
					 * the host derives it (set 0) */
	const char	*usage;		/* "greet [--loud] <who>"; with
					 * `params`, NULL derives it */
	const char	*summary;	/* one line, no trailing period */
	unsigned	 flags;		/* PROCCTL_CMD_* */
	/* Minor 1: read only from plugins that declare minor >= 1. */
	const struct procctl_option *options;	/* NULL, or ended by a NULL
						 * name */
	const struct procctl_param *params;	/* NULL: undeclared (argv as
						 * sent, arity checked); else
						 * ended by a NULL name */
	const char	*group;		/* heading in help: "processes" */
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
	/* Minor 3: how it ended is not known (adopted after procctld was
	 * killed, so not its parent: code -1, signal 0). */
	int	unknown;
	/* Minor 5: the kernel's OOM killer killed a process of its tree
	 * (known only where the memory controller watches its cgroup). */
	int	oom_killed;
};
typedef void (*procctl_child_fn)(const struct procctl_exit *ex, void *arg);

typedef void (*procctl_conn_fn)(const struct procctl_caller *who, void *arg);

/*
 * Spawning (minor 2).  procctld's monitor, not the plugin, is the parent
 * of managed processes: a plugin asks the host, and hears back through
 * callbacks, never while it waits.  A process starts clean (a fresh
 * environment, its own session and, where cgroups allow, its own cgroup,
 * no inherited fds) as the user the spec names; see docs/processes.md.
 */
#define PROCCTL_SPAWN_INHERIT_OUTPUT	0x01u	/* stdout/stderr: procctld's */
/* Minor 5: stdout/stderr are captured: procctld reads them into a ring
 * per process (host->output_tail). */
#define PROCCTL_SPAWN_CAPTURE		0x02u

/* Minor 5: one line a process wrote. */
struct procctl_line {
	int64_t		 time_ms;	/* when it was read, CLOCK_REALTIME */
	int		 stream;	/* 1 stdout, 2 stderr */
	const char	*text;		/* its bytes as written (no newline;
					 * not NUL-terminated) */
	size_t		 len;
};
typedef void (*procctl_line_fn)(const struct procctl_line *line, void *arg);

/* Minor 5: how a process says it is ready. */
enum procctl_ready {
	PROCCTL_READY_NONE,	/* started = ready */
	PROCCTL_READY_NOTIFY,	/* sd_notify("READY=1") on NOTIFY_SOCKET,
				 * from it or any process of its tree */
	PROCCTL_READY_FD,	/* s6's notification-fd: a newline written
				 * on fd `ready_fd` */
};

/* Minor 5: what a process said (READY=1, STATUS=...). */
struct procctl_notify {
	int		 ready;		/* it is ready */
	const char	*status;	/* STATUS= text (sanitized), or NULL */
};
typedef void (*procctl_notify_fn)(const struct procctl_notify *n,
    void *arg);

struct procctl_spawn {
	size_t		 size;		/* sizeof(struct procctl_spawn) */
	char *const	*argv;		/* argv[0] is searched in PATH */
	char *const	*env;		/* "K=V" over the clean set; NULL-ended,
					 * or NULL */
	const char	*cwd;		/* entered as the user; NULL: home */
	uid_t		 uid;		/* whom to run as (a root daemon) */
	gid_t		 gid;
	const char	*user;		/* for initgroups and the environment */
	mode_t		 umask;
	unsigned	 flags;		/* PROCCTL_SPAWN_* */
	uint32_t	 stop_ms;	/* SIGTERM to SIGKILL when procctld
					 * stops */
	/* Minor 3. */
	const void	*tag;		/* kept with the process by the monitor
					 * and given back to on_adopt when a
					 * later server (or procctld) adopts
					 * it: what the plugin needs to know
					 * it again; at most 4096 bytes */
	size_t		 tag_len;
	pid_t		 cwd_pid;	/* cwd NULL and this > 0: start in this
					 * process's working directory (the
					 * caller's: procctl_caller.pid), read
					 * by the monitor */
	/* Minor 5. */
	int		 ready;		/* enum procctl_ready */
	int		 ready_fd;	/* READY_FD: 3 or above */
	procctl_notify_fn notify;	/* what it says, with spawn()'s ARG;
					 * NULL: not told */
	uint64_t	 memory_max;	/* bytes; 0: none.  memory.max of its
					 * cgroup, else RLIMIT_AS */
	uint64_t	 pids_max;	/* 0: none.  pids.max, else
					 * RLIMIT_NPROC (which counts every
					 * process of the user) */
	uint64_t	 nofile;	/* RLIMIT_NOFILE, soft and hard; 0:
					 * the default (1024) */
};

/*
 * Adoption (minor 3).  A process started by an earlier server of this
 * procctld (it crashed and was restarted, or was upgraded), or by an
 * earlier procctld (killed, or stopped with live_restore), is offered to
 * the plugin that started it once it has loaded.  `tag` is what its
 * spawn's spec said.  The plugin's adopt function returns the ARG for
 * the ended callback it registered, or NULL to refuse (the process is
 * then killed: nobody would manage it).  `handle` works with signal().
 */
struct procctl_adopted {
	uint64_t	 handle;
	pid_t		 pid;
	int		 contained;
	int		 foreign;	/* not procctld's child any more: its
					 * exit status will be unknown */
	const void	*tag;
	size_t		 tag_len;
	int64_t		 started_ms;	/* CLOCK_REALTIME, milliseconds */
};
typedef void *(*procctl_adopt_fn)(const struct procctl_adopted *a,
    void *arg);

/*
 * Metrics (minor 9).  The `metrics` command and the [metrics] HTTP
 * endpoint write the Prometheus text format: the core's families, then
 * each plugin's, from the function it gave on_metrics.  That function
 * begins a family (metric_family), then writes its samples
 * (metric_sample), family after family; the host checks names, escapes
 * label values and refuses what would break the format.  Counters only
 * go up (a name ending in _total); gauges go both ways.
 */
struct procctl_metrics;	/* one exposition being written (opaque) */
typedef void (*procctl_metrics_fn)(struct procctl_metrics *m, void *arg);
enum procctl_metric_type {
	PROCCTL_METRIC_COUNTER,
	PROCCTL_METRIC_GAUGE,
};

/* Minor 4: a reload's list of what changes (opaque; see host->note). */
struct procctl_report;
typedef int (*procctl_reload_fn)(int dry, struct procctl_report *report,
    void *arg);

/* The exec's result: pid, or error (an errno: ENOENT, EACCES, EISDIR...).
 * contained: the process has its own cgroup (its whole tree is ended
 * with it). */
struct procctl_started {
	pid_t	 pid;
	int	 error;
	int	 contained;
	/* Minor 5: the limits its cgroup enforces (the others, if asked
	 * for, are rlimits). */
	unsigned limits;
};
#define PROCCTL_LIMIT_MEMORY_CGROUP	0x01u
#define PROCCTL_LIMIT_PIDS_CGROUP	0x02u
typedef void (*procctl_started_fn)(const struct procctl_started *st,
    void *arg);

/* host->signal flags. */
#define PROCCTL_SIGNAL_TREE	0x01u	/* every process of its tree */
#define PROCCTL_SIGNAL_KILL	0x02u	/* SIGKILL to the whole tree now */

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

	/* Replies: exactly one value per request.  reply_error's CODE is an
	 * upper-case word from the protocol's list (docs/protocol.md); the
	 * message follows it. */
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

	/* A push to one connection (procctl_caller.conn_id), subscribed
	 * or not; built and sent like push_begin/push_end.  A following
	 * command's pushes (docs/protocol.md: an option named `follow`)
	 * go this way, as ["follow", KIND, MAP-with-"text"]. */
	struct procctl_ctx *(*push_begin_conn)(struct procctl_plugin *self,
			    uint64_t conn_id);

	/* Minor 1. */

	/* The value of option NAME in the request CTX answers: NULL when
	 * it was not given; "" for a flag that was.  Valid until the
	 * handler returns (copy it to keep it past defer()). */
	const char	*(*option)(struct procctl_ctx *ctx, const char *name);

	/* Minor 2. */

	/* Start SPEC's program: STARTED is called once with the exec's
	 * result; when it worked, ENDED is called once more when the
	 * process and every process it started have ended (with how the
	 * first one ended).  Neither is called before spawn() returns.
	 * Returns a handle > 0 for signal(), or 0 (nothing will be called)
	 * when the request could not be made. */
	uint64_t	(*spawn)(struct procctl_plugin *self,
			    const struct procctl_spawn *spec,
			    procctl_started_fn started, procctl_child_fn ended,
			    void *arg);
	/* Signal a spawned process (PROCCTL_SIGNAL_TREE: and everything it
	 * started); 0, or -1 when the handle is not a live process. */
	int		(*signal)(struct procctl_plugin *self, uint64_t handle,
			    int signo, unsigned flags);
	/* The INDEX-th value given for option NAME, for an option that may
	 * be repeated (`--env A=1 --env B=2`); NULL past the last. */
	const char	*(*option_at)(struct procctl_ctx *ctx, const char *name,
			    size_t index);

	/* Minor 3. */

	/* Processes this plugin started under an earlier server: ADOPT is
	 * called for each once this plugin has loaded (before any client
	 * is served), then ENDED with its returned arg when it ends.  Call
	 * from init. */
	int		(*on_adopt)(struct procctl_plugin *self,
			    procctl_adopt_fn adopt, procctl_child_fn ended,
			    void *arg);
	/* Called when a connection names its session (HELLO ... SESSION):
	 * a client has come back, perhaps after a server restart. */
	int		(*on_session)(struct procctl_plugin *self,
			    procctl_conn_fn fn, void *arg);

	/* Minor 4. */

	/* Sections [KIND:NAME] of the configuration (KIND other than
	 * "plugin"), as procctld read it at start: the INDEX-th one's NAME
	 * (and its line), or NULL past the last.  The plugin that reads a
	 * kind says what its keys mean, and refuses unknown ones. */
	const char	*(*section)(struct procctl_plugin *self,
			    const char *kind, size_t index, int *line);
	/* Its INDEX-th key, in file order: 0, or -1 past the last. */
	int		(*section_kv)(struct procctl_plugin *self,
			    const char *kind, const char *name, size_t index,
			    const char **key, const char **value, int *line);
	/* The configuration file's name, for messages ("file:line: ..."):
	 * the one this plugin's [plugin:NAME] section is in (the -c file,
	 * or a drop-in file of [daemon] include). */
	const char	*(*config_file)(struct procctl_plugin *self);
	/* The configuration was read again (SIGHUP, `reload`): FN is
	 * called with the new sections in place (host->section).  With
	 * DRY it changes nothing and says what it would do; else it
	 * applies them.  It describes each change with note(REPORT, ...),
	 * and returns -1 (after logging why) when its part is unusable:
	 * then nothing changes anywhere. */
	int		(*on_reload)(struct procctl_plugin *self,
			    procctl_reload_fn fn, void *arg);
	void		(*note)(struct procctl_report *report, const char *fmt,
			    ...) __attribute__((format(printf, 2, 3)));

	/* Minor 5. */

	/* The file the INDEX-th [KIND:NAME] section was read from: the -c
	 * file, or one of [daemon] include's drop-in files. */
	const char	*(*section_file)(struct procctl_plugin *self,
			    const char *kind, size_t index);
	/* `plugin reload NAME` replaces a plugin with the file now on disk,
	 * and its processes go on.  Its fini may keep() bytes (a copy is
	 * taken; a later call replaces them; -1 outside a reload's fini,
	 * where no instance follows) that the new instance's init reads
	 * with kept() -- its records, say -- before on_adopt hands it the
	 * processes.  kept() is NULL (*LEN 0) when there are none; they
	 * are dropped once an init of that name has returned 0 (one that
	 * refused leaves them for the next `plugin load`).  They may come
	 * from another build of the plugin: check them before use. */
	int		(*keep)(struct procctl_plugin *self, const void *p,
			    size_t len);
	const void	*(*kept)(struct procctl_plugin *self, size_t *len);
	/* What a process handed over by on_adopt says (procctl_spawn's
	 * notify, for one this plugin started with readiness): FN, with
	 * the arg its adopt returned.  Call from init. */
	int		(*on_notify)(struct procctl_plugin *self,
			    procctl_notify_fn fn);
	/* The last N lines a process started with PROCCTL_SPAWN_CAPTURE
	 * wrote on STREAMS (bit 1 stdout, bit 2 stderr), oldest first, to
	 * FN; how many.  Its handle stays good for this after it ended
	 * (the last few hundred ended ones are kept). */
	size_t		(*output_tail)(struct procctl_plugin *self,
			    uint64_t handle, size_t n, unsigned streams,
			    procctl_line_fn fn, void *arg);
	/* FN gets each new line of HANDLE's STREAMS as it is read, until
	 * output_unfollow(ID): an id, or 0 (nothing captured for it).
	 * Unfollow before ARG goes (a connection that closed). */
	uint64_t	(*output_follow)(struct procctl_plugin *self,
			    uint64_t handle, unsigned streams,
			    procctl_line_fn fn, void *arg);
	void		(*output_unfollow)(struct procctl_plugin *self,
			    uint64_t id);
	/* HANDLE's lines go to the file PATH too ("<time> <stream>
	 * <line>"), opened as procctld's server user, rotated past MAX
	 * bytes (0: never) keeping BACKUPS (PATH.1 the newest).  Call when
	 * it has started, and again for one handed over by on_adopt.  0,
	 * or -1 with errno. */
	int		(*output_to_file)(struct procctl_plugin *self,
			    uint64_t handle, const char *path, uint64_t max,
			    unsigned backups);
	/* Minor 6.  HANDLE's ring keeps BYTES of its newest lines (64 KiB
	 * unless set).  Call when it has started, and again for one handed
	 * over by on_adopt.  0, or -1 with errno. */
	int		(*output_ring)(struct procctl_plugin *self,
			    uint64_t handle, size_t bytes);
	/* Minor 6.  HANDLE's lines go to procctld's own log too, each
	 * "WHO stdout: <line>" (escaped, whatever the log level): for
	 * debugging, as output = inherit.  0, or -1 with errno. */
	int		(*output_to_log)(struct procctl_plugin *self,
			    uint64_t handle, const char *who);
	/* Minor 6.  HANDLE's lines go to journald too: SYSLOG_IDENTIFIER
	 * IDENT, SYSLOG_PID PID, PRIORITY 6 (stdout) or 3 (stderr).  0, or
	 * -1 with errno (ENOENT: journald does not run here). */
	int		(*output_to_journal)(struct procctl_plugin *self,
			    uint64_t handle, const char *ident, pid_t pid);
	/* Minor 7.  KEYS (NULL-terminated) are every key this plugin's
	 * [plugin:NAME] section may have (path is the host's): any other
	 * is reported, with its file and line, as a typo.  Call from
	 * init; procctld -t runs it too. */
	int		(*config_keys)(struct procctl_plugin *self,
			    const char *const *keys);
	/* Minor 7.  Called when a connection sends UNFOLLOW: every follow of that
	 * connection (what a command with a `follow` option pushes to it)
	 * ends before FN returns, as it does when the connection closes
	 * (on_disconnect); the connection itself goes on.  The host
	 * replies +OK after FN, and the client takes no push of those
	 * follows after that reply.  Register it with any `follow`
	 * option. */
	int		(*on_unfollow)(struct procctl_plugin *self,
			    procctl_conn_fn fn, void *arg);
	/* Minor 8.  The bytes the reply being built on CTX may still take
	 * before its connection's unread output would pass max_output
	 * (what the client has not read yet counts; a connection over it
	 * is closed): a command whose reply grows with what it lists
	 * stops adding before that, and says so.  0 when nothing more
	 * fits; (size_t)-1 when nothing bounds it (a push, which a slow
	 * reader loses whole). */
	size_t		(*reply_room)(struct procctl_ctx *ctx);
	/* Minor 9.  FN writes this plugin's metric families whenever
	 * metrics are asked for (`metrics`, an HTTP scrape): quickly, from
	 * what the plugin already holds; it may not reply or defer.  Call
	 * from init. */
	int		(*on_metrics)(struct procctl_plugin *self,
			    procctl_metrics_fn fn, void *arg);
	/* Minor 9.  Begin family NAME ("procctl_" then [a-z0-9_:], not a
	 * name already written; a counter's ends in "_total") of TYPE
	 * (enum procctl_metric_type), with HELP (one line).  0, or -1
	 * (logged): its samples are then refused too. */
	int		(*metric_family)(struct procctl_metrics *m,
			    const char *name, int type, const char *help);
	/* Minor 9.  One sample of the family last begun: LABELS is NULL or
	 * a NULL-ended list of name, value, name, value...  (names
	 * [a-zA-Z_][a-zA-Z0-9_]*, not "__..."; values any text, escaped
	 * here), each set of labels once per family.  0, or -1 (logged). */
	int		(*metric_sample)(struct procctl_metrics *m,
			    const char *const *labels, double value);
};

/* The one exported symbol. */
struct procctl_plugin_decl {
	uint32_t	 abi_major;
	uint32_t	 abi_minor;
	const char	*name;
	const char	*version;
	const char	*description;
	/* Register commands and read config; 0 on success, -1 (after
	 * logging why) to refuse loading, PROCCTL_INIT_BAD_CONFIG (minor 4)
	 * when the plugin's part of the configuration is unusable: then
	 * procctld does not start (exit 78), as for any bad setting. */
	int		(*init)(struct procctl_plugin *self,
			    const struct procctl_host *host);
	/* Release everything; end what must not outlive the daemon.  May be
	 * NULL.  Called on unload and at daemon shutdown. */
	void		(*fini)(struct procctl_plugin *self);
	/* Minor 1: sizeof(struct procctl_plugin_decl) as the plugin was
	 * built; the host reads no member past it. */
	size_t		 size;
};

#define PROCCTL_PLUGIN(name, version, description, init, fini)		\
	__attribute__((visibility("default")))				\
	const struct procctl_plugin_decl procctl_plugin = {		\
		PROCCTL_ABI_MAJOR, PROCCTL_ABI_MINOR,			\
		(name), (version), (description), (init), (fini),	\
		sizeof(struct procctl_plugin_decl)			\
	}

#define PROCCTL_PLUGIN_SYMBOL "procctl_plugin"

#define PROCCTL_INIT_BAD_CONFIG	(-78)

#ifdef __cplusplus
}
#endif

#endif /* PROCCTL_PLUGIN_H */
