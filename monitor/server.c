/*
 * The server as a process: started as a fresh exec of our own binary
 * (the one this monitor was started from, held open, so a package
 * upgrade on disk changes nothing until `daemon upgrade`), and the
 * monitor's own re-exec for that upgrade.
 *
 *  - A server gets its end of the socketpair at fd 3 and the listening
 *    sockets at fd 4 and up, and finds them named in its environment.
 *    Nothing else of ours reaches it: every other fd is close-on-exec,
 *    and procctld's NOTIFY_SOCKET and watchdog variables are unset.
 *  - Before an upgrade re-execs the monitor, the binary on disk must pass
 *    `-t` with our own arguments: a broken binary or configuration is
 *    refused while this monitor can still go on.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logq.h"
#include "mon.h"

#define CHECK_MS	10000	/* the new binary's -t, at most */

/* In a child about to exec: procctld's own service manager is the
 * monitor's to speak to (sdnotify.c), not the server's nor a check's. */
static void
sd_env_unset(void)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* Put FD at TARGET (not close-on-exec) in a child about to exec. */
static int
place_fd(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) == -1 ? -1 : 0;
}

/* In the child: the server's fds at 3 (the monitor) and 4... (the
 * listeners), then our own binary, in server mode. */
static void __attribute__((noreturn))
exec_server(const struct monitor_args *a, int exe_fd, int fd)
{
	char list[256];
	sigset_t set;
	size_t i, n = 0;
	int high[66], base = 3 + 2 + (int)a->nlfds + 8, cfd = -1;
	char cnum[16];

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* Out of the way first: a listener may sit where another goes. */
	if ((high[0] = fcntl(fd, F_DUPFD_CLOEXEC, base)) == -1)
		_exit(127);
	for (i = 0; i < a->nlfds && i < 63; i++)
		if ((high[i + 1] = fcntl(a->lfds[i], F_DUPFD_CLOEXEC,
		    base)) == -1)
			_exit(127);
	if (a->config_fd != NULL && *a->config_fd != -1 &&
	    (cfd = fcntl(*a->config_fd, F_DUPFD_CLOEXEC, base)) == -1)
		_exit(127);
	if (place_fd(high[0], 3) == -1)
		_exit(127);
	list[0] = '\0';
	for (i = 0; i < a->nlfds && i < 63; i++) {
		if (place_fd(high[i + 1], 4 + (int)i) == -1)
			_exit(127);
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%d",
		    i ? "," : "", 4 + (int)i);
	}
	/* The configuration's bytes after the listeners. */
	if (cfd != -1 && place_fd(cfd, 4 + (int)i) == -1)
		_exit(127);
	snprintf(cnum, sizeof(cnum), "%d", 4 + (int)i);
	setenv(MON_ENV_SERVER, "3", 1);
	setenv(MON_ENV_LISTEN, list, 1);
	if (cfd != -1)
		setenv(MON_ENV_CONFIG, cnum, 1);
	else
		unsetenv(MON_ENV_CONFIG);
	unsetenv(MON_ENV_UPGRADE);
	sd_env_unset();
	/* The server makes its own signalfd; until then they wait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_SETMASK, &set, NULL);
	fexecve(exe_fd, a->argv, environ);
	fprintf(stderr, "procctld: monitor: exec of the server: %s\n",
	    strerror(errno));
	_exit(127);
}

/* Start a server: its pid, and our end of the pair in *SFD; -1. */
pid_t
server_spawn(const struct monitor_args *a, int exe_fd, int *sfd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		mon_log("socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(stderr);
	if ((pid = fork()) == -1) {
		mon_log("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		exec_server(a, exe_fd, sv[1]);
	}
	close(sv[1]);
	*sfd = sv[0];
	return pid;
}

/* EXE -t with our arguments, waited for (bounded): 0 when it says the
 * configuration is usable, else -1 after logging why not. */
static int
check_binary(const struct monitor_args *a, const char *exe)
{
	char *argv[64];
	struct pollfd pfd;
	siginfo_t si;
	size_t i, n = 0;
	pid_t pid;
	int pidfd;

	argv[n++] = (char *)exe;
	argv[n++] = "-t";
	for (i = 1; a->argv[i] != NULL && n < 63; i++)
		argv[n++] = a->argv[i];
	argv[n] = NULL;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null != -1)
			dup2(null, 1);	/* "configuration ok": not ours */
		sd_env_unset();
		execv(exe, argv);
		_exit(127);
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	pfd.fd = pidfd;
	pfd.events = POLLIN;
	if (pidfd == -1 || poll(&pfd, 1, CHECK_MS) != 1) {
		kill(pid, SIGKILL);
		mon_log("upgrade: %s -t did not answer within %d ms", exe,
		    CHECK_MS);
	}
	memset(&si, 0, sizeof(si));
	waitid(P_PID, (id_t)pid, &si, WEXITED);
	if (pidfd != -1)
		close(pidfd);
	if (si.si_code == CLD_EXITED && si.si_status == 0)
		return 0;
	mon_log("upgrade: %s -t failed (%s %d): not upgrading", exe,
	    si.si_code == CLD_EXITED ? "status" : "signal", si.si_status);
	return -1;
}

/*
 * `daemon upgrade`: the binary now on disk becomes the monitor in this
 * same process (so every child stays ours), handed the listeners; the
 * state file, already written, hands it every process.  Returns only if
 * that could not be done; the caller then goes on as before.
 */
void
upgrade_exec(const struct monitor_args *a)
{
	char exe[PATH_MAX], list[256], *del;
	ssize_t n;
	size_t i, len = 0;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0) {
		mon_log("upgrade: /proc/self/exe: %s", strerror(errno));
		return;
	}
	exe[n] = '\0';
	if ((del = strstr(exe, " (deleted)")) != NULL && del[10] == '\0')
		*del = '\0';	/* replaced on disk: the new one */
	if (check_binary(a, exe) == -1)
		return;
	list[0] = '\0';
	for (i = 0; i < a->nlfds; i++) {
		fcntl(a->lfds[i], F_SETFD, 0);
		len += (size_t)snprintf(list + len, sizeof(list) - len,
		    "%s%d", i ? "," : "", a->lfds[i]);
	}
	setenv(MON_ENV_LISTEN, list, 1);
	setenv(MON_ENV_UPGRADE, "1", 1);
	if (a->socket_activated)
		setenv(MON_ENV_ACTIVATED, "1", 1);
	mon_log("upgrade: re-executing %s", exe);
	logq_drain(LOGQ_DRAIN_MS);	/* the queue does not survive exec */
	execv(exe, a->argv);
	mon_log("upgrade: exec %s: %s; going on as before", exe,
	    strerror(errno));
	unsetenv(MON_ENV_UPGRADE);
	unsetenv(MON_ENV_ACTIVATED);
	for (i = 0; i < a->nlfds; i++)
		fcntl(a->lfds[i], F_SETFD, FD_CLOEXEC);
}
