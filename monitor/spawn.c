/*
 * Starting a process in a clean context, without waiting for it:
 *
 *  - Everything that allocates or reads files (argv, the environment,
 *    the passwd entry, the group list) is done before the fork; the
 *    child makes system calls only, and execvpe's PATH walk.
 *  - The child inherits nothing of the monitor that MON_SPAWN does not
 *    ask for: a fresh environment, its cwd entered after the ids are
 *    dropped, the given umask, no fd above 2, default signal
 *    dispositions and an empty mask, RLIMIT_NOFILE soft 1024, its own
 *    session, the user's ids and groups (root monitor, MON_SPAWN_SET_IDS),
 *    its own cgroup from birth (clone3 CLONE_INTO_CGROUP) when given one.
 *  - The exec result comes back through a close-on-exec, non-blocking
 *    pipe the caller polls: EOF means exec worked, 4 bytes are an errno.
 *    A child stopped before exec therefore holds up no one.
 *  - What a spawn costs does not grow with the processes the monitor
 *    holds (three fds each: a pidfd and two output pipes).  The child is
 *    not cloned from the monitor's fd table but from a trampoline's: a
 *    process that shares the monitor's memory and table (CLONE_VM,
 *    CLONE_VFORK, CLONE_FILES: nothing is copied), takes a private copy
 *    of only the fds below the child's own (close_range with
 *    CLOSE_RANGE_UNSHARE), clones the child with CLONE_PARENT (so it is
 *    the monitor's) and exits.  The monitor waits for the trampoline
 *    only, never for the child: the trampoline is our code, as root, in
 *    the monitor's cgroup (a child born into a frozen leaf freezes
 *    nobody); only root can stop it, as only root can stop the monitor.
 *    spawn_lift keeps every fd the monitor holds past a spawn above
 *    those, so the copy is a handful of fds whatever runs.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <linux/sched.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mon.h"

#define ENV_DEFAULTS	7	/* HOME USER LOGNAME SHELL LANG PATH
				 * NOTIFY_SOCKET */
#define PATH_USER	"PATH=/usr/local/bin:/usr/bin:/bin"
#define PATH_ROOT	"PATH=/usr/local/sbin:/usr/sbin:/sbin:" \
			"/usr/local/bin:/usr/bin:/bin"
#define FD_BASE		256	/* the fds the monitor keeps: from here up */
#define TRAMP_STACK	16384	/* the trampoline's stack (the child's goes
				 * on below it, in its own copy) */

/* What the child needs, made before the fork. */
struct spawn_ctx {
	char		**envp;
	size_t		  envn;
	char		 *own[ENV_DEFAULTS];	/* owned "K=V" defaults */
	size_t		  nown;
	const char	 *home;			/* into own[] */
	int		  set_ids;
	uid_t		  uid;
	gid_t		  gid;
	gid_t		 *groups;		/* owned */
	int		  ngroups;
	char		  cwd[PATH_MAX];	/* the caller's, or "" */
};

/* What the trampoline is handed and hands back, in the monitor's memory
 * (it runs in it while the monitor waits). */
struct tramp {
	const struct spawn_req	*r;
	const struct spawn_ctx	*c;
	int			 errfd;		/* the exec-status pipe's */
	int			 leaf;		/* CLONE_INTO_CGROUP, or -1 */
	unsigned		 low;		/* fds copied: those below */
	pid_t			 pid;		/* the child, or -1 */
	int			 err;		/* why not */
	int			 contained;
	int			 clone3_err;	/* clone3 refused: fell back */
};

/* Take MON_SPAWN's payload apart; -1 if its strings are not exactly
 * user, cwd, owner, argc words and envc words, each NUL-terminated, then
 * tag_len bytes, filling the payload to its last byte. */
