/*
 * procctld's monitor and the message set it speaks with the server.
 *
 * procctld is two processes.  The monitor is the parent of every managed
 * process and does only what needs a parent or privilege: spawn (fork,
 * set up the child's context, exec, report the exec result
 * asynchronously), signal (a process, or its whole tree), reap, and
 * create and remove cgroups.  It never parses client bytes, never does
 * TLS, never loads a plugin.  The server is everything else, and asks the
 * monitor for every process operation over a socketpair.
 *
 * Messages, OpenBSD imsg style: a fixed header, then exactly `len` bytes
 * of payload whose layout the type fixes.  The receiver checks every
 * size (header, fixed part, strings) before it reads a field, and drops
 * the connection on any mismatch: the monitor trusts the server no more
 * than it must.
 */
#ifndef PROCCTL_MONITOR_H
#define PROCCTL_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MON_MAX_PAYLOAD	(1024 * 1024)	/* argv and env included */
#define MON_MAX_ENV	4096		/* env words in one MON_SPAWN */
#define MON_MAX_TAG	4096		/* a plugin's bytes kept per process */
#define MON_MAX_OWNER	64		/* a plugin's name, NUL included */
#define MON_MAX_FDS	4		/* fds with one message */

struct mon_hdr {
	uint32_t	type;		/* MON_* */
	uint32_t	len;		/* payload bytes after the header */
	uint64_t	id;		/* the server's handle for a process */
};

enum mon_type {
	/* server -> monitor */
	MON_SPAWN = 1,		/* struct mon_spawn, then its strings */
	MON_SIGNAL,		/* struct mon_signal */
	MON_SHUTDOWN,		/* struct mon_shutdown: end every process (or
				 * leave them to the next procctld), exit */
	MON_HELLO,		/* no payload: a server has started; tell it
				 * what runs */
	MON_UPGRADE,		/* no payload: re-exec the monitor from the
				 * binary on disk once this server is gone */
	MON_RELOAD,		/* no payload: read the configuration (and
				 * the files it names) as root for me; the
				 * id comes back in MON_FILES */
	MON_KEEP,		/* no payload: I now run on the configuration
				 * of the MON_FILES with this id; the next
				 * server is to parse it (MON_ENV_CONFIG) */
	MON_FAILED,		/* no payload: I could not start, and exit
				 * now (my status says why); the processes
				 * go on, as after a crash */
	MON_CLIENTS,		/* struct mon_clients: how many clients I
				 * have now (for the service manager's
				 * STATUS=); sent on change, at most once
				 * a second */
	MON_RELOADED,		/* no payload: the reload a SIGHUP asked
				 * for is over, applied or not */

	/* monitor -> server */
	MON_STARTED = 100,	/* struct mon_started: exec worked, or why not */
	MON_EXITED,		/* struct mon_exited: the process and its whole
				 * tree have ended */
	MON_ADOPT,		/* struct mon_adopt, owner, tag: a process
				 * this server did not start is running */
	MON_READY,		/* struct mon_ready: every MON_ADOPT is sent */
	MON_FILES,		/* struct mon_file records: what MON_RELOAD
				 * asked for; only a MON_FILE_ERROR when it
				 * could not be read (the monitor has logged
				 * every problem) */
	MON_NOTIFY,		/* struct mon_notify, then its status text:
				 * what a process said (READY=1, STATUS=) */
	MON_LISTEN,		/* no payload, one fd: the Unix socket made
				 * again (it had been deleted); accept on
				 * it from now on */
};

/*
 * MON_FILES: each record is this, then `len` bytes: the file's, or for
 * MON_FILE_INCLUDE the drop-in file's name (not empty; with its NUL, at
 * most PATH_MAX bytes), then its bytes.  Every role but MON_FILE_INCLUDE comes at
 * most once; MON_FILE_INCLUDE only after MON_FILE_CONFIG, in the order
 * the files are read (at most MON_MAX_INCLUDES); MON_FILE_ERROR alone.
 * The config memfd a server inherits (MON_ENV_CONFIG) holds the same
 * records: MON_FILE_CONFIG, then the MON_FILE_INCLUDEs.
 */
enum mon_file_role {
	MON_FILE_CONFIG = 1,	/* the -c file */
	MON_FILE_SECRETS,	/* [tcp] secrets */
	MON_FILE_TLS_CERT,	/* [tcp] tls_cert, tls_key, tls_client_ca */
	MON_FILE_TLS_KEY,
	MON_FILE_TLS_CA,
	MON_FILE_INCLUDE,	/* a drop-in file of [daemon] include */
	MON_FILE_ERROR,		/* the files could not be read: why (the
				 * first error, "file:line: ..."), at most
				 * MON_MAX_ERROR bytes, no NUL */
	MON_FILE_MAX
};

