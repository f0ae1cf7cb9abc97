/*
 * Process records as replies: `list`, `list all`, `list details`, and the
 * maps that `close` and events carry.
 *
 * A listing is a page: the newest records first chosen (--offset skips
 * some, --limit or list_page says how many), then given oldest first as
 * ps does.  Whatever the number of records, a page never takes the
 * client past max_output (host->reply_room): each record's size is
 * bounded (a command is at most PROC_COMMAND_MAX bytes), and the page
 * stops before the record that would not fit.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "duration.h"
#include "proc.h"

/* A host before minor 8 cannot say how much room a reply has: half of
 * the default max_output. */
#define LIST_ROOM_OLD_HOST	(8u * 1024 * 1024)

uint64_t
proc_run_ms(const struct proc *p)
{
	struct timespec now;
	uint64_t end;

	if (p->state == PROC_EXITED || p->state == PROC_KILLED)
		end = p->end_ms;
	else {
		clock_gettime(CLOCK_MONOTONIC, &now);
		end = (uint64_t)now.tv_sec * 1000 +
		    (uint64_t)now.tv_nsec / 1000000;
	}
	return end - p->start_ms;
}

const char *
proc_state_name(const struct proc *p)
{
	switch (p->state) {
	case PROC_STARTING:
		return "starting";
	case PROC_RUNNING:
		return "running";
	case PROC_CLOSING:
		return "closing";
	case PROC_EXITED:
		return "exited";
	default:
		return "killed";
	}
}

static void
signame(int sig, char *out, size_t size)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev != NULL)
		snprintf(out, size, "SIG%s", abbrev);
	else
		snprintf(out, size, "signal %d", sig);
}

void
proc_describe_end(const struct proc *p, char *out, size_t size)
{
	char sig[32], by[80] = "", took[32];

	duration_text(took, sizeof(took), proc_run_ms(p));
	if (p->unknown) {
		snprintf(out, size, "ended (exit status unknown: adopted after "
		    "procctld was restarted) after %s", took);
		return;
	}
	if (p->closed_by[0] != '\0')
		snprintf(by, sizeof(by), " (closed: %s)", p->closed_by);
	if (p->state == PROC_EXITED) {
		snprintf(out, size, "exited with status %d after %s%s",
		    p->exit_code, took, by);
		return;
	}
	signame(p->signal, sig, sizeof(sig));
	snprintf(out, size, "%s by %s%s%s%s after %s%s",
	    p->forced || p->oom_killed ? "killed" : "terminated", sig,
	    p->oom_killed ? " from the OOM killer (memory_max)" : "",
	    p->forced == FORCED_CLOSE_TIMEOUT ? " (did not end within the "
	    "close timeout)" : p->forced == FORCED_STOP_TIMEOUT ? " (did not "
	    "end within stop_timeout)" : "",
	    p->core_dumped ? ", core dumped" : "", took, by);
}