int
spawn_parse(char *p, size_t len, struct spawn_req *r)
{
	char *end = p + len, *nul;
	uint64_t i, want;

	memset(r, 0, sizeof(*r));
	r->readyw = r->outw[0] = r->outw[1] = -1;
	if (len < sizeof(r->s))
		return -1;
	memcpy(&r->s, p, sizeof(r->s));
	p += sizeof(r->s);
	if (r->s.tag_len > MON_MAX_TAG || r->s.tag_len > (size_t)(end - p))
		return -1;
	end -= r->s.tag_len;
	r->tag = (unsigned char *)end;
	want = 3 + (uint64_t)r->s.argc + r->s.envc;
	/* env_put is quadratic: a bound keeps one message cheap. */
	if (r->s.argc < 1 || r->s.envc > MON_MAX_ENV ||
	    r->s.ready > MON_RDY_FD || (r->s.ready == MON_RDY_FD &&
	    (r->s.ready_fd < 3 || r->s.ready_fd > MON_MAX_READY_FD)) ||
	    want > (uint64_t)(end - p))
		return -1;		/* every string has at least its NUL */
	if ((r->argv = calloc(r->s.argc + 1, sizeof(char *))) == NULL ||
	    (r->env = calloc(r->s.envc + 1, sizeof(char *))) == NULL)
		goto fail;
	for (i = 0; i < want; i++, p = nul + 1) {
		if ((nul = memchr(p, '\0', end - p)) == NULL)
			goto fail;
		if (i == 0)
			r->user = p;
		else if (i == 1)
			r->cwd = p;
		else if (i == 2)
			r->owner = p;
		else if (i < 3 + r->s.argc)
			r->argv[i - 3] = p;
		else
			r->env[i - 3 - r->s.argc] = p;
	}
	/* The owner is a plugin's name: one word, kept in the state file. */
	if (p == end && *r->owner != '\0' &&
	    strlen(r->owner) < MON_MAX_OWNER &&
	    strspn(r->owner, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
	    "WXYZ0123456789_-.") == strlen(r->owner))
		return 0;
fail:
	spawn_free(r);
	return -1;
}

void
spawn_free(struct spawn_req *r)
{
	free(r->argv);
	free(r->env);
	r->argv = r->env = NULL;
}

/* Set KV ("K=V") in the environment, replacing an earlier K. */
static void
env_put(struct spawn_ctx *c, char *kv)
{
	size_t i, klen = strcspn(kv, "=") + 1;

	for (i = 0; i < c->envn; i++)
		if (strncmp(c->envp[i], kv, klen) == 0) {
			c->envp[i] = kv;
			return;
		}
	c->envp[c->envn++] = kv;
}

static int
env_own(struct spawn_ctx *c, const char *k, const char *v)
{
	char *kv;

	if (asprintf(&kv, "%s=%s", k, v) == -1)
		return -1;
	c->own[c->nown++] = kv;
	env_put(c, kv);
	return 0;
}

/* The environment from scratch, then the ids; 0 or an errno. */
static int
ctx_build(const struct spawn_req *r, struct spawn_ctx *c)
{
	const char *name, *uname = "", *lang = getenv("LANG");
	struct passwd *pw;
	size_t i;
	int n;

	/* Decided here, not by the server, which may have dropped root: a
	 * root monitor becomes whom the server names; another can run its
	 * own user only (the server's policy let the caller in). */
	c->set_ids = geteuid() == 0;
	c->uid = c->set_ids ? r->s.uid : geteuid();
	c->gid = c->set_ids ? r->s.gid : getegid();
	/* Where the caller is, read as root: the process then enters it
	 * as the user, so nobody gets into a directory they could not. */
	if (*r->cwd == '\0' && r->s.cwd_pid > 0) {
		char link[64];
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/%d/cwd", (int)r->s.cwd_pid);
		if ((len = readlink(link, c->cwd, sizeof(c->cwd) - 1)) > 0)
			c->cwd[len] = '\0';
		else
			c->cwd[0] = '\0';
	}
	if ((c->envp = calloc(ENV_DEFAULTS + r->s.envc + 1,
	    sizeof(char *))) == NULL)
		return ENOMEM;
	pw = getpwuid(c->uid);
	name = pw != NULL ? pw->pw_name : r->user;
	if (env_own(c, "HOME", pw && *pw->pw_dir ? pw->pw_dir : "/") == -1 ||
	    (*name && (env_own(c, "USER", name) == -1 ||
	    env_own(c, "LOGNAME", name) == -1)) ||
	    env_own(c, "SHELL", pw && *pw->pw_shell ? pw->pw_shell :
	    "/bin/sh") == -1 || (lang && env_own(c, "LANG", lang) == -1))
		return ENOMEM;
	c->home = c->own[0] + 5;
	if (*name)
		uname = c->own[1] + 5;	/* pw_name may be overwritten */
	env_put(c, c->uid == 0 ? PATH_ROOT : PATH_USER);
	for (i = 0; i < r->s.envc; i++) {
		if (strchr(r->env[i], '=') == NULL || r->env[i][0] == '=')
			return EINVAL;
		env_put(c, r->env[i]);
	}
	/* Last: the process's own environment cannot point it elsewhere. */
	if (r->s.ready == MON_RDY_NOTIFY && ready_socket() != NULL &&
	    env_own(c, "NOTIFY_SOCKET", ready_socket()) == -1)
		return ENOMEM;
	if (!c->set_ids)
		return 0;
	/* initgroups(3), done here: it reads files and allocates.  The
	 * groups of the uid's own passwd entry: the name the server sent
	 * may be a number standing for a uid without one, and another
	 * account could bear it; without an entry, the gid alone. */
	name = pw != NULL ? uname : "";
	for (n = 16; n <= 65536; ) {
		free(c->groups);
		if ((c->groups = calloc(n, sizeof(gid_t))) == NULL)
			return ENOMEM;
		c->ngroups = n;
		if (!*name) {
			c->groups[0] = c->gid;
			c->ngroups = 1;
			return 0;
		}
		if (getgrouplist(name, c->gid, c->groups, &c->ngroups) != -1)
			return 0;
		n = c->ngroups > n ? c->ngroups : 2 * n;
	}
	return E2BIG;
}

