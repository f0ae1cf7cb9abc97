/* plugins/proc: configured programs ([program:NAME]) and their lifecycle. */
#ifndef PROCCTL_PROGRAM_H
#define PROCCTL_PROGRAM_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "proc.h"

#define RUNS_KEPT	20	/* runs remembered per program, for `why` */
#define WHY_STDERR_LINES 5	/* the last stderr lines of each run */
#define MAX_EXIT_CODES	16
#define STATUS_KEPT	128	/* STATUS= text kept per program */

/* The states of s6-supervise and supervisord, in one table (program.c). */
enum pstate {
	PS_STOPPED, PS_STARTING, PS_RUNNING, PS_BACKOFF, PS_STOPPING,
	PS_EXITED, PS_FATAL, PS_MAX
};

enum restart_policy { RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS };

/* One run: what `why` tells. */
struct run {
	pid_t		 pid;		/* 0 until the exec worked */
	uint64_t	 handle;	/* the host's: its output (why) */
	struct timespec	 start, end;	/* CLOCK_REALTIME */
	uint64_t	 run_ms;
	char		 how[400];	/* "exited with status 1 after 0.3s" */
	char		 decision[96];	/* "restart in 2.0 s", "FATAL: ..." */
};

enum { OP_START, OP_STOP, OP_RESTART };

/* A request waiting on one program, and what it waits for there (a
 * restart is a stop, then a start, program by program). */
struct pref {
	struct pwaiter	*w;
	int		 op;
};

/* A start, stop or restart request waiting for its programs. */
struct pwaiter {
	struct procctl_ctx	*ctx;		/* deferred reply */
	size_t			 remaining;
	size_t			 n;
	struct program		**progs;
	char			 err[256];	/* the first failure */
};

struct program {
	/* Configuration. */
	char		*name;		/* NAME, or NAME:N (numprocs) */
	char		*group;		/* NAME of the instances, or NULL */
	unsigned	 numprocs;
	unsigned	 numprocs_start;	/* the first instance's number */
	char		*command;	/* as written (expanded) */
	char		**argv;		/* split like a shell line */
	char		*directory;
	char		*user;		/* NULL: procctld's own user */
	uid_t		 uid;
	gid_t		 gid;
	char		**env;		/* "K=V", NULL-terminated: env_file's,
					 * then environment's over them */
	char		**env_file;	/* parsing only: env_file's lines */
	mode_t		 umask;
	int		 autostart;
	enum restart_policy restart;
	int		 exit_codes[MAX_EXIT_CODES];
	size_t		 nexit_codes;
	uint64_t	 start_ms;	/* up this long = started */
	uint64_t	 backoff_min_ms, backoff_max_ms;
	unsigned	 limit_starts;	/* failed starts allowed in... */
	uint64_t	 limit_window_ms;
	int		 stop_signal;
	uint64_t	 stop_ms;
	int		 ready;		/* PROCCTL_READY_* */
	int		 ready_fd;
	uint64_t	 ready_ms;	/* start_timeout: ready within this */
	uint64_t	 memory_max;	/* bytes; 0: none */
	uint64_t	 pids_max;
	uint64_t	 nofile;
	int		 output;	/* OUTPUT_*: [plugin:proc]'s, or its own */
	size_t		 log_ring;	/* bytes of its newest lines kept */
	char		*requires_s;	/* as written: names (groups too) */
	char		*after_s;
	struct program	**requires;	/* started before it, stopped after */
	size_t		 nrequires;
	struct program	**after;	/* started before it if both start */
	size_t		 nafter;
	int		 waiting;	/* STARTING, its process not asked for
					 * yet: for what it requires or comes
					 * after */
	int		 stop_waiting;	/* STOPPING, not signalled yet: its
					 * dependents stop first */
	int		 restart_pending; /* reload changed it: start again
					 * once stopped */
	int		 removed;	/* gone from the file: stopped, then
					 * hidden */
	int		 adhoc;		/* `run --restart`: not in the file */
	struct procctl_ctx *run_ctx;	/* its `run`, until the first exec */
	uid_t		*owner_uids;	/* owner: who may control it besides */
	size_t		 nowner_uids;	/* admins: users, */
	gid_t		*owner_gids;	/* and @groups */
	size_t		 nowner_gids;
	char		*file;		/* where it was read from */
	int		 line;

