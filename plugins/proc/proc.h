/* plugins/proc: process control (run, close, list). */
#ifndef PROCCTL_PROC_H
#define PROCCTL_PROC_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "procctl/plugin.h"

/* STARTING: asked of the monitor, exec not yet confirmed (no pid). */
enum proc_state {
	PROC_STARTING, PROC_RUNNING, PROC_CLOSING, PROC_EXITED, PROC_KILLED
};

struct waiter;
struct program;

struct proc {
	uint64_t	 seq;		/* start order */
	pid_t		 pid;		/* 0 while starting */
	uint64_t	 handle;	/* the host's, for signals */
	int		 contained;	/* in its own cgroup */
	int		 close_on_start; /* its session ended meanwhile */
	struct procctl_ctx *start_ctx;	/* `run`'s reply, while starting */
	size_t		 path_len;	/* argv[0]: the start of command */
	char		*name;		/* owned; binary-safe */
	size_t		 name_len;
	char		*command;	/* owned: argv joined by spaces, at
					 * most PROC_COMMAND_MAX bytes */
	size_t		 command_len;
	int		 command_cut;	/* ...cut there, ending with "…" */
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
	int		 forced;	/* SIGKILLed after a timeout: */
#define FORCED_CLOSE_TIMEOUT	1	/* close's (close_timeout) */
#define FORCED_STOP_TIMEOUT	2	/* a program's stop_timeout */
	int		 oom_killed;	/* the OOM killer killed in its tree */
	unsigned	 limits;	/* PROCCTL_LIMIT_*: its cgroup's */
	int		 ready;		/* said it is ready (notify, fd:N) */
	char		 closed_by[64];	/* why it was closed: "alice",
					 * "its session ended"; "" */
	int		 adopted;	/* started under an earlier server */
	int		 foreign;	/* ...or procctld: not its child */
	int		 unknown;	/* ended, but nobody could say how */
	struct program	*prog;		/* a run of this program, or NULL */
	int		 grace;		/* its session went with a server:
					 * closed unless it comes back */
	uint64_t	 kill_timer;
	struct waiter	**waiters;	/* close requests waiting on it */
	size_t		 nwaiters;
	size_t		 pins;		/* waiters holding this record */
	struct proc	*prev, *next;	/* newest first */
	struct proc	*hist_next;	/* its user's ended ones, oldest
					 * first (history.c) */
};

/* [plugin:proc] settings. */
struct proc_conf {
	uint64_t	 close_timeout_ms;
	size_t		 history_max;
	size_t		 history_per_user; /* 0: only the fair share */
	size_t		 list_page;	/* `list all` without --limit; 0:
					 * as many as max_output holds */
	size_t		 max_running;
	size_t		 max_per_user;
	int		 output;	/* OUTPUT_* */
	char		 log_dir[256];	/* output = file: <log_dir>/<name>.log */
	size_t		 log_max;	/* rotated past this; 0: never */
	size_t		 log_backups;
	size_t		 log_ring;	/* per process, bytes */
	int		 session_scope;
	mode_t		 umask;
	uint64_t	 session_grace_ms; /* for a session to come back */
};

/* A command line is kept (listed, pushed, handed over) up to this many
 * bytes: a user's 1 MiB argv is the program's, not the daemon's. */
#define PROC_COMMAND_MAX	4096
#define PROC_CUT_MARK		"\xe2\x80\xa6"	/* "…" */
#define PROC_CUT_MARK_LEN	3

#define PROC_RING_DEFAULT	(64 * 1024)	/* the host's, unless set */
#define PROC_RING_MAX		(64 * 1024 * 1024)

enum { OUTPUT_RING, OUTPUT_NULL, OUTPUT_INHERIT, OUTPUT_FILE, OUTPUT_JOURNAL };

/* proc.c: the host, our handle, the records and the settings. */
extern const struct procctl_host *H;
extern struct procctl_plugin *proc_self;
extern struct proc *procs;
extern struct proc_conf proc_conf;
extern size_t proc_nrunning;	/* starting, running or closing */

uint64_t proc_now_ms(void);
/* PROCCTL_SPAWN_* for an output setting (OUTPUT_*). */
unsigned proc_output_flags(int output);
/* Where P's lines go once it has started (or been handed over): a ring
 * of RING bytes, and with output = file <log_dir>/<its name>.log too --
 * for a process a user started (ADHOC: `run`, `run --restart`),
 * <log_dir>/<user>/<its name>.log, so that no user can name a process
 * into another's file or a program's. */
void	proc_output_setup(const struct proc *p, int output, size_t ring,
	    int adhoc);
