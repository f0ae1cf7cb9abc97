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

struct mon_hdr {
	uint32_t	type;		/* MON_* */
	uint32_t	len;		/* payload bytes after the header */
	uint64_t	id;		/* the server's handle for a process */
};

enum mon_type {
	/* server -> monitor */
	MON_SPAWN = 1,		/* struct mon_spawn, then its strings */
	MON_SIGNAL,		/* struct mon_signal */
	MON_SHUTDOWN,		/* no payload: end every process, then exit */

	/* monitor -> server */
	MON_STARTED = 100,	/* struct mon_started: exec worked, or why not */
	MON_EXITED,		/* struct mon_exited: the process and its whole
				 * tree have ended */
};

/* MON_SPAWN flags. */
#define MON_SPAWN_INHERIT_OUTPUT 0x01u	/* stdout/stderr: the monitor's
					 * (else /dev/null) */
#define MON_SPAWN_SET_IDS	0x02u	/* become uid/gid (root monitor) */

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
 * user, cwd, argc argv words, envc env words.  Their total is exactly
 * len - sizeof(struct mon_spawn).
 */
struct mon_spawn {
	uint32_t	uid;
	uint32_t	gid;
	uint32_t	umask;
	uint32_t	flags;		/* MON_SPAWN_* */
	uint32_t	argc;		/* >= 1 */
	uint32_t	envc;
	uint32_t	stop_ms;	/* SIGTERM to SIGKILL on MON_SHUTDOWN */
	uint32_t	reserved;
	/* char strings[]; */
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
	uint32_t	reserved;
};

/* MON_EXITED: how the main process ended (as waitid saw it), sent once
 * its whole tree is gone. */
struct mon_exited {
	int32_t		pid;
	int32_t		code;		/* exit status, or -1 when killed */
	int32_t		signo;		/* terminating signal, or 0 */
	int32_t		core_dumped;
};

/* monitor.c: run the monitor on FD (the server's end of the socketpair)
 * until the server says MON_SHUTDOWN or goes away; every process is
 * ended first.  Never returns. */
void	monitor_main(int fd, pid_t server) __attribute__((noreturn));

#endif