#define MON_MAX_INCLUDES 1024		/* drop-in files in one MON_FILES */
#define MON_MAX_ERROR	1024

struct mon_file {
	uint32_t	role;		/* MON_FILE_* */
	uint32_t	len;
};

struct mon_clients {
	uint32_t	clients;
	uint32_t	reserved;
};

/* MON_SHUTDOWN flags. */
#define MON_SHUTDOWN_LEAVE	0x01u	/* live_restore: processes go on, the
					 * state file says what they are */

struct mon_shutdown {
	uint32_t	flags;
	uint32_t	reserved;
};

/*
 * MON_ADOPT: a process started by an earlier server (the one that
 * crashed, or before an upgrade), or by an earlier monitor (found in the
 * state file after a crash of both).  After it come `owner_len` bytes
 * (the plugin's name, NUL-terminated), then `tag_len` bytes: what the
 * plugin asked to keep with it at spawn.  A MON_EXITED for the same id
 * may follow at once: it ended while no server was there.
 */
struct mon_adopt {
	int32_t		pid;
	uint32_t	contained;
	uint32_t	foreign;	/* not the monitor's child: how it ends
					 * will not be known */
	uint32_t	owner_len;
	uint32_t	tag_len;
	uint32_t	nfds;		/* its output's read ends, as with
					 * MON_STARTED (0 or 2) */
	int64_t		started_ms;	/* CLOCK_REALTIME */
};

/* MON_READY: ids the monitor knows are all below next_id. */
struct mon_ready {
	uint64_t	next_id;
};

/* MON_SPAWN flags. */
#define MON_SPAWN_CAPTURE	0x02u	/* stdout/stderr: pipes whose read
					 * ends the server gets (and the
					 * monitor keeps a copy of) */
#define MON_SPAWN_INHERIT_OUTPUT 0x01u	/* stdout/stderr: the monitor's
					 * (else /dev/null) */

/*
 * MON_SPAWN: start argv[0] (searched in PATH when it has no '/') in a
 * clean context: a fresh environment (HOME, USER, LOGNAME, SHELL from the
 * user's passwd entry, PATH, LANG if the monitor has one, then the `env`
 * strings "K=V", which may override), cwd `cwd` entered as the user,
 * umask `umask`, every fd above 2 closed, default signal dispositions
 * and mask, default rlimits (RLIMIT_NOFILE soft 1024), its own session,
 * its own cgroup when the monitor has a cgroup root.
 *
 * Strings follow the fixed part, each NUL-terminated, in this order:
 * user, cwd, owner (the plugin's name), argc argv words, envc env words;
 * then tag_len bytes the monitor keeps and gives back with MON_ADOPT.
 * Their total is exactly len - sizeof(struct mon_spawn).  An empty cwd
 * with cwd_pid > 0: that process's working directory (the caller's,
 * which only the monitor may read once the server has dropped root).
 * The ids are whom to run as: a root monitor becomes them, any other
 * accepts only its own.
 */
struct mon_spawn {
	uint32_t	uid;
	uint32_t	gid;
	uint32_t	umask;
	uint32_t	flags;		/* MON_SPAWN_* */
	uint32_t	argc;		/* >= 1 */
	uint32_t	envc;
	uint32_t	stop_ms;	/* SIGTERM to SIGKILL on MON_SHUTDOWN */
	int32_t		cwd_pid;
	uint32_t	tag_len;	/* <= MON_MAX_TAG */
	uint32_t	ready;		/* MON_RDY_* */
	uint32_t	ready_fd;	/* MON_RDY_FD: 3..MON_MAX_READY_FD */
	uint32_t	reserved;
	uint64_t	memory_max;	/* bytes; 0: none */
	uint64_t	pids_max;	/* 0: none */
	uint64_t	nofile;		/* RLIMIT_NOFILE; 0: the default */
	/* char strings[]; */
};

/* How a process says it is ready (MON_SPAWN.ready). */
enum mon_readiness {
	MON_RDY_NONE,
	MON_RDY_NOTIFY,		/* sd_notify: NOTIFY_SOCKET in its env */
	MON_RDY_FD,		/* a newline on fd ready_fd */
};
#define MON_MAX_READY_FD	255
#define MON_MAX_STATUS		256	/* STATUS= bytes passed on */

/* MON_NOTIFY. */
struct mon_notify {
	uint32_t	ready;		/* it said READY=1 (or wrote the
					 * newline) */
	uint32_t	status_len;	/* then this many bytes of STATUS= */
};