/* log_ring's value: 0, or -1 if it is no size up to 64M. */
int	proc_ring_parse(const char *s, size_t *out);
/* "ring", "null", "inherit", "file", "journal": OUTPUT_*, or -1. */
int	proc_output_parse(const char *s);
int	proc_visible(const struct procctl_caller *who, const struct proc *p);
/* Not ended yet (starting included). */
int	proc_is_live(const struct proc *p);
void	proc_free(struct proc *p);
/* A starting record the exec failed for: out of the list, freed. */
void	proc_forget(struct proc *p);
void	proc_insert(struct proc *p);
void	proc_started(struct proc *p, const struct procctl_started *st);
void	proc_push_event(const struct proc *p, const char *kind);
void	proc_begin_close(struct proc *p, const char *by);
void	proc_on_exit(const struct procctl_exit *ex, void *arg);
/* P has ended: counted with the history, as the newest ended. */
void	proc_to_history(struct proc *p);
/* P out of the list of records (not freed). */
void	proc_unlink(struct proc *p);
/* How many of LEN bytes at S to keep so that they and "…" fit in MAX
 * (LEN when all of them fit), cut at the start of a character. */
size_t	proc_cut_at(const char *s, size_t len, size_t max);
/* S (LEN bytes) as a command to keep: a copy of at most
 * PROC_COMMAND_MAX bytes, cut (*CUT set) at a character's start and
 * ended by "…" when longer.  NULL when out of memory. */
char	*proc_command_copy(const char *s, size_t len, size_t *outlen,
	    int *cut);
/* P was closing when a reload handed it over: closing again, SIGKILL
 * after close_timeout from now. */
void	proc_resume_close(struct proc *p);

#define PROC_TAG_MAX	4096	/* the monitor keeps at most this */

/* run.c */
void	proc_cmd_run(struct procctl_ctx *ctx, int argc,
	    const struct procctl_arg *argv);
/* What the monitor keeps for us (the tag), and the record from it. */
size_t	proc_tag(const struct proc *p, char *out, size_t size);
void	*proc_adopt(const struct procctl_adopted *a, void *arg);
void	proc_adopt_fini(void);

/* bytes.c: integers and strings that outlive the code that wrote them;
 * read without trusting a length (bytes_in.bad once one does not fit). */
#define BYTES_STR_MAX	(64u * 1024 * 1024)
struct bytes_out {
	unsigned char	*p;		/* owned */
	size_t		 len, cap;
	int		 failed;	/* out of memory: p is not whole */
};
struct bytes_in {
	const unsigned char *p;
	size_t		 len, off;
	int		 bad;
};
void	bytes_put(struct bytes_out *w, const void *p, size_t n);
void	bytes_put_u64(struct bytes_out *w, uint64_t v);
void	bytes_put_u32(struct bytes_out *w, uint32_t v);
void	bytes_put_str(struct bytes_out *w, const char *s, size_t n);
void	bytes_put_ts(struct bytes_out *w, const struct timespec *ts);
uint64_t bytes_u64(struct bytes_in *r);
uint32_t bytes_u32(struct bytes_in *r);
/* A string of at most MAX bytes as a NUL-terminated copy (its length in
 * *N), or NULL; into a fixed buffer, cut to fit. */
char	*bytes_str(struct bytes_in *r, size_t max, size_t *n);
void	bytes_text(struct bytes_in *r, char *out, size_t size);
void	bytes_ts(struct bytes_in *r, struct timespec *ts);
/* A count of items that take at least LEAST bytes each: never more than
 * what is left can hold (no allocation on a lie). */
uint32_t bytes_count(struct bytes_in *r, size_t least);

/* history.c: the ended processes kept for `list all`, at most
 * `history` of them and `history_per_user` of one user; past that a
 * user's own oldest go, the user with the most first. */
void	history_add(struct proc *p);
void	history_trim(void);
size_t	history_count(void);
/* Forget the history's bookkeeping (the records are freed elsewhere). */
void	history_clear(void);

/* handover.c: what `plugin reload proc` hands from one instance to the
 * next (host->keep, host->kept), and the processes back to their records
 * (host->on_adopt). */
void	handover_keep(void);
void	handover_restore(void);
void	*handover_adopt(const struct procctl_adopted *a, void *arg);
void	handover_fini(void);

/* logs.c */
void	proc_cmd_logs(struct procctl_ctx *ctx, int argc,
	    const struct procctl_arg *argv);
/* CONN_ID follows nothing any more (UNFOLLOW, or it closed). */
void	logs_unfollow(uint64_t conn_id);
void	logs_fini(void);

/* list.c: records as replies. */
void	proc_reply_record(struct procctl_ctx *ctx, const struct proc *p,
	    int details);
uint64_t proc_run_ms(const struct proc *p);
/* A CLOCK_REALTIME time as RFC 3339 UTC, or null when unset. */
void	proc_reply_time(struct procctl_ctx *ctx, const struct timespec *ts);
const char *proc_state_name(const struct proc *p);
/* "exited with status 0", "killed by SIGTERM", ... */
/* How P ended, with how long it ran: PROC_HOW_MAX bytes hold the
 * longest ("killed by SIGKILL from the OOM killer ..., core dumped after
 * 3d04h (closed: <a 63-byte reason>)") whole. */
#define PROC_HOW_MAX	256
void	proc_describe_end(const struct proc *p, char *out, size_t size);
void	proc_cmd_list(struct procctl_ctx *ctx, int argc,
	    const struct procctl_arg *argv);

#endif