void
proc_reply_time(struct procctl_ctx *ctx, const struct timespec *ts)
{
	char tmp[40];
	struct tm tm;

	if (ts->tv_sec == 0) {
		H->reply_null(ctx);
		return;
	}
	gmtime_r(&ts->tv_sec, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	H->reply_str(ctx, tmp);
}

/* Where the cgroup2 hierarchy is mounted (read once), or "". */
static const char *
cgroup_mount(void)
{
	static char mnt[PATH_MAX];
	static int done;
	char *line = NULL, *sep;
	size_t cap = 0;
	FILE *f;

	if (done)
		return mnt;
	done = 1;
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return mnt;
	while (getline(&line, &cap, f) != -1) {
		sep = strstr(line, " - ");
		if (sep != NULL && strncmp(sep, " - cgroup2 ", 11) == 0 &&
		    sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1)
			break;
		mnt[0] = '\0';
	}
	free(line);
	fclose(f);
	return mnt;
}

/* P's cgroup (as /proc/PID/cgroup says) into CG, and how many processes
 * are in it: its whole tree.  -1 when it has none of its own. */
static long
tree_size(const struct proc *p, char *cg, size_t size)
{
	char path[PATH_MAX + 64], *line = NULL;
	size_t cap = 0;
	long n = -1;
	FILE *f;
	int pid;

	cg[0] = '\0';
	if (!p->contained || p->pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)p->pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (getline(&line, &cap, f) != -1)
		if (strncmp(line, "0::/", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(cg, size, "%s", line + 3);
		}
	free(line);
	fclose(f);
	if (cg[0] == '\0' || *cgroup_mount() == '\0')
		return -1;
	snprintf(path, sizeof(path), "%s%s/cgroup.procs", cgroup_mount(), cg);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	for (n = 0; fscanf(f, "%d", &pid) == 1; n++)
		;
	fclose(f);
	return n;
}

/* P's record, its tree (TREE processes in cgroup CG; -1: none known). */
static void
reply_record(struct procctl_ctx *ctx, const struct proc *p, int details,
    long tree, const char *cg)
{
	char tmp[PROC_HOW_MAX];
	int ended = p->state == PROC_EXITED || p->state == PROC_KILLED;
	uint64_t ms;

	H->reply_map(ctx, details ? 17 : 8);
	H->reply_str(ctx, "pid");
	H->reply_int(ctx, p->pid);
	H->reply_str(ctx, "name");
	H->reply_bulk(ctx, p->name, p->name_len);
	H->reply_str(ctx, "owner");
	H->reply_str(ctx, p->owner);
	H->reply_str(ctx, "state");
	H->reply_str(ctx, proc_state_name(p));
	H->reply_str(ctx, "started");
	proc_reply_time(ctx, &p->started);
	H->reply_str(ctx, "ended");
	proc_reply_time(ctx, &p->ended);
	H->reply_str(ctx, "exit_code");
	if (ended && p->state == PROC_EXITED && !p->unknown)
		H->reply_int(ctx, p->exit_code);
	else
		H->reply_null(ctx);
	H->reply_str(ctx, "signal");
	if (ended && p->state == PROC_KILLED) {
		signame(p->signal, tmp, sizeof(tmp));
		H->reply_str(ctx, tmp);
	} else
		H->reply_null(ctx);
	if (!details)
		return;
	H->reply_str(ctx, "uid");
	H->reply_int(ctx, p->uid);
	H->reply_str(ctx, "run_time");
	ms = proc_run_ms(p);
	snprintf(tmp, sizeof(tmp), "%llu.%03llu", (unsigned long long)(ms /
	    1000), (unsigned long long)(ms % 1000));
	H->reply_double_text(ctx, tmp);
	H->reply_str(ctx, "scope");
	H->reply_str(ctx, p->session ? "session" : p->oneshot ? "one-shot" :
	    "detached");
	H->reply_str(ctx, "result");
	if (ended) {
		proc_describe_end(p, tmp, sizeof(tmp));
		H->reply_str(ctx, tmp);
	} else
		H->reply_null(ctx);
	H->reply_str(ctx, "command");
	H->reply_bulk(ctx, p->command, p->command_len);
	H->reply_str(ctx, "command_truncated");
	H->reply_bool(ctx, p->command_cut);
	H->reply_str(ctx, "adopted");
	H->reply_bool(ctx, p->adopted);
	H->reply_str(ctx, "cgroup");
	if (tree >= 0)
		H->reply_str(ctx, cg);
	else
		H->reply_null(ctx);
	H->reply_str(ctx, "tree");
	if (tree >= 0)
		H->reply_int(ctx, tree);
	else
		H->reply_null(ctx);
}

void
proc_reply_record(struct procctl_ctx *ctx, const struct proc *p, int details)
{
	char cg[PATH_MAX];
	long tree = -1;

	if (details && proc_is_live(p))
		tree = tree_size(p, cg, sizeof(cg));
	reply_record(ctx, p, details, tree, cg);
}

/* A record of a page, with its tree read once. */
struct row {
	const struct proc *p;
	long		 tree;
	char		*cg;		/* owned, or NULL */
};

/* At least the bytes P's record takes, in RESP2 or RESP3: every string
 * counted with its framing (at most 16 bytes), every other value and key
 * within the constant. */
static size_t
record_size(const struct row *r, int details)
{
	const struct proc *p = r->p;
	size_t n = 512 + p->name_len + strlen(p->owner);

	if (details)
		n += 768 + p->command_len + (r->cg != NULL ? strlen(r->cg) : 0);
	return n;
}

/* --limit and --offset: a count, or -1 after the usage error. */
static int
count_option(struct procctl_ctx *ctx, const char *name, size_t dflt,
    size_t *out)
{
	const char *v = H->option(ctx, name);
	unsigned long long n;
	char *end;

	*out = dflt;
	if (v == NULL)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end != '\0' || errno != 0 ||
	    n > 1000000000) {
		H->reply_error(ctx, "ARGS", "--%s %.32s: expected a count; "
		    "usage: list [--limit N] [--offset N] [all] [details]",
		    name, v);
		return -1;
	}
	*out = (size_t)n;
	return 0;
}

static int
listed(const struct procctl_caller *who, const struct proc *p, int all)
{
	return proc_visible(who, p) && (all || p->state == PROC_RUNNING ||
	    p->state == PROC_CLOSING);
}

/* The page: up to LIMIT (0: any number) of the newest records after
 * OFFSET, as many as ROOM bytes hold.  Their count; *CUT when ROOM
 * stopped it with more to give. */
static size_t
choose(const struct procctl_caller *who, int all, int details, size_t offset,
    size_t limit, size_t room, struct row *rows, size_t max, int *cut)
{
	char cg[PATH_MAX];
	const struct proc *p;
	size_t n = 0, used = 0, size;

	*cut = 0;
	for (p = procs; p != NULL && n < max; p = p->next) {
		if (!listed(who, p, all))
			continue;
		if (offset > 0) {
			offset--;
			continue;
		}
		rows[n].p = p;
		rows[n].tree = -1;
		rows[n].cg = NULL;
		if (details && proc_is_live(p) &&
		    (rows[n].tree = tree_size(p, cg, sizeof(cg))) >= 0 &&
		    (rows[n].cg = strdup(cg)) == NULL)
			rows[n].tree = -1;
		size = record_size(&rows[n], details);
		if (size > room - used) {
			free(rows[n].cg);
			*cut = 1;
			break;
		}
		used += size;
		n++;
		if (limit > 0 && n == limit)
			break;
	}
	return n;
}

void
proc_cmd_list(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	const struct proc *p;
	struct row *rows;
	size_t n = 0, limit, offset, room, i;
	int all = 0, details = 0, cut;

	/* The declared keywords, checked by the host, in any order.  Only
	 * 'all' brings ended processes, as in `list`: `list details` is
	 * the running ones in full. */
	for (i = 1; i < (size_t)argc; i++) {
		if (strcasecmp(argv[i].ptr, "details") == 0)
			details = 1;
		else
			all = 1;
	}
	if (count_option(ctx, "limit", all || details ? proc_conf.list_page : 0,
	    &limit) == -1 || count_option(ctx, "offset", 0, &offset) == -1)
		return;
	for (p = procs; p != NULL; p = p->next)
		if (listed(who, p, all))
			n++;
	n = offset < n ? n - offset : 0;
	if (limit > 0 && limit < n)
		n = limit;
	/* The array's header and a margin: what the records may take. */
	room = H->abi_minor >= 8 ? H->reply_room(ctx) : LIST_ROOM_OLD_HOST;
	room = room > 64 ? room - 64 : 0;
	if ((rows = calloc(n > 0 ? n : 1, sizeof(*rows))) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	n = choose(who, all, details, offset, limit, room, rows, n, &cut);
	if (cut)
		H->log(proc_self, PROCCTL_LOG_WARN, "list for %s: %zu record(s) "
		    "in this page, to stay within max_output (--limit, "
		    "--offset for the others)", who->user, n);
	H->reply_array(ctx, n);
	for (i = n; i-- > 0;) {
		reply_record(ctx, rows[i].p, details, rows[i].tree,
		    rows[i].cg);
		free(rows[i].cg);
	}
	free(rows);
}