static void
ctx_free(struct spawn_ctx *c)
{
	while (c->nown > 0)
		free(c->own[--c->nown]);
	free(c->envp);
	free(c->groups);
}

static void __attribute__((noreturn))
child_fail(int fd, int err)
{
	while (write(fd, &err, sizeof(err)) == -1 && errno == EINTR)
		;
	_exit(127);
}

/* Every fd from 3 up closed but A and B (-1: none). */
static int
close_but(int a, int b)
{
	int keep[2], i, from = 3;

	keep[0] = a < b ? a : b;
	keep[1] = a < b ? b : a;
	for (i = 0; i < 2; i++) {
		if (keep[i] < from)
			continue;
		if (keep[i] > from && close_range(from, keep[i] - 1, 0) == -1)
			return -1;
		from = keep[i] + 1;
	}
	return close_range(from, ~0U, 0);
}

/* The standard fds on /dev/null (stdout and stderr kept if asked), every
 * other fd but ERRFD closed; ERRFD is close-on-exec, so it goes at exec.
 * READYW, when not -1, becomes fd READY_FD (s6's notification-fd), the
 * one other fd the process starts with. */
static int
child_fds(const struct spawn_req *r, int errfd, int readyw, int ready_fd)
{
	int fd;

	if ((fd = open("/dev/null", O_RDWR)) == -1)
		return -1;
	if (dup2(fd, 0) == -1)
		return -1;
	if (r->outw[0] != -1) {		/* captured: dup2 clears CLOEXEC */
		if (dup2(r->outw[0], 1) == -1 || dup2(r->outw[1], 2) == -1)
			return -1;
	} else if (!(r->s.flags & MON_SPAWN_INHERIT_OUTPUT) &&
	    (dup2(fd, 1) == -1 || dup2(fd, 2) == -1))
		return -1;
	if (fd > 2)
		close(fd);
	if (readyw == -1)
		ready_fd = -1;
	else if (readyw != ready_fd && dup3(readyw, ready_fd, O_CLOEXEC) == -1)
		return -1;
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1 &&
	    close_but(errfd, ready_fd) == -1)
		return -1;
	/* Open across the exec: the one fd it is meant to have. */
	return ready_fd == -1 ? 0 : fcntl(ready_fd, F_SETFD, 0);
}

/* RLIMIT_NOFILE: soft 1024 by default; else NOFILE, soft and hard,
 * within the hard limit procctld has when it may not raise it (root
 * without CAP_SYS_RESOURCE, in a container). */
static int
child_nofile(uint64_t nofile)
{
	struct rlimit rl, want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	want = rl;
	if (nofile == 0) {
		if (want.rlim_cur > 1024)
			want.rlim_cur = 1024;
	} else
		want.rlim_cur = want.rlim_max = nofile;
	if (setrlimit(RLIMIT_NOFILE, &want) == 0)
		return 0;
	if (errno != EPERM)
		return errno;
	want.rlim_cur = want.rlim_max = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &want) == -1 ? errno : 0;
}

