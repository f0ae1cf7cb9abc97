/* plugins/proc: process control (run, close, list). */
#ifndef PROCCTL_PROC_H
#define PROCCTL_PROC_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "procctl/plugin.h"

enum proc_state { PROC_RUNNING, PROC_CLOSING, PROC_EXITED, PROC_KILLED };

struct waiter;

struct proc {
	uint64_t	 seq;		/* start order */
	pid_t		 pid;
	int		 pidfd;		/* -1 once reaped */
	char		*name;		/* owned; binary-safe */
	size_t		 name_len;
	char		*command;	/* owned: argv joined by spaces */
	size_t		 command_len;
	uid_t		 uid;
	char		 owner[64];
	uint64_t	 session;	/* ended with this connection; 0: no */
	int		 oneshot;	/* started by a non-interactive client */
	struct timespec	 started;	/* CLOCK_REALTIME */
	struct timespec	 ended;
	uint64_t	 start_ms;	/* CLOCK_MONOTONIC, for run time */
	uint64_t	 end_ms;
	enum proc_state	 state;
	int		 exit_code;	/* -1 when killed */
	int		 signal;
	int		 core_dumped;
	int		 forced;	/* SIGKILLed after the close timeout */
	uint64_t	 kill_timer;
	struct waiter	**waiters;	/* close requests waiting on it */
	size_t		 nwaiters;
	size_t		 pins;		/* waiters holding this record */
	struct proc	*prev, *next;	/* newest first */
};

/* The host and our handle, set at init. */
extern const struct procctl_host *H;
extern struct procctl_plugin *proc_self;

/* spawn.c: start ARGV[0] (searched in PATH when it has no '/') in a new
 * session with stdin from /dev/null, as USER/UID/GID when the daemon is
 * root.  0 with *pid and *pidfd set, or an errno value (exec's own error
 * included: ENOENT, EACCES, EISDIR, ENOEXEC, ...). */
struct spawn_opts {
	int		 inherit_output;	/* else stdout/stderr to null */
	uid_t		 uid;
	gid_t		 gid;
	const char	*user;
	const char	*cwd;
};
int	spawn(char *const argv[], const struct spawn_opts *o, pid_t *pid,
	    int *pidfd);

/* list.c: records as replies. */
void	proc_reply_record(struct procctl_ctx *ctx, const struct proc *p,
	    int details);
uint64_t proc_run_ms(const struct proc *p);
const char *proc_state_name(const struct proc *p);
/* "exited with status 0", "killed by SIGTERM", ... */
void	proc_describe_end(const struct proc *p, char *out, size_t size);
void	proc_cmd_list(struct procctl_ctx *ctx, int argc,
	    const struct procctl_arg *argv);

/* proc.c */
extern struct proc *procs;
int	proc_visible(const struct procctl_caller *who, const struct proc *p);

#endif
