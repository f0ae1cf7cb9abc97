/*
 * The monitor's own interfaces, between monitor.c (the loop and the
 * message set), spawn.c (starting a process in a clean context),
 * cgroup.c (one cgroup v2 directory per process) and state.c (the state
 * file a later monitor adopts from).  Nothing outside monitor/ includes
 * this file.
 */
#ifndef PROCCTL_MON_H
#define PROCCTL_MON_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "monitor.h"

#define CG_NAME_MAX	64	/* "procctl-<pid>-<start>/p<id>" */

/* What an epoll event about a process's fd points to. */
enum { W_STATUS, W_PID, W_EV, W_RDY, W_MAX };
struct proc;
struct pwatch {
	struct proc	*p;
	int		 kind;		/* W_* */
};

/* One managed process, from MON_SPAWN (or adoption) to the server being
 * told it has ended. */
struct proc {
	LIST_ENTRY(proc) link;		/* every process; then the freed */
	LIST_ENTRY(proc) hlink;		/* by id */
	struct pwatch	 w[W_MAX];
	int		 gone;		/* freed at the end of this turn */
	uint64_t	 id;
	pid_t		 pid;
	char		 cg[CG_NAME_MAX]; /* its leaf under our parent
					 * cgroup, "" when not contained:
					 * opened when needed, not held
					 * (every spawned child would
					 * inherit the open fds) */
	int		 statusfd;	/* exec-status pipe until read, or -1 */
	int		 evfd;		/* cgroup.events while the tree drains */
	int		 rdyfd;		/* fd:N readiness pipe until it spoke */
	int		 outfd[2];	/* MON_SPAWN_CAPTURE: the read ends of
					 * its stdout and stderr, or -1: sent
					 * to each server, kept until it ends
					 * (so a server restart loses none) */
	uint32_t	 ready;		/* MON_RDY_* it was started with */
	uint32_t	 limits;	/* MON_LIMIT_* its cgroup enforces */
	int		 said_ready;	/* READY=1 (or fd:N's newline) came */
	int		 oom;		/* the OOM killer killed in its tree */
	int		 pidfd;		/* until it is reaped, or -1 */
	int		 foreign;	/* not our child: adopted after a crash */
	int		 error;		/* why it did not start, or 0 */
	int		 started;	/* MON_STARTED sent (or adopted) */
	int		 reaped;	/* the main process has ended */
	int		 done;		/* ...and its tree: told, or to tell */
	int		 status;	/* from waitpid */
	uint32_t	 stop_ms;
	int		 killed;	/* shutdown: SIGKILL sent */
	int64_t		 kill_at;	/* shutdown: SIGKILL due (ms) */
	uint64_t	 stime;		/* start time, clock ticks after boot
					 * (/proc/PID/stat): who the pid is */
	int64_t		 started_ms;	/* CLOCK_REALTIME */
	char		 owner[MON_MAX_OWNER];
	unsigned char	*tag;		/* owned, tag_len bytes */
	uint32_t	 tag_len;
};
LIST_HEAD(proclist, proc);

/* A MON_SPAWN message taken apart; the strings point into the message. */
struct spawn_req {
	struct mon_spawn	 s;
	char			*user;
	char			*cwd;
	char			*owner;
	char			**argv;		/* argc + 1, owned array */
	char			**env;		/* envc + 1, owned array */
	unsigned char		*tag;		/* into the message */
	int			 readyw;	/* fd:N's write end, or -1 */
	int			 outw[2];	/* MON_SPAWN_CAPTURE: stdout's and
						 * stderr's write ends, or -1 */
	uint32_t		 cg_limits;	/* MON_LIMIT_* set on its leaf:
						 * not rlimits then */
};

/* spawn.c */
int	spawn_parse(char *, size_t, struct spawn_req *);
void	spawn_free(struct spawn_req *);
pid_t	spawn_start(const struct spawn_req *, int, int *, int *, int *);
int	spawn_lift(int);

/* cgroup.c */
int	cgroup_init(void);
void	cgroup_fini(void);
int	cgroup_leaf(uint64_t, char *, size_t);
int	cgroup_open(const char *);
void	cgroup_remove(int, const char *);
int	cgroup_events(int);
int	cgroup_populated(int);
void	cgroup_kill(int);
void	cgroup_signal(int, int);
int	cgroup_holds(const char *, pid_t);
void	cgroup_sweep(int (*)(const char *), const char *);
const char *cgroup_name(void);
uint32_t cgroup_limit(int, uint64_t, uint64_t);
int	cgroup_oom_killed(const char *);
int	cgroup_of(pid_t, char *, size_t);

/* ready.c */
struct mon_notify;
int	ready_init(void);
const char *ready_socket(void);
void	ready_read(const struct proclist *,
	    void (*)(struct proc *, const struct mon_notify *, const char *));
int	ready_pipe(int);
void	ready_carry(const struct proclist *);
void	ready_uncarry(const struct proclist *);
void	ready_resume(struct proc *(*)(uint64_t));

/* state.c */
int	state_open(const char *);
void	state_add(const struct proc *);
void	state_del(uint64_t, const struct proclist *);
int	state_write_all(const struct proclist *);
int	state_load(struct proclist *, uint64_t *, char *, size_t);
void	state_remove(void);
uint64_t state_stime(pid_t, pid_t *);
int	read_small(int, const char *, char *, size_t);

/* msg.c */
struct iovec;
void	msg_attach(int);
void	msg_close(void);
int	msg_fd(void);
int	msg_writable(void);
size_t	msg_queued(void);
void	msg_flush(void);
int	msg_send(uint32_t, uint64_t, const struct iovec *, int);
int	msg_send_fds(uint32_t, uint64_t, const struct iovec *, int,
	    const int *, int);
int	msg_read(int (*)(const struct mon_hdr *, char *), const int *);
void	msg_free(void);

/* server.c */
pid_t	server_spawn(const struct monitor_args *, int, int *);
void	upgrade_exec(const struct monitor_args *);

/* sdnotify.c */
void	sdnotify_init(void);
void	sdnotify_ready(void);
void	sdnotify_reloading(void);
void	sdnotify_stopping(void);
int	sdnotify_tick(int64_t, size_t, size_t);

/* monitor.c */
void	mon_log(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
