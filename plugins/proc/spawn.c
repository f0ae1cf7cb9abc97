/*
 * Starting a process: fork, and in the child set up the session, standard
 * fds, credentials and signal state, then exec.  An exec failure travels
 * back through a close-on-exec pipe: zero bytes read means exec worked.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

static void __attribute__((noreturn))
child_fail(int fd, int err)
{
	ssize_t n;

	do
		n = write(fd, &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	_exit(127);
}

static int
drop_privileges(const struct spawn_opts *o)
{
	struct passwd *pw;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (geteuid() != 0 || o->uid == 0)
		return 0;
	if (initgroups(o->user, o->gid) == -1 || setgid(o->gid) == -1 ||
	    setuid(o->uid) == -1)
		return -1;
	/* Verify: no way back to root, and every id (real, effective,
	 * saved) is the caller's. */
	if (setuid(0) != -1 || getresuid(&ru, &eu, &su) == -1 ||
	    getresgid(&rg, &eg, &sg) == -1 || ru != o->uid || eu != o->uid ||
	    su != o->uid || rg != o->gid || eg != o->gid || sg != o->gid)
		return -1;
	if ((pw = getpwuid(o->uid)) != NULL) {
		setenv("HOME", pw->pw_dir, 1);
		setenv("USER", pw->pw_name, 1);
		setenv("LOGNAME", pw->pw_name, 1);
		setenv("SHELL", pw->pw_shell, 1);
	}
	return 0;
}

static void __attribute__((noreturn))
child(char *const argv[], const struct spawn_opts *o, int errfd)
{
	struct sigaction sa;
	struct rlimit rl;
	sigset_t none;
	struct stat st;
	int fd, sig, err;

	/* The daemon blocks and ignores signals for its own use; a child
	 * must start with the defaults. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() == -1)
		child_fail(errfd, errno);
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		child_fail(errfd, errno);
	if (dup2(fd, 0) == -1 ||
	    (!o->inherit_output && (dup2(fd, 1) == -1 || dup2(fd, 2) == -1)))
		child_fail(errfd, errno);
	if (fd > 2)
		close(fd);
	/* The daemon raised its fd limit for itself; select()-based
	 * programs break above 1024, so children get the usual soft limit
	 * back, as systemd does. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 1024) {
		rl.rlim_cur = 1024;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (drop_privileges(o) == -1)
		child_fail(errfd, EPERM);
	if (o->cwd != NULL && chdir(o->cwd) == -1)
		child_fail(errfd, errno);
	execvp(argv[0], argv);
	err = errno;
	if (err == EACCES && stat(argv[0], &st) == 0 && S_ISDIR(st.st_mode))
		err = EISDIR;
	child_fail(errfd, err);
}

int
spawn(char *const argv[], const struct spawn_opts *o, pid_t *pidp,
    int *pidfdp)
{
	int pfd[2], err = 0, pidfd;
	ssize_t n;
	pid_t pid;

	if (argv[0][0] == '\0')
		return ENOENT;
	if (pipe2(pfd, O_CLOEXEC) == -1)
		return errno;
	if ((pid = fork()) == -1) {
		err = errno;
		close(pfd[0]);
		close(pfd[1]);
		return err;
	}
	if (pid == 0)
		child(argv, o, pfd[1]);
	close(pfd[1]);
	/* Blocks only until exec (or its failure) in the child. */
	do
		n = read(pfd[0], &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	close(pfd[0]);
	if (n > 0) {
		waitpid(pid, NULL, 0);	/* exits at once: reap it */
		return err ? err : EIO;
	}
	/* Our unreaped child: its pid cannot be reused under us. */
	if ((pidfd = pidfd_open(pid, 0)) == -1) {
		err = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return err;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	*pidp = pid;
	*pidfdp = pidfd;
	return 0;
}