/* Its rlimits: NOFILE, and the limits its cgroup does not enforce
 * (CG_LIMITS: those it does); 0 or an errno. */
static int
child_limits(const struct spawn_req *r, uint32_t cg_limits)
{
	struct rlimit rl;
	int err;

	if ((err = child_nofile(r->s.nofile)) != 0)
		return err;
	rl.rlim_cur = rl.rlim_max = r->s.memory_max;
	if (r->s.memory_max > 0 && !(cg_limits & MON_LIMIT_MEMORY_CGROUP) &&
	    setrlimit(RLIMIT_AS, &rl) == -1)
		return errno;
	rl.rlim_cur = rl.rlim_max = r->s.pids_max;
	if (r->s.pids_max > 0 && !(cg_limits & MON_LIMIT_PIDS_CGROUP) &&
	    setrlimit(RLIMIT_NPROC, &rl) == -1)
		return errno;
	return 0;
}

/* Become the user, and make sure there is no way back. */
static int
child_ids(const struct spawn_ctx *c)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (!c->set_ids)
		return 0;
	if (setgroups(c->ngroups, c->groups) == -1 || setgid(c->gid) == -1 ||
	    setuid(c->uid) == -1)
		return errno;
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != c->uid || eu != c->uid || su != c->uid || rg != c->gid ||
	    eg != c->gid || sg != c->gid || (c->uid != 0 && setuid(0) != -1))
		return EPERM;
	return 0;
}

/* CONTAINED: in the leaf whose limits r->cg_limits are (a fallback
 * fork is not, and gets rlimits). */
static void __attribute__((noreturn))
child(const struct spawn_req *r, const struct spawn_ctx *c, int errfd,
    int contained)
{
	const char *r_cwd = r->cwd;
	struct sigaction sa;
	struct stat st;
	sigset_t none;
	int sig, err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The pipe must not sit where a standard fd is about to go. */
	if (errfd <= 2 && (errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 3)) == -1)
		_exit(127);
	if (r->readyw != -1 && (int)r->s.ready_fd == errfd &&
	    (errfd = fcntl(errfd, F_DUPFD_CLOEXEC, r->s.ready_fd + 1)) == -1)
		_exit(127);
	if (setsid() == -1 || child_fds(r, errfd, r->readyw,
	    (int)r->s.ready_fd) == -1)
		child_fail(errfd, errno);
	umask(r->s.umask & 0777);
	if ((err = child_limits(r, contained ? r->cg_limits : 0)) != 0)
		child_fail(errfd, err);
	if ((err = child_ids(c)) != 0)
		child_fail(errfd, err);
	/* As the user: a directory they cannot enter is their error. */
	if (*r->cwd == '\0' && *c->cwd != '\0')
		r_cwd = c->cwd;
	if (*r_cwd ? chdir(r_cwd) == -1 :
	    (chdir(c->home) == -1 && chdir("/") == -1))
		child_fail(errfd, errno);
	/* execvpe searches getenv("PATH"): make that the clean one. */
	environ = c->envp;
	execvpe(r->argv[0], r->argv, c->envp);
	err = errno;
	/* `run /` and `run .`: "is a directory", not "permission denied"
	 * (the seed's defect). */
	if (err == EACCES && stat(r->argv[0], &st) == 0 &&
	    S_ISDIR(st.st_mode))
		err = EISDIR;
	child_fail(errfd, err);
}

/* The child, the monitor's (CLONE_PARENT: we are the trampoline),
 * straight into LEAF when there is one; *contained says whether it is.
 * A kernel that refuses clone3 gets a plain clone, *clone3_err why. */
static pid_t
spawn_fork(int leaf, int *contained, int *clone3_err)
{
	struct clone_args ca;
	long pid;

	*contained = 0;
	*clone3_err = 0;
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_PARENT | (leaf != -1 ? CLONE_INTO_CGROUP : 0);
	ca.cgroup = leaf != -1 ? (uint64_t)leaf : 0;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid != -1) {
		*contained = leaf != -1;
		return (pid_t)pid;
	}
	if (errno == EAGAIN || errno == ENOMEM)
		return -1;
	*clone3_err = errno;
#if defined(__s390__) || defined(__CRIS__)	/* the stack comes first */
	return (pid_t)syscall(SYS_clone, 0, CLONE_PARENT, NULL, NULL, 0);
#else
	return (pid_t)syscall(SYS_clone, CLONE_PARENT, 0, NULL, NULL, 0);
