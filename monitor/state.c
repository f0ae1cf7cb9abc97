/*
 * The state file: what runs, kept where a later monitor finds it, so that
 * processes survive a crash of both procctld processes, an upgrade, and
 * a stop with live_restore.
 *
 *  - A journal of lines in the runtime directory, beside the socket:
 *    "+ id pid stime started_ms stop_ms cgroup owner tag" when a process
 *    starts, "- id" when the server has been told it ended.  Appends are
 *    one write(2) each; the file is rewritten whole (a temporary file,
 *    then rename) when the ended outnumber the living.
 *  - The first line names the boot (/proc/sys/kernel/random/boot_id):
 *    after a reboot nothing in it is alive.
 *  - Read back, a line proves nothing by itself: a pid is adopted only
 *    when the process with that pid started at the recorded time (field
 *    22 of /proc/PID/stat) and, for a contained one, sits in the
 *    recorded cgroup.  A reused pid fails both.
 *  - The file must be ours and writable by nobody else: it names
 *    processes a root monitor will later signal.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mon.h"

static char	*spath;		/* owned */
static int	 sfd = -1;	/* O_APPEND */
static size_t	 nlive, nended;
static int	 broken;	/* logged once */

static void
boot_id(char *out, size_t size)
{
	FILE *f;

	snprintf(out, size, "unknown");
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "re")) == NULL)
		return;
	if (fgets(out, (int)size, f) != NULL)
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

/* The start time of PID in clock ticks after boot, and its parent; 0 when
 * there is no such process. */
/* The start of a small file (of /proc, of a cgroup) PATH under DIR
 * (AT_FDCWD: as it is), NUL-terminated in BUF: 0, or -1 if it cannot be
 * read or is empty. */
