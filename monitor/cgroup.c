/*
 * Containment: one cgroup v2 directory per managed process, so that a
 * whole tree can be signalled, killed and seen to be gone, whatever its
 * members did with sessions and process groups.
 *
 *  - The hierarchy is the cgroup2 mount of /proc/self/mountinfo, and our
 *    place in it the "0::" line of /proc/self/cgroup.  Under it we make
 *    procctl-<monitor pid>/, and under that p<id>/ per process.  The
 *    monitor itself stays where it is.
 *  - If any of that fails there is no containment: one line is logged,
 *    cgroup_leaf() returns -1 from then on, and callers fall back to
 *    process groups.
 *  - cgroup_kill() never fails silently to kill: without cgroup.kill
 *    (kernels before 5.14) it signals every member, pass after pass.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mon.h"

static int	cgparent = -1;	/* our own cgroup */
static int	cgroot = -1;	/* procctl-<pid>/ under it */
static char	cgname[48];
static char	cgown[PATH_MAX];	/* our cgroup's path, "/..." */

static void	controllers(void);

/* The cgroup2 mount point and the cgroup path it shows as its root (not
 * "/" inside a cgroup namespace or a bind mount). */
static int
find_mount(char *mnt, char *root)
{
	char *line = NULL, *sep;
	size_t cap = 0;
	FILE *f;
	int found = 0;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return -1;
	while (!found && getline(&line, &cap, f) != -1) {
		sep = strstr(line, " - ");
		found = sep != NULL && strncmp(sep, " - cgroup2 ", 11) == 0 &&
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) == 2;
	}
	free(line);
	fclose(f);
	return found ? 0 : -1;
}

static int
find_own(char *own)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int found = 0;

	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return -1;
	while (!found && (n = getline(&line, &cap, f)) != -1) {
		if (strncmp(line, "0::/", 4) != 0 || (size_t)n >= PATH_MAX)
			continue;
		line[strcspn(line, "\n")] = '\0';
		strcpy(own, line + 3);
		found = 1;
	}
	free(line);
	fclose(f);
	return found ? 0 : -1;
}

/* Leaves of monitors that are gone and still hold processes: offered to
 * the state file's records, the rest killed (cgroup_sweep). */
static char	**stale;
static size_t	  nstale;

static void
keep_stale(const char *dir, const char *leaf)
{
	char **grown, *name;

	if (asprintf(&name, "%s/%s", dir, leaf) == -1)
		return;
	if ((grown = realloc(stale, (nstale + 1) * sizeof(*stale))) == NULL) {
		free(name);
		return;
	}
	stale = grown;
	stale[nstale++] = name;
}

/* procctl-<pid>-<start time> (or procctl-<pid>, older): is that monitor
 * gone?  A live pid with another start time is another process. */
static int
monitor_gone(const char *name)
{
	unsigned long long st = 0;
	char *end;
	long pid;

	pid = strtol(name + 8, &end, 10);
	if (pid <= 0 || (*end != '\0' && *end != '-'))
		return 0;
	if (*end == '-')
		st = strtoull(end + 1, NULL, 10);
	if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
		return 1;
	return st != 0 && state_stime((pid_t)pid, NULL) != st;
}

/* Directories of monitors that are gone (killed with -9): their empty
 * leaves and themselves are removed; a leaf that still holds processes
 * stays, for adoption (or cgroup_sweep). */
