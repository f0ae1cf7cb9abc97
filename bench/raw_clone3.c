/*
 * The machine's floor for what procctld's monitor does per process, with
 * no server, no messages and no clean start: clone3 with CLONE_PIDFD (and
 * CLONE_INTO_CGROUP into a fresh cgroup2 leaf, made for it and removed
 * after, when a writable cgroup2 hierarchy is found from
 * /proc/self/mountinfo and /proc/self/cgroup, as the monitor does), exec
 * PROGRAM, poll the pidfd, reap with waitid(P_PIDFD), remove the leaf;
 * COUNT times one after another.  procctld's `run` -> `exited` rate is
 * reported as a ratio to this (bench.py, figure spawn9).
 *
 * The leaves are p<i>/ under bench-raw-<pid>/ in our own cgroup, the
 * layout the monitor uses (procctl-<pid>/p<id>/).  Every child must exit
 * 0: anything else fails the run.
 *
 * usage: raw_clone3 [-n] COUNT PROGRAM
 *   -n  no cgroups even when one is writable
 * prints: "seconds S" and "cgroup DIR" (or "cgroup none: WHY")
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>

#include "benchlib.h"

#ifndef P_PIDFD
#define P_PIDFD	3
#endif

static char	 cgdir[2 * PATH_MAX];	/* bench-raw-<pid>/, or "" */
static int	 cgroot = -1;
static long	 cur = -1;		/* the leaf in use, if any */

/* The cgroup2 mount and its root; our own cgroup v2 path.  As in
 * monitor/cgroup.c, so the leaves go where the monitor's would. */
static const char *
cg_init(void)
{
	char *line = NULL, *sep, mnt[PATH_MAX], root[PATH_MAX], own[PATH_MAX];
	char name[64];
	size_t cap = 0, rl;
	const char *rel;
	int found = 0, parent;
	FILE *f;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return "no /proc/self/mountinfo";
	while (!found && getline(&line, &cap, f) != -1) {
		sep = strstr(line, " - ");
		found = sep != NULL && strncmp(sep, " - cgroup2 ", 11) == 0 &&
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) == 2;
	}
	fclose(f);
	if (!found) {
		free(line);
		return "no cgroup2 mount";
	}
	found = 0;
	if ((f = fopen("/proc/self/cgroup", "re")) != NULL) {
		while (!found && getline(&line, &cap, f) != -1) {
			if (strncmp(line, "0::/", 4) != 0 ||
			    strlen(line) >= sizeof(own))
				continue;
			line[strcspn(line, "\n")] = '\0';
			strcpy(own, line + 3);
			found = 1;
		}
		fclose(f);
	}
	free(line);
	if (!found)
		return "no cgroup v2 path in /proc/self/cgroup";
	rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (strncmp(own, root, rl) != 0 || (own[rl] != '/' && own[rl] != '\0'))
		return "our cgroup is outside the cgroup2 mount";
	rel = own + rl;
	snprintf(name, sizeof(name), "bench-raw-%d", (int)getpid());
	snprintf(cgdir, sizeof(cgdir), "%s%s/%s", mnt,
	    strcmp(rel, "/") ? rel : "", name);
	if ((parent = open(cgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		close(parent);		/* (a pid reused: take it over) */
	else if (mkdir(cgdir, 0755) == -1) {
		cgdir[0] = '\0';
		return strerror(errno);
	}
	if ((cgroot = open(cgdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		rmdir(cgdir);
		cgdir[0] = '\0';
		return strerror(errno);
	}
	return NULL;
}

/* At exit, also after a failure: the leaf in use (if its process has
 * gone) and our directory.  Errors are only reported. */
static void
cg_fini(void)
{
	char name[32];

	if (cgroot == -1)
		return;
	if (cur != -1) {
		snprintf(name, sizeof(name), "p%ld", cur);
		unlinkat(cgroot, name, AT_REMOVEDIR);
	}
	close(cgroot);
	cgroot = -1;
	if (rmdir(cgdir) == -1)
		perror(cgdir);
}

static int
leaf_make(long i)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "p%ld", i);
	if (mkdirat(cgroot, name, 0755) == -1)
		die("mkdir leaf");
	cur = i;
	if ((fd = openat(cgroot, name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		die("open leaf");
	return fd;
}

static void
leaf_remove(int fd, long i)
{
	char name[32];

	close(fd);
	snprintf(name, sizeof(name), "p%ld", i);
	if (unlinkat(cgroot, name, AT_REMOVEDIR) == -1)
		die("rmdir leaf");
	cur = -1;
}

/* One process: its pidfd, the child's exec of PROG. */
static void
one(long i, const char *prog)
{
	struct clone_args ca;
	struct pollfd pfd;
	siginfo_t si;
	int pidfd = -1, leaf = -1;
	long pid;

	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_PIDFD;
	ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
	ca.exit_signal = SIGCHLD;
	if (cgroot != -1) {
		leaf = leaf_make(i);
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)leaf;
	}
	if ((pid = syscall(SYS_clone3, &ca, sizeof(ca))) == -1)
		die("clone3");
	if (pid == 0) {
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	pfd.fd = pidfd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, -1) != 1)
		if (errno != EINTR)
			die("poll pidfd");
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) == -1)
		die("waitid P_PIDFD");
	if (si.si_code != CLD_EXITED || si.si_status != 0) {
		fprintf(stderr, "raw_clone3: %s ended with code %d status %d\n",
		    prog, si.si_code, si.si_status);
		exit(3);
	}
	close(pidfd);
	if (leaf != -1)
		leaf_remove(leaf, i);
}

int
main(int argc, char **argv)
{
	const char *why = "-n given";
	struct timespec a, b;
	long i, count;
	int nocg = 0;

	if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		nocg = 1;
		argc--;
		argv++;
	}
	if (argc != 3 || (count = atol(argv[1])) <= 0)
		return 2;
	if (!nocg && (why = cg_init()) == NULL)
		atexit(cg_fini);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < count; i++)
		one(i, argv[2]);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("seconds %.6f\n", (double)(b.tv_sec - a.tv_sec) +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	if (why == NULL)
		printf("cgroup %s\n", cgdir);
	else
		printf("cgroup none: %s\n", why);
	return 0;
}