int
read_small(int dir, const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	if ((fd = openat(dir, path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

uint64_t
state_stime(pid_t pid, pid_t *ppid)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	int parent = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(AT_FDCWD, path, buf, sizeof(buf)) == -1)
		return 0;
	/* The name may hold spaces and ')': fields start after the last. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
	    "%*u %*d %*d %*d %*d %*d %*d %llu", &parent, &st) != 2)
		return 0;
	if (ppid != NULL)
		*ppid = (pid_t)parent;
	return st;
}

static void
fail(const char *what)
{
	if (!broken)
		mon_log("state file %s: %s: %s (processes will not survive "
		    "a crash)", spath, what, strerror(errno));
	broken = 1;
}

static void
put(const char *line, size_t len)
{
	if (sfd == -1)
		return;
	if (write(sfd, line, len) != (ssize_t)len)
		fail("write");
}

static int
header(int fd)
{
	char id[64], line[128];
	int n;

	/* The boot, and the cgroup directory of the monitor writing: a
	 * later one sweeps only its own predecessors' leaves, not another
	 * procctld's. */
	boot_id(id, sizeof(id));
	n = snprintf(line, sizeof(line), "procctl-state 1 %s %s\n", id,
	    *cgroup_name() ? cgroup_name() : "-");
	return write(fd, line, (size_t)n) == n ? 0 : -1;
}

/* Open (make) the journal at PATH for appending. */
int
state_open(const char *path)
{
	char pattern[PATH_MAX + 8];
	struct stat st;
	glob_t g;
	size_t i;

	free(spath);
	if ((spath = strdup(path)) == NULL)
		return -1;
	/* Rewrites a crash interrupted (each a copy of every command
	 * line): ours to remove. */
	snprintf(pattern, sizeof(pattern), "%s.??????", path);
	if (glob(pattern, 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++)
			if (lstat(g.gl_pathv[i], &st) == 0 &&
			    S_ISREG(st.st_mode) && st.st_uid == geteuid())
				unlink(g.gl_pathv[i]);
		globfree(&g);
	}
	/* Beside the socket, which may be in a directory others can write:
	 * no symlink, no FIFO to block on, ours and open to nobody else
	 * (it will hold every command line). */
	sfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	if (sfd == -1 || fstat(sfd, &st) == -1) {
		fail("open");
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		errno = EPERM;
		fail("not a regular file of ours, or open to others");
		close(sfd);
		sfd = -1;
		return -1;
	}
	if (st.st_size == 0 && header(sfd) == -1)
		fail("write");
	return 0;
}

static int
format(const struct proc *p, char *out, size_t size)
{
	size_t n, i;

	n = (size_t)snprintf(out, size, "+ %" PRIu64 " %d %" PRIu64 " %"
	    PRId64 " %u %s %s ", p->id, (int)p->pid, p->stime, p->started_ms,
	    (unsigned)p->stop_ms, p->cg[0] ? p->cg : "-", p->owner);
	for (i = 0; i < p->tag_len && n + 3 < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%02x", p->tag[i]);
	if (p->tag_len == 0 && n + 2 < size)
		out[n++] = '-';
	out[n++] = '\n';
	return (int)n;
}

void
state_add(const struct proc *p)
{
	char line[256 + 2 * MON_MAX_TAG];

	put(line, (size_t)format(p, line, sizeof(line)));
	nlive++;
}

/* Rewrite the file with LIST's live processes only: 0, or -1. */
int
state_write_all(const struct proclist *list)
{
	char tmp[PATH_MAX], line[256 + 2 * MON_MAX_TAG];
	const struct proc *p;
	int fd;

	if (spath == NULL)
		return -1;
	/* A name nobody can guess or hold in our way. */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", spath);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		fail("rewrite");
		return -1;
	}
	if (header(fd) == -1)
		goto bad;
	nlive = nended = 0;
	LIST_FOREACH(p, list, link) {
		if (p->error != 0 || p->pid <= 0)
			continue;
		if (write(fd, line, (size_t)format(p, line, sizeof(line))) < 0)
			goto bad;
		nlive++;
		/* Ended, the server not yet told (an upgrade in between):
		 * how, for the next monitor to tell. */
		if (p->done && dprintf(fd, "x %" PRIu64 " %d %d\n", p->id,
		    p->status, p->foreign) < 0)
			goto bad;
	}
	if (fsync(fd) == -1 || rename(tmp, spath) == -1)
		goto bad;
	close(fd);
	if (sfd != -1)
		close(sfd);
	sfd = open(spath, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	return 0;
bad:
	fail("rewrite");
	close(fd);
	unlink(tmp);
	return -1;
}

void
state_del(uint64_t id, const struct proclist *list)
{
	char line[32];
	int n;

	n = snprintf(line, sizeof(line), "- %" PRIu64 "\n", id);
	put(line, (size_t)n);
	if (nlive > 0)
		nlive--;
	if (++nended > 256 && nended > nlive)
		state_write_all(list);
}

void
state_remove(void)
{
	if (spath == NULL)
		return;
	if (sfd != -1)
		close(sfd);
	sfd = -1;
	unlink(spath);
}

static int
unhex(const char *s, unsigned char **out, uint32_t *len)
{
	size_t n = strlen(s), i;
	unsigned int b;

	*out = NULL;
	*len = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	if (n % 2 != 0 || n / 2 > MON_MAX_TAG ||
	    (*out = malloc(n / 2 + 1)) == NULL)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (!isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &b) != 1) {
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[i] = (unsigned char)b;
	}
	*len = (uint32_t)(n / 2);
	return 0;
}

static void
drop(struct proclist *list, uint64_t id)
{
	struct proc *p;

	LIST_FOREACH(p, list, link)
		if (p->id == id) {
			LIST_REMOVE(p, link);
			free(p->tag);
			free(p);
			return;
		}
}

/* One "+" line as a record, or NULL (malformed: skipped). */
static struct proc *
parse_add(char *line)
{
	char cg[CG_NAME_MAX], owner[MON_MAX_OWNER], tag[2 * MON_MAX_TAG + 2];
	unsigned long long id, stime;
	long long started;
	unsigned stop_ms;
	struct proc *p;
	int pid;

	if (sscanf(line, "+ %llu %d %llu %lld %u %63s %63s %8193s", &id, &pid,
	    &stime, &started, &stop_ms, cg, owner, tag) != 8 || pid <= 1 ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if (unhex(tag, &p->tag, &p->tag_len) == -1) {
		free(p);
		return NULL;
	}
	p->statusfd = p->evfd = p->pidfd = p->rdyfd = -1;
	p->outfd[0] = p->outfd[1] = -1;
	p->id = id;
	p->pid = (pid_t)pid;
	p->stime = stime;
	p->started_ms = started;
	p->stop_ms = stop_ms;
	if (strcmp(cg, "-") != 0)
		snprintf(p->cg, sizeof(p->cg), "%s", cg);
	snprintf(p->owner, sizeof(p->owner), "%s", owner);
	return p;
}

/*
 * Is P (read from the file) still the process it names?  Our own child
 * (we re-exec'd) is ours even as a zombie, which has left its cgroup.
 * Another's is held by a pidfd first, then checked: the pid cannot be
 * reused between the check and the signals we send through the pidfd.
 * One that is not: its leaf (the name is ours) may still hold what it
 * left behind, which is killed, as when a main process ends under us.
 */
static int
verify(struct proc *p)
{
	pid_t ppid = 0;
	int pidfd = -1, leaf;

	if (state_stime(p->pid, &ppid) != 0 && ppid != getpid() &&
	    (pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0)) == -1 &&
	    errno != ESRCH)
		return -2;	/* cannot tell: not a verdict on it */
	if (p->stime != 0 && state_stime(p->pid, &ppid) == p->stime &&
	    (ppid == getpid() || pidfd != -1) && (ppid == getpid() ||
	    !p->cg[0] || cgroup_holds(p->cg, p->pid))) {
		p->foreign = ppid != getpid();
		p->pidfd = p->foreign ? pidfd : -1;
		if (!p->foreign && pidfd != -1)
			close(pidfd);
		return 0;
	}
	if (pidfd != -1)
		close(pidfd);
	mon_log("pid %d (%s) from the state file: gone, or another process "
	    "now: not adopted", (int)p->pid, p->owner);
	if (p->cg[0] && (leaf = cgroup_open(p->cg)) != -1) {
		mon_log("killing what is left in %s", p->cg);
		cgroup_kill(leaf);
		close(leaf);
	}
	return -1;
}

/*
 * What the file says runs and still does, into LIST (as started,
 * adopted); *MAXID gets the largest id seen, PREV the cgroup directory
 * of the monitor that wrote the file.  A file that is not ours,
 * is open to others or is from another boot is ignored.  Returns how
 * many were adopted.
 */
int
state_load(struct proclist *list, uint64_t *maxid, char *prev,
    size_t prevsize)
{
	char id[64], want[128], *line = NULL;
	struct proc *p, *next;
	struct stat st;
	size_t cap = 0;
	FILE *f;
	int fd, n = 0, status, foreign, rc;
	unsigned long long del;

	*maxid = 0;
	if (spath == NULL || (fd = open(spath, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC)) == -1)
		return 0;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 022) != 0 ||
	    (f = fdopen(fd, "r")) == NULL) {
		mon_log("state file %s: not ours or open to others: ignored",
		    spath);
		close(fd);
		return 0;
	}
	boot_id(id, sizeof(id));
	snprintf(want, sizeof(want), "procctl-state 1 %s ", id);
	if (getline(&line, &cap, f) == -1 ||
	    strncmp(line, want, strlen(want)) != 0)
		goto out;	/* empty, or from another boot */
	snprintf(prev, prevsize, "%.*s", (int)strcspn(line + strlen(want),
	    " \n"), line + strlen(want));
	while (getline(&line, &cap, f) != -1) {
		if (line[0] == '+' && (p = parse_add(line)) != NULL) {
			drop(list, p->id);
			LIST_INSERT_HEAD(list, p, link);
		} else if (sscanf(line, "- %llu", &del) == 1)
			drop(list, del);
		else if (sscanf(line, "x %llu %d %d", &del, &status,
		    &foreign) == 3)
			LIST_FOREACH(p, list, link)
				if (p->id == del) {
					p->done = p->reaped = 1;
					p->status = status;
					p->foreign = foreign != 0;
				}
	}
	for (p = LIST_FIRST(list); p != NULL; p = next) {
		next = LIST_NEXT(p, link);
		if (p->id > *maxid)
			*maxid = p->id;
		p->started = 1;
		if (p->done) {		/* ended: only the telling is left */
			n++;
			continue;
		}
		if ((rc = verify(p)) == -2) {
			mon_log("cannot check pid %d from the state file: %s; "
			    "adopting nothing", (int)p->pid, strerror(errno));
			n = -1;
			break;
		}
		if (rc == -1) {
			LIST_REMOVE(p, link);
			free(p->tag);
			free(p);
			continue;
		}
		n++;
	}
out:
	free(line);
	fclose(f);
	return n;
}