static void
remove_stale(int parent)
{
	struct dirent *de, *le;
	DIR *d, *ld;
	int fd;

	if ((fd = dup(parent)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "procctl-", 8) != 0 ||
		    strcmp(de->d_name, cgname) == 0 ||
		    !monitor_gone(de->d_name))
			continue;
		if ((fd = openat(parent, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			continue;
		if ((ld = fdopendir(fd)) == NULL) {
			close(fd);
			continue;
		}
		while ((le = readdir(ld)) != NULL)
			if (le->d_name[0] == 'p' && unlinkat(dirfd(ld),
			    le->d_name, AT_REMOVEDIR) == -1 && errno == EBUSY)
				keep_stale(de->d_name, le->d_name);
		closedir(ld);
		if (unlinkat(parent, de->d_name, AT_REMOVEDIR) == 0)
			mon_log("removed %s, left by a monitor that is gone",
			    de->d_name);
	}
	closedir(d);
}

/*
 * After adoption: a leaf of the monitor before us (PREV, as our state
 * file names it) that no adopted process names holds processes nobody
 * manages (a monitor killed between a clone and
 * its journal line, a record lost): killed, so that nothing started
 * through procctld runs on unmanaged.
 */
void
cgroup_sweep(int (*named)(const char *), const char *prev)
{
	size_t i, k = strlen(prev);
	int leaf;

	for (i = 0; i < nstale; i++) {
		/* Only under the directory of the monitor our state file
		 * came from: another procctld's leaves are its own. */
		if (k > 0 && strncmp(stale[i], prev, k) == 0 &&
		    stale[i][k] == '/' && !named(stale[i]) &&
		    (leaf = cgroup_open(stale[i])) != -1) {
			mon_log("killing what is left in %s: no record names "
			    "it", stale[i]);
			cgroup_kill(leaf);
			close(leaf);
		}
		free(stale[i]);
	}
	free(stale);
	stale = NULL;
	nstale = 0;
}

int
cgroup_init(void)
{
	char mnt[PATH_MAX], root[PATH_MAX], own[PATH_MAX], path[2 * PATH_MAX];
	const char *rel, *why = "no cgroup2 mount or no cgroup v2 path";
	size_t rl;

	if (find_mount(mnt, root) == -1 || find_own(own) == -1)
		goto fail;
	/* Our path is relative to the namespace root; the mount shows
	 * the hierarchy from `root` down. */
	rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
	why = "our cgroup is outside the cgroup2 mount";
	if (strncmp(own, root, rl) != 0 || (own[rl] != '/' && own[rl] != '\0'))
		goto fail;
	rel = own + rl;
	snprintf(cgown, sizeof(cgown), "%s", strcmp(own, "/") ? own : "");
	snprintf(path, sizeof(path), "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	/* The start time too: a later monitor with our pid is not us. */
	snprintf(cgname, sizeof(cgname), "procctl-%d-%llu", (int)getpid(),
	    (unsigned long long)state_stime(getpid(), NULL));
	if ((cgparent = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		remove_stale(cgparent);
	if (cgparent == -1 ||
	    (mkdirat(cgparent, cgname, 0755) == -1 && errno != EEXIST) ||
	    (cgroot = openat(cgparent, cgname,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		why = strerror(errno);
		goto fail;
	}
	controllers();
	return 0;
fail:
	mon_log("no cgroup containment: %s", why);
	if (cgparent != -1) {
		unlinkat(cgparent, cgname, AT_REMOVEDIR);
		close(cgparent);
	}
	cgparent = -1;
	return -1;
}

/* Write S to DIR's FILE; 0 or -1. */
static int
put(int dir, const char *file, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int fd;

	if ((fd = openat(dir, file, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, s, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Does DIR's cgroup.subtree_control (or .controllers) name WHAT? */
static int
has_controller(int dir, const char *file, const char *what)
{
	char buf[512], *tok, *save;

	if (read_small(dir, file, buf, sizeof(buf)) == -1)
		return 0;
	for (tok = strtok_r(buf, " \n", &save); tok != NULL;
	    tok = strtok_r(NULL, " \n", &save))
		if (strcmp(tok, what) == 0)
			return 1;
	return 0;
}

/* The memory and pids controllers for our leaves, where they can be had:
 * enabled in our own cgroup's subtree (possible when it is the root, or
 * was delegated with them: the no-internal-processes rule refuses it
 * otherwise) and then in procctl-<pid>/.  Without them, memory_max and
 * pids_max fall back to rlimits (cgroup_limit says which). */
static void
controllers(void)
{
	static const char *const want[] = { "memory", "pids" };
	char op[16];
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(op, sizeof(op), "+%s", want[i]);
		if (!has_controller(cgparent, "cgroup.subtree_control",
		    want[i]) && has_controller(cgparent, "cgroup.controllers",
		    want[i]))
			(void)put(cgparent, "cgroup.subtree_control", op);
		if (put(cgroot, "cgroup.subtree_control", op) == -1)
			mon_log("cgroup controller %s not available (%s): its "
			    "limits are rlimits", want[i], strerror(errno));
	}
}

/* memory.max and pids.max on LEAF (0: not asked); the MON_LIMIT_* it
 * took. */
uint32_t
cgroup_limit(int leaf, uint64_t memory_max, uint64_t pids_max)
{
	char v[32];
	uint32_t took = 0;

	snprintf(v, sizeof(v), "%llu", (unsigned long long)memory_max);
	if (leaf != -1 && memory_max > 0 && put(leaf, "memory.max", v) == 0)
		took |= MON_LIMIT_MEMORY_CGROUP;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)pids_max);
	if (leaf != -1 && pids_max > 0 && put(leaf, "pids.max", v) == 0)
		took |= MON_LIMIT_PIDS_CGROUP;
	return took;
}

/* Did the OOM killer kill a member of NAME?  (memory.events' oom_kill.) */
int
cgroup_oom_killed(const char *name)
{
	char buf[512], *at;
	char path[CG_NAME_MAX + 16];

	if (cgparent == -1 || name[0] == '\0')
		return 0;
	snprintf(path, sizeof(path), "%s/memory.events", name);
	if (read_small(cgparent, path, buf, sizeof(buf)) == -1)
		return 0;
	return (at = strstr(buf, "oom_kill ")) != NULL &&
	    strtoull(at + 9, NULL, 10) > 0;
}

/* Remove procctl-<pid>/; it is empty once every leaf has gone. */
void
cgroup_fini(void)
{
	if (cgroot == -1)
		return;
	close(cgroot);
	cgroot = -1;
	if (unlinkat(cgparent, cgname, AT_REMOVEDIR) == -1)
		mon_log("rmdir %s: %s", cgname, strerror(errno));
	close(cgparent);
	cgparent = -1;
}

/* Make p<id>/, name it in NAME ("procctl-<pid>/p<id>", under our own
 * cgroup) and return it open (for CLONE_INTO_CGROUP), or -1. */
int
cgroup_leaf(uint64_t id, char *name, size_t size)
{
	char leaf[32];
	int fd;

	if (cgroot == -1)
		return -1;
	snprintf(leaf, sizeof(leaf), "p%llu", (unsigned long long)id);
	if (mkdirat(cgroot, leaf, 0755) == -1 && errno != EEXIST) {
		mon_log("mkdir %s: %s", leaf, strerror(errno));
		return -1;
	}
	if ((fd = openat(cgroot, leaf, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		unlinkat(cgroot, leaf, AT_REMOVEDIR);
		return -1;
	}
	snprintf(name, size, "%s/%s", cgname, leaf);
	return fd;
}

/* Close LEAF and remove NAME; the kernel refuses while it has members.
 * The directory of an earlier monitor goes with its last leaf. */
void
cgroup_remove(int leaf, const char *name)
{
	char dir[CG_NAME_MAX], *slash;

	if (leaf != -1)
		close(leaf);
	if (cgparent == -1 || name[0] == '\0')
		return;
	if (unlinkat(cgparent, name, AT_REMOVEDIR) == -1)
		mon_log("rmdir %s: %s", name, strerror(errno));
	snprintf(dir, sizeof(dir), "%s", name);
	if ((slash = strchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (strcmp(dir, cgname) != 0)
			unlinkat(cgparent, dir, AT_REMOVEDIR);
	}
}

/* NAME, opened for one operation: nothing is held per process. */
int
cgroup_open(const char *name)
{
	if (cgparent == -1 || name[0] == '\0' || strstr(name, "..") != NULL)
		return -1;
	return openat(cgparent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* 1 when PID is a member of NAME (what the state file says is no proof
 * by itself: the pid may have been reused), else 0. */
int
cgroup_holds(const char *name, pid_t pid)
{
	char path[64], *line = NULL, want[PATH_MAX + CG_NAME_MAX + 8];
	size_t cap = 0;
	FILE *f;
	int yes = 0;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	snprintf(want, sizeof(want), "0::%s/%s\n", cgown, name);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (!yes && getline(&line, &cap, f) != -1)
		yes = strcmp(line, want) == 0;
	free(line);
	fclose(f);
	return yes;
}

/* PID's cgroup as our leaves are named ("procctl-<pid>-<start>/p<id>"),
 * into OUT; -1 when it is in none of ours. */
int
cgroup_of(pid_t pid, char *out, size_t size)
{
	char path[64], *line = NULL;
	size_t cap = 0, own = strlen(cgown);
	ssize_t n;
	FILE *f;
	int found = -1;

	if (cgparent == -1)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (found == -1 && (n = getline(&line, &cap, f)) != -1) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::", 3) != 0 ||
		    strncmp(line + 3, cgown, own) != 0 || line[3 + own] != '/' ||
		    strncmp(line + 4 + own, "procctl-", 8) != 0 ||
		    strlen(line + 4 + own) >= size)
			continue;
		strcpy(out, line + 4 + own);
		found = 0;
	}
	free(line);
	fclose(f);
	return found;
}

/* cgroup.events, polled with POLLPRI: kernfs marks a change that way. */
int
cgroup_events(int leaf)
{
	return openat(leaf, "cgroup.events", O_RDONLY | O_CLOEXEC);
}

/* 1 while the cgroup has a member, 0 once it has none, -1 if unknown.
 * Reading also rearms POLLPRI for the next change. */
int
cgroup_populated(int evfd)
{
	char buf[256], *p;
	ssize_t n;

	if ((n = pread(evfd, buf, sizeof(buf) - 1, 0)) <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "populated ")) == NULL)
		return -1;
	return p[10] == '1';
}

void
cgroup_kill(int leaf)
{
	int fd;

	if ((fd = openat(leaf, "cgroup.kill", O_WRONLY | O_CLOEXEC)) != -1) {
		if (write(fd, "1", 1) == 1) {
			close(fd);
			return;
		}
		close(fd);
	}
	cgroup_signal(leaf, SIGKILL);
}

/* Send SIGNO to every member of LEAF, once each, reading cgroup.procs
 * again while new members appear (the tree may fork as we go). */
void
cgroup_signal(int leaf, int signo)
{
	pid_t *seen = NULL, *grown, pid;
	size_t n = 0, cap = 0, i;
	int pass, fresh, fd;
	FILE *f;

	for (pass = 0, fresh = 1; pass < 4 && fresh; pass++) {
		if ((fd = openat(leaf, "cgroup.procs", O_RDONLY |
		    O_CLOEXEC)) == -1)
			break;
		if ((f = fdopen(fd, "r")) == NULL) {
			close(fd);
			break;
		}
		for (fresh = 0; fscanf(f, "%d", &pid) == 1; ) {
			for (i = 0; i < n && seen[i] != pid; i++)
				;
			if (i < n)
				continue;
			if (n == cap && (grown = reallocarray(seen,
			    cap ? 2 * cap : 64, sizeof(*seen))) != NULL) {
				seen = grown;
				cap = cap ? 2 * cap : 64;
			}
			if (n < cap)
				seen[n++] = pid;
			fresh = 1;
			kill(pid, signo);
		}
		fclose(f);
	}
	free(seen);
}

/* Our directory's name ("procctl-<pid>-<start>"), or "" without one. */
const char *
cgroup_name(void)
{
	return cgroot != -1 ? cgname : "";
}