	/* State. */
	enum pstate	 state;
	struct proc	*cur;		/* the current run's record */
	unsigned	 restarts;
	unsigned	 consecutive;	/* failed starts in a row */
	uint64_t	 fails[32];	/* times of failed starts (ring) */
	unsigned	 nfails;
	uint64_t	 timer;		/* backoff, start_secs or stop timeout */
	uint64_t	 retry_at;	/* BACKOFF: when (monotonic ms) */
	int		 stop_asked;	/* the run ends because we asked */
	char		 stop_by[64];	/* ...and who: a user, "reload" */
	unsigned	 limits;	/* PROCCTL_LIMIT_*: the last run's */
	int		 ready_late;	/* start_timeout passed: being stopped */
	char		 said[STATUS_KEPT]; /* its last STATUS= (notify) */
	char		 why[288];	/* FATAL's reason, the last exit */
	struct run	 runs[RUNS_KEPT];
	size_t		 nruns;		/* total ever, ring index = % */
	struct pref	*waiters;	/* requests waiting on it */
	size_t		 pins;		/* requests whose reply names it */
	size_t		 nwaiters;
};

extern struct program **programs;	/* each its own allocation: records
					 * point to them across reloads */
extern size_t nprograms;

/* progconf.c */
int	progconf_load(void);
/* requires/after names into pointers, cycles refused: 0, or -1. */
int	progconf_link(void);
/* Links again after a reload changed the list. */
void	progconf_relink(void);
void	progconf_clear(struct program *p);
void	program_defaults(struct program *p);

/* progreload.c: the new sections, compared and applied (host->on_reload). */
int	program_reload(int dry, struct procctl_report *r, void *arg);
void	progconf_free(void);
struct program *program_find(const char *name);

/* program.c */
int	program_init(void);
void	program_fini(void);
void	program_on_exit(struct proc *p);
void	program_notify(const struct procctl_notify *n, void *arg);
void	*program_adopt(struct proc *p, const char *name);
/* A reload handed G over (handover.c) in state S: its timer again, MS
 * from now (0: none).  Nothing handed over is autostarted. */
void	program_resume(struct program *g, enum pstate s, uint64_t ms);
/* procctld's own user, which a program without `user` runs as: found
 * by the first instance, while the server was root; told to a reload's. */
void	program_daemon_user(uid_t *uid, gid_t *gid, const char **user);
void	program_set_daemon_user(uid_t uid, gid_t gid, const char *user);
/* OP asked of G (its waiters already added). */
void	program_act(struct program *g, int op, const char *by);
/* Every program of W has answered: the reply. */
void	program_reply(struct pwaiter *w);

/* progadhoc.c: `run --restart`. */
struct adhoc_spec {
	const char	*name;
	char *const	*argv;
	char *const	*env;
	const char	*cwd;		/* NULL: the user's home */
	const char	*user;
	uid_t		 uid;
	gid_t		 gid;
	enum restart_policy policy;
};
struct program *adhoc_new(const struct adhoc_spec *s);
void	adhoc_run(struct procctl_ctx *ctx, const struct adhoc_spec *s);
void	adhoc_started(struct program *g, pid_t pid, const char *err);
void	adhoc_settled(struct program *g);
void	adhoc_close(struct program *g, const char *by);
void	adhoc_fini(void);
char	*adhoc_name(const char *base);
void	adhoc_yield_name(const char *name);
size_t	adhoc_active(uid_t uid);
size_t	adhoc_tag_size(const struct adhoc_spec *s);
size_t	adhoc_tag_put(const struct program *g, char *out, size_t size,
	    size_t at);
struct program *adhoc_from_tag(const char *name, const char *user, uid_t uid,
	    const char **f, size_t n);

/* procmetrics.c: the plugin's metric families (ABI 1.9). */
void	procmetrics_write(struct procctl_metrics *m, void *arg);
/* G's policy restarted it: counted per user when it is ad hoc. */
void	procmetrics_restart(const struct program *g);
void	procmetrics_fini(void);

/* progcmd.c */
void	reply_status(struct procctl_ctx *ctx, const struct program *g);
const char *program_state_name(enum pstate s);
void	program_cmd_start(struct procctl_ctx *, int, const struct procctl_arg *);
void	program_cmd_stop(struct procctl_ctx *, int, const struct procctl_arg *);
void	program_cmd_restart(struct procctl_ctx *, int,
	    const struct procctl_arg *);
void	program_cmd_status(struct procctl_ctx *, int,
	    const struct procctl_arg *);
void	program_cmd_why(struct procctl_ctx *, int, const struct procctl_arg *);

#endif