/* MON_SIGNAL flags. */
#define MON_SIGNAL_TREE		0x01u	/* every process of its tree */
#define MON_SIGNAL_KILL_TREE	0x02u	/* SIGKILL to the tree at once
					 * (cgroup.kill); `signo` unused */

struct mon_signal {
	int32_t		signo;
	uint32_t	flags;		/* MON_SIGNAL_* */
};

/* MON_STARTED: error 0 and the pid, or the errno of what failed (exec's
 * own included: ENOENT, EACCES, EISDIR, ENOEXEC, ...), pid 0. */
struct mon_started {
	int32_t		pid;
	int32_t		error;
	uint32_t	contained;	/* 1: in its own cgroup */
	uint32_t	limits;		/* MON_LIMIT_*: enforced by its cgroup */
	uint32_t	nfds;		/* 2 with MON_SPAWN_CAPTURE: the read
					 * ends of its stdout and stderr come
					 * with the message (SCM_RIGHTS) */
	uint32_t	reserved;
};
#define MON_LIMIT_MEMORY_CGROUP	0x01u
#define MON_LIMIT_PIDS_CGROUP	0x02u

/* MON_EXITED: how the main process ended (as waitid saw it), sent once
 * its whole tree is gone. */
struct mon_exited {
	int32_t		pid;
	int32_t		code;		/* exit status, or -1 when killed */
	int32_t		signo;		/* terminating signal, or 0 */
	int32_t		core_dumped;
	uint32_t	unknown;	/* a foreign process: not known how */
	uint32_t	oom_killed;	/* its cgroup's memory.events counted
					 * an OOM kill */
};

/* What procctld's start hands the monitor. */
struct monitor_args {
	char		**argv;		/* procctld's own, to start servers
					 * and to re-exec (copied) */
	int		 *lfds;		/* the listening sockets, kept across
					 * servers and upgrades */
	size_t		  nlfds;
	const char	 *socket;	/* the Unix socket's path: unlinked at
					 * the end if it is still ours */
	int		  socket_activated; /* ...unless systemd passed it
					 * (socket activation): then never
					 * unlinked nor made again */
	/* SIGHUP finds the socket's path empty (someone deleted it): bind
	 * it again; the listening fd, or -1. */
	int		(*rebind)(void);
	const char	 *state;	/* the state file's path */
	int		  live_restore;	/* a stop with no server running
					 * leaves the processes too */
	/* MON_RELOAD: the files as one MON_FILES payload (malloc'd; when
	 * they could not be read, a MON_FILE_ERROR saying why), or -1
	 * when not even that could be made.  Runs in the monitor, as
	 * root. */
	int		(*read_files)(uint64_t id, char **payload, size_t *len);
	/* MON_KEEP: the configuration read for MON_RELOAD ID is what the
	 * server runs on now (it applied it). */
	void		(*keep_files)(uint64_t id);
	/* A memfd with the configuration's bytes, its drop-in files
	 * included (at start, then as the last reload the server applied
	 * read them), or -1: a restarted server parses these, not files
	 * an admin may be half-way through editing, nor ones a reload
	 * refused. */
	const int	 *config_fd;
	/* Tests: >= 0, a server is already on this fd (the test drives
	 * the monitor as one); none is started, and losing it ends all. */
	int		  server_fd;
};

/* Environment a server starts with (and then unsets). */
#define MON_ENV_SERVER	"PROCCTLD_MONITOR_FD"	/* its end of the pair */
#define MON_ENV_LISTEN	"PROCCTLD_LISTEN_FDS"	/* "4,5": listeners */
#define MON_ENV_UPGRADE	"PROCCTLD_UPGRADE"	/* a monitor re-exec'd */
#define MON_ENV_RESTARTED "PROCCTLD_RESTARTED"	/* a server after another
						 * (a crash, an upgrade) */
#define MON_ENV_READY	"PROCCTLD_READY"	/* "<notify fd>;<id>:<kind>:
						 * <fd>;...": readiness a
						 * re-exec'd monitor goes on
						 * waiting for */
#define MON_ENV_ACTIVATED "PROCCTLD_SOCKET_ACTIVATED" /* a re-exec'd
						 * monitor's Unix socket is
						 * systemd's */
#define MON_ENV_CONFIG	"PROCCTLD_CONFIG_FD"	/* the -c file's bytes and
						 * its drop-ins', as the
						 * monitor last found them
						 * usable (MON_FILES
						 * records) */

/* monitor.c: be the monitor: start the server, restart it when it dies,
 * until a server says MON_SHUTDOWN.  Never returns. */
void	monitor_main(const struct monitor_args *) __attribute__((noreturn));

#endif
