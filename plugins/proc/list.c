/* Process records as replies: `list`, `list all`, `list details`, and the
 * maps that `close` and events carry. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proc.h"

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
	char sig[32], by[80] = "";
	uint64_t ms = proc_run_ms(p);

	if (p->unknown) {
		snprintf(out, size, "ended (exit status unknown: adopted after "
		    "procctld was restarted) after %llu.%01llus",
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000 / 100));
		return;
	}
	if (p->closed_by[0] != '\0')
		snprintf(by, sizeof(by), " (closed: %s)", p->closed_by);
	if (p->state == PROC_EXITED) {
		snprintf(out, size, "exited with status %d after %llu.%01llus%s",
		    p->exit_code, (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000 / 100), by);
		return;
	}
	signame(p->signal, sig, sizeof(sig));
	snprintf(out, size, "%s by %s%s%s%s after %llu.%01llus%s",
	    p->forced || p->oom_killed ? "killed" : "terminated", sig,
	    p->oom_killed ? " from the OOM killer (memory_max)" : "",
	    p->forced == FORCED_CLOSE_TIMEOUT ? " (did not end within the "
	    "close timeout)" : p->forced == FORCED_STOP_TIMEOUT ? " (did not "
	    "end within stop_timeout)" : "",
	    p->core_dumped ? ", core dumped" : "",
	    (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000 / 100), by);
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

void
proc_reply_record(struct procctl_ctx *ctx, const struct proc *p, int details)
{
	char tmp[200], cg[PATH_MAX];
	long tree;
	int ended = p->state == PROC_EXITED || p->state == PROC_KILLED;
	uint64_t ms;

	H->reply_map(ctx, details ? 16 : 8);
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
	H->reply_str(ctx, "adopted");
	H->reply_bool(ctx, p->adopted);
	tree = ended ? -1 : tree_size(p, cg, sizeof(cg));
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
proc_cmd_list(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	const struct proc *p, *last = NULL;
	int all = 0, details = 0;
	size_t n = 0;

	/* One of the declared keywords, checked by the host. */
	if (argc == 2) {
		all = 1;
		details = strcasecmp(argv[1].ptr, "details") == 0;
	}
	/* Oldest first, like ps: count, then walk back from the tail. */
	for (p = procs; p != NULL; p = p->next) {
		last = p;
		if (proc_visible(who, p) && (all || p->state == PROC_RUNNING ||
		    p->state == PROC_CLOSING))
			n++;
	}
	H->reply_array(ctx, n);
	for (p = last; p != NULL; p = p->prev)
		if (proc_visible(who, p) && (all || p->state == PROC_RUNNING ||
		    p->state == PROC_CLOSING))
			proc_reply_record(ctx, p, details);
}