#endif
}

/*
 * The trampoline, sharing the monitor's memory and fd table while the
 * monitor waits.  Its first act is a table of its own with only the fds
 * below t->low (the child's pipes, the leaf, the monitor's few fixed
 * ones): the kernel copies those, not the thousands above, and closes
 * nothing in the shared table.  A kernel without CLOSE_RANGE_UNSHARE
 * gets a copy of the whole table (the child's exec closes the rest, as
 * it would without the trampoline).  Then the child; then it exits.
 */
static int
trampoline(void *arg)
{
	struct tramp *t = arg;

	if (close_range(t->low, ~0U, CLOSE_RANGE_UNSHARE) == -1 &&
	    unshare(CLONE_FILES) == -1) {
		t->err = errno;
		return 0;
	}
	if ((t->pid = spawn_fork(t->leaf, &t->contained, &t->clone3_err)) ==
	    0)
		child(t->r, t->c, t->errfd, t->contained);
	t->err = errno;
	return 0;
}

/* Run the trampoline on a stack in this frame (as musl's posix_spawn
 * does: below it nothing of ours is live while we wait) and reap it;
 * the child's pid, or -1 with errno.  CLONE_VFORK: back once it has
 * exited, the child cloned or not. */
static pid_t __attribute__((noinline))
tramp_run(struct tramp *t)
{
	char stack[TRAMP_STACK] __attribute__((aligned(16)));
	pid_t tp;
	int st;

	t->pid = -1;
	t->err = EAGAIN;	/* if it is killed before it can say */
	if ((tp = clone(trampoline, stack + sizeof(stack), CLONE_VM |
	    CLONE_VFORK | CLONE_FILES | SIGCHLD, t)) == -1)
		return -1;
	while (waitpid(tp, &st, __WALL) == -1 && errno == EINTR)
		;
	if (t->clone3_err != 0 && t->leaf != -1)
		mon_log("clone3 into a cgroup: %s", strerror(t->clone3_err));
	errno = t->err;
	return t->pid;
}

/* FD, one the monitor keeps past this spawn, moved to FD_BASE or above
 * (close-on-exec): below stay only the few fds each spawn makes for its
 * child, which is what the trampoline copies.  FD itself when it cannot
 * be moved (an open-file limit below FD_BASE): it works as well there,
 * every spawn just copies it. */
int
spawn_lift(int fd)
{
	int high;

	if (fd < 0 || fd >= FD_BASE ||
	    (high = fcntl(fd, F_DUPFD_CLOEXEC, FD_BASE)) == -1)
		return fd;
	close(fd);
	return high;
}

/* LOW, or just past FD when FD is not below it (-1: none). */
static unsigned
above(unsigned low, int fd)
{
	return fd >= 0 && (unsigned)fd >= low ? (unsigned)fd + 1 : low;
}

/* Start R; its pid, or -1 with errno.  *STATUSFD gets the exec-status
 * pipe's read end, *PIDFD a pidfd (or -1): the caller's to watch and
 * close, both lifted (spawn_lift). */
pid_t
spawn_start(const struct spawn_req *r, int leaf, int *statusfd,
    int *contained, int *pidfd)
{
	struct spawn_ctx c;
	struct tramp t;
	int pfd[2], err;
	pid_t pid = -1;

	memset(&c, 0, sizeof(c));
	*contained = 0;
	*pidfd = -1;
	if ((err = ctx_build(r, &c)) != 0)
		goto done;
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == -1) {
		err = errno;
		goto done;
	}
	memset(&t, 0, sizeof(t));
	t.r = r;
	t.c = &c;
	t.errfd = pfd[1];
	t.leaf = leaf;
	/* Everything the trampoline and the child use, and 0 to 2. */
	t.low = above(above(above(above(above(3, pfd[1]), leaf), r->readyw),
	    r->outw[0]), r->outw[1]);
	pid = tramp_run(&t);
	err = errno;
	close(pfd[1]);
	if (pid == -1) {
		close(pfd[0]);
		goto done;
	}
	*contained = t.contained;
	*statusfd = spawn_lift(pfd[0]);
	/* Ours and not yet reaped: the pid cannot have been reused. */
	*pidfd = spawn_lift((int)syscall(SYS_pidfd_open, pid, 0));
done:
	ctx_free(&c);
	errno = err;
	return pid;
}
