/*
 * The monitor, driven as the server drives it: a real monitor_main() in a
 * child of this test, real processes, real cgroups when the machine has a
 * writable cgroup2 hierarchy.  This process plays the server (the monitor
 * is not its parent, and must not need to be).
 *
 * Covered: exec results (success, ENOENT, EISDIR for a directory), exit
 * codes and signals, a process and its whole tree ended (signal, kill,
 * grandchildren left behind), the clean start (environment, cwd, umask,
 * fds, ids, a cwd the user cannot enter), a child stuck before exec
 * holding up no one (frozen by its cgroup; stopped by SIGSTOP), shutdown
 * (SIGTERM, SIGKILL after stop_ms, the cgroup removed) and malformed
 * messages ending the monitor.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "monitor.h"

#define WAIT_MS		5000
#define SCRATCH		"/tmp/procctl-test-monitor"

struct msg {
	struct mon_hdr	h;
	union {
		struct mon_started	s;
		struct mon_exited	e;
		struct mon_ready	r;
	} u;
};

static struct msg queue[64];	/* read, not yet expected */
static size_t nqueue;
static int fd = -1;
static pid_t mon = -1;
static const char *mon_stderr;	/* the next monitor logs here, or NULL */
static char cgdir[2 * PATH_MAX + 32];	/* the monitor's procctl-<pid>, or "" */

/* ---- driving the monitor ---- */

static void hello(void);

/* SNDBUF: the monitor's send buffer, or 0 for the default. */
static void
start_monitor_buf(int sndbuf)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		perror("socketpair");
		exit(1);
	}
	if (sndbuf > 0)
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
		    sizeof(sndbuf));
	if ((mon = fork()) == 0) {
		struct monitor_args a;

		close(sv[0]);
		if (mon_stderr != NULL) {
			int lf = open(mon_stderr, O_WRONLY | O_CREAT | O_TRUNC,
			    0600);

			if (lf != -1)
				dup2(lf, 2);
		}
		memset(&a, 0, sizeof(a));
		a.server_fd = sv[1];
		monitor_main(&a);
	}
	close(sv[1]);
	fd = sv[0];
	nqueue = 0;
	hello();
}

static void
start_monitor(void)
{
	start_monitor_buf(0);
}

/* The monitor's exit status, or -1 if it is still running after WAIT_MS. */
static int
wait_monitor(void)
{
	int i, st;

	for (i = 0; i < WAIT_MS / 10; i++) {
		if (waitpid(mon, &st, WNOHANG) == mon)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		usleep(10000);
	}
	kill(mon, SIGKILL);
	waitpid(mon, &st, 0);
	return -1;
}

static void
put(const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		perror("write to monitor");
}

static void
send_hdr(uint32_t type, uint32_t len, uint64_t id)
{
	struct mon_hdr h = { type, len, id };

	put(&h, sizeof(h));
}

static void
send_shutdown(void)
{
	struct mon_shutdown m = { 0, 0 };

	send_hdr(MON_SHUTDOWN, sizeof(m), 0);
	put(&m, sizeof(m));
}

/* MON_SPAWN: STRS is user, cwd, argv words, then env words; the owner
 * ("test") goes after cwd. */
static void
spawn_as(uint64_t id, uint32_t flags, uint32_t uid, uint32_t umask_,
    uint32_t stop_ms, uint32_t argc, uint32_t envc, const char **strs)
{
	static char body[65536];
	struct mon_spawn s = { .uid = uid, .gid = uid, .umask = umask_,
	    .flags = flags, .argc = argc, .envc = envc, .stop_ms = stop_ms };
	size_t i, n = sizeof(s), l;

	memcpy(body, &s, sizeof(s));
	for (i = 0; i < 2 + argc + envc; i++) {
		l = strlen(strs[i]) + 1;
		memcpy(body + n, strs[i], l);
		n += l;
		if (i == 1) {
			memcpy(body + n, "test", 5);
			n += 5;
		}
	}
	send_hdr(MON_SPAWN, (uint32_t)n, id);
	put(body, n);
}

/* Spawn ARGV (NULL-terminated) as ourselves in cwd "/", umask 022. */
static void
spawn(uint64_t id, const char *argv0, ...)
{
	const char *strs[16] = { "", "/", argv0 };
	uint32_t argc = 1;
	va_list ap;

	va_start(ap, argv0);
	while (argc < 12 && (strs[2 + argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	spawn_as(id, 0, 0, 022, 1000, argc, 0, strs);
}

static void
send_signal(uint64_t id, int signo, uint32_t flags)
{
	struct mon_signal s = { signo, flags };

	send_hdr(MON_SIGNAL, sizeof(s), id);
	put(&s, sizeof(s));
}

/* Read one message within MS; 0, or -1 on timeout or EOF. */
static int
read_msg(struct msg *m, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t got = 0, want = sizeof(m->h);
	ssize_t n;

	while (got < want) {
		if (poll(&pfd, 1, ms) != 1 ||
		    (n = read(fd, (char *)m + got, want - got)) <= 0)
			return -1;
		got += n;
		if (got == sizeof(m->h)) {
			if (m->h.len > sizeof(m->u))
				return -1;
			want += m->h.len;
		}
	}
	return 0;
}

/* The next message of TYPE for ID, whatever came between; 0 or -1. */
static int
expect(uint32_t type, uint64_t id, struct msg *out, int ms)
{
	size_t i;

	for (;;) {
		for (i = 0; i < nqueue; i++)
			if (queue[i].h.type == type && queue[i].h.id == id) {
				*out = queue[i];
				queue[i] = queue[--nqueue];
				return 0;
			}
		if (nqueue == sizeof(queue) / sizeof(queue[0]) ||
		    read_msg(&queue[nqueue], ms) == -1)
			return -1;
		nqueue++;
	}
}

/* The start of every server: MON_HELLO, answered with MON_READY (no
 * process to adopt: the test's monitor has no state file). */
static void
hello(void)
{
	struct msg m;

	send_hdr(MON_HELLO, 0, 0);
	CHECK(expect(MON_READY, 0, &m, WAIT_MS) == 0 &&
	    m.h.len == sizeof(struct mon_ready), "no MON_READY");
}

/* MON_STARTED's pid, or -errno, or INT_MIN if none came. */
static int
started(uint64_t id)
{
	struct msg m;

	if (expect(MON_STARTED, id, &m, WAIT_MS) == -1)
		return INT_MIN;
	CHECK(m.h.len == sizeof(struct mon_started), "STARTED length %u",
	    m.h.len);
	if (m.u.s.error != 0) {
		CHECK(m.u.s.pid == 0, "failed start with pid %d", m.u.s.pid);
		return -m.u.s.error;
	}
	if (cgdir[0] != '\0')
		CHECK(m.u.s.contained == 1, "id %llu not contained",
		    (unsigned long long)id);
	return m.u.s.pid;
}

static int
exited(uint64_t id, struct mon_exited *e)
{
	struct msg m;

	if (expect(MON_EXITED, id, &m, WAIT_MS) == -1)
		return -1;
	*e = m.u.e;
	return 0;
}

/* Start, and wait for the exit; the exit record, or code -99. */
static struct mon_exited
run(uint64_t id)
{
	struct mon_exited e = { 0, -99, 0, 0, 0, 0 };
	int pid = started(id);

	CHECK(pid > 0, "id %llu did not start: %d", (unsigned long long)id,
	    pid);
	if (pid > 0) {
		CHECK(exited(id, &e) == 0, "id %llu: no EXITED",
		    (unsigned long long)id);
		CHECK(e.pid == pid, "EXITED pid %d, started %d", e.pid, pid);
	}
	return e;
}

static int
file_has(const char *path, const char *line)
{
	char buf[8192];
	FILE *f;
	int found = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (!found && fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		found = strcmp(buf, line) == 0 ||
		    (line[strlen(line) - 1] == '=' &&
		    strncmp(buf, line, strlen(line)) == 0);
	}
	fclose(f);
	return found;
}

static int
alive(const char *pattern)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "pgrep -f '^%s$' >/dev/null", pattern);
	return system(cmd) == 0;
}

/* Whether PATTERN's processes are gone (a killed one may linger an
 * instant before it is reaped; 10 s bounds a failure on a loaded
 * machine, it is not waited for otherwise). */
static int
gone(const char *pattern)
{
	int i;

	for (i = 0; i < 1000 && alive(pattern); i++)
		usleep(10000);
	return !alive(pattern);
}

/* Where the monitor puts its cgroups, as it finds them: the cgroup2
 * mount plus our cgroup (the monitor's, as it has not moved). */
static void
find_cgdir(void)
{
	char line[4096], mnt[PATH_MAX] = "", own[PATH_MAX] = "";
	struct stat st;
	unsigned long long start = 0;
	char *p;
	FILE *f;

	if ((f = fopen("/proc/self/mountinfo", "r")) != NULL) {
		while (!mnt[0] && fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, " - cgroup2 ") != NULL)
				sscanf(line, "%*s %*s %*s %*s %4095s", mnt);
		fclose(f);
	}
	if ((f = fopen("/proc/self/cgroup", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "0::", 3) == 0)
				sscanf(line + 3, "%4095s", own);
		fclose(f);
	}
	/* procctl-<pid>-<start time>: the monitor's start time is field
	 * 22 of its stat. */
	snprintf(line, sizeof(line), "/proc/%d/stat", (int)mon);
	if ((f = fopen(line, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL &&
		    (p = strrchr(line, ')')) != NULL)
			sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			    "%*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &start);
		fclose(f);
	}
	snprintf(cgdir, sizeof(cgdir), "%s%s/procctl-%d-%llu", mnt,
	    strcmp(own, "/") ? own : "", (int)mon, start);
	if (!mnt[0] || !own[0] || stat(cgdir, &st) == -1)
		cgdir[0] = '\0';
}

static int
cg_write(uint64_t id, const char *file, const char *val)
{
	char path[sizeof(cgdir) + 64];
	int f, ok;

	snprintf(path, sizeof(path), "%s/p%llu/%s", cgdir,
	    (unsigned long long)id, file);
	if ((f = open(path, O_WRONLY)) == -1)
		return -1;
	ok = write(f, val, strlen(val)) == (ssize_t)strlen(val);
	close(f);
	return ok ? 0 : -1;
}

static int
cg_exists(uint64_t id)
{
	char path[sizeof(cgdir) + 64];
	struct stat st;

	snprintf(path, sizeof(path), "%s/p%llu", cgdir,
	    (unsigned long long)id);
	return stat(path, &st) == 0;
}

/* ---- the cases ---- */

static void
test_exec_results(void)
{
	struct mon_exited e;

	spawn(1, "/bin/true", NULL);
	e = run(1);
	CHECK(e.code == 0 && e.signo == 0, "true: code %d signal %d", e.code,
	    e.signo);
	CHECK(!cgdir[0] || !cg_exists(1), "p1 left behind");
	spawn(2, "no-such-program-anywhere", NULL);
	CHECK(started(2) == -ENOENT, "missing program: not ENOENT");
	spawn(3, "/", NULL);
	CHECK(started(3) == -EISDIR, "run /: not EISDIR");
	spawn(4, "sh", "-c", "exit 3", NULL);	/* found in the clean PATH */
	e = run(4);
	CHECK(e.code == 3 && e.signo == 0, "exit 3: code %d", e.code);
	spawn(5, "sh", "-c", "kill -SEGV $$", NULL);
	e = run(5);
	CHECK(e.code == -1 && e.signo == SIGSEGV, "SEGV: code %d signal %d",
	    e.code, e.signo);
	spawn(1, "/bin/true", NULL);	/* ids are reusable once gone */
	e = run(1);
	CHECK(e.code == 0, "id 1 again: code %d", e.code);
}

static void
test_signals(void)
{
	struct mon_exited e = { 0, 0, 0, 0, 0, 0 };
	int pid;

	spawn(10, "sleep", "100", NULL);
	CHECK((pid = started(10)) > 0, "sleep 100: %d", pid);
	send_signal(10, SIGTERM, 0);
	CHECK(exited(10, &e) == 0 && e.signo == SIGTERM && e.code == -1,
	    "SIGTERM: code %d signal %d", e.code, e.signo);

	/* A tree: the signal reaches the background child too. */
	spawn(11, "sh", "-c", "sleep 311 & exec sleep 312", NULL);
	CHECK((pid = started(11)) > 0, "tree: %d", pid);
	usleep(200000);
	CHECK(alive("sleep 311"), "the background sleep never ran");
	send_signal(11, MON_SIGNAL_KILL_TREE, MON_SIGNAL_KILL_TREE);
	CHECK(exited(11, &e) == 0 && e.signo == SIGKILL,
	    "KILL_TREE: signal %d", e.signo);
	CHECK(gone("sleep 311"), "sleep 311 survived KILL_TREE");

	spawn(12, "sh", "-c", "sleep 313 & exec sleep 314", NULL);
	CHECK(started(12) > 0, "tree 2 did not start");
	usleep(200000);
	send_signal(12, SIGTERM, MON_SIGNAL_TREE);
	CHECK(exited(12, &e) == 0 && e.signo == SIGTERM,
	    "TREE SIGTERM: signal %d", e.signo);
	CHECK(gone("sleep 313"), "sleep 313 survived the tree SIGTERM");

	/* Grandchildren left behind, one in a session of its own: they
	 * end with the tree, and EXITED still says "exit 0".  Without
	 * cgroups only the one still in the process group does. */
	spawn(13, "sh", "-c", "(sleep 315 &); setsid sleep 316 & exit 0",
	    NULL);
	e = run(13);
	CHECK(e.code == 0, "orphaning tree: code %d", e.code);
	CHECK(gone("sleep 315"), "sleep 315 escaped");
	if (cgdir[0])
		CHECK(!alive("sleep 316"), "setsid sleep 316 escaped");
	system("pkill -f '^sleep 31[1-6]$'");
}

static void
test_clean_start(void)
{
	const char *env[] = { "", SCRATCH "/d", "sh", "-c",
	    "env > " SCRATCH "/env; pwd > " SCRATCH "/cwd; umask >> "
	    SCRATCH "/cwd; ls /proc/self/fd > " SCRATCH "/fds",
	    "FOO=bar", "HOME=/elsewhere" };
	FILE *f;
	int n, extra = 0, ok = 1;

	spawn_as(20, 0, 0, 027, 1000, 3, 2, env);
	CHECK(run(20).code == 0, "clean start script failed");
	CHECK(file_has(SCRATCH "/env", "FOO=bar"), "FOO=bar missing");
	CHECK(file_has(SCRATCH "/env", "HOME=/elsewhere"), "HOME not "
	    "overridden");
	CHECK(file_has(SCRATCH "/env", geteuid() == 0 ?
	    "PATH=/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin" :
	    "PATH=/usr/local/bin:/usr/bin:/bin"), "the clean PATH missing");
	CHECK(file_has(SCRATCH "/env", "USER=") &&
	    file_has(SCRATCH "/env", "LOGNAME=") &&
	    file_has(SCRATCH "/env", "SHELL="), "USER/LOGNAME/SHELL missing");
	CHECK(!file_has(SCRATCH "/env", "PROCCTL_TEST_SECRET="),
	    "the monitor's environment leaked");
	CHECK(file_has(SCRATCH "/cwd", SCRATCH "/d"), "cwd not set");
	CHECK(file_has(SCRATCH "/cwd", "0027"), "umask not set");
	if ((f = fopen(SCRATCH "/fds", "r")) != NULL) {
		while (fscanf(f, "%d", &n) == 1)
			if (n > 2)
				extra++;
		fclose(f);
	} else
		ok = 0;
	/* ls's own directory fd is the one allowed above 2. */
	CHECK(ok && extra <= 1, "fds above 2 inherited: %d", extra);

	/* A string that is not K=V: the spawn fails, nothing else. */
	spawn_as(21, 0, 0, 022, 1000, 1, 3, (const char *[]){ "", "/",
	    "/bin/true", "A=1", "B=2", "NOEQUALS" });
	CHECK(started(21) == -EINVAL, "env without '=': not EINVAL");
}

/* As nobody: its ids and groups, a home it lacks (so "/"), and a cwd it
 * may not enter refused with that errno. */
static void
test_ids(void)
{
	struct passwd *pw = getpwnam("nobody");
	char script[256], want[64];

	if (pw == NULL || geteuid() != 0) {
		printf("test_monitor: not root or no nobody: ids skipped\n");
		return;
	}
	snprintf(script, sizeof(script), "id -u > %s/pub/id; pwd >> %s/pub/id;"
	    " echo $HOME >> %s/pub/id; id -G | tr ' ' '\\n' > %s/pub/groups",
	    SCRATCH, SCRATCH, SCRATCH, SCRATCH);
	spawn_as(30, 0, pw->pw_uid, 022, 1000, 3, 0,
	    (const char *[]){ "nobody", "", "sh", "-c", script });
	CHECK(run(30).code == 0, "as nobody: failed");
	snprintf(want, sizeof(want), "%u", (unsigned)pw->pw_uid);
	CHECK(file_has(SCRATCH "/pub/id", want), "not uid %s", want);
	CHECK(file_has(SCRATCH "/pub/groups", want), "groups not nobody's");
	CHECK(!file_has(SCRATCH "/pub/groups", "0"), "kept group 0");
	CHECK(file_has(SCRATCH "/pub/id", "/"), "cwd not / without a home");
	CHECK(file_has(SCRATCH "/pub/id", pw->pw_dir), "HOME not nobody's");
	spawn_as(31, 0, pw->pw_uid, 022, 1000, 1, 0,
	    (const char *[]){ "nobody", SCRATCH "/d", "/bin/true" });
	CHECK(started(31) == -EACCES, "a 0700 cwd entered as nobody");
}

/* Children stuck before exec hold up no one: one frozen in its cgroup
 * from birth, and one SIGSTOPped as soon as it appears (before or after
 * exec, as the race falls). */
static void
test_stuck_before_exec(void)
{
	char path[sizeof(cgdir) + 64], kids[256];
	struct mon_exited e;
	struct msg m;
	FILE *f;
	int pid = 0, i;

	if (cgdir[0]) {
		snprintf(path, sizeof(path), "%s/p40", cgdir);
		CHECK(mkdir(path, 0755) == 0 && cg_write(40, "cgroup.freeze",
		    "1") == 0, "cannot freeze p40");
		spawn(40, "sleep", "100", NULL);
		spawn(41, "/bin/true", NULL);
		CHECK(run(41).code == 0, "a frozen child held up the next");
		CHECK(expect(MON_STARTED, 40, &m, 300) == -1,
		    "a frozen child has exec'd");
		cg_write(40, "cgroup.freeze", "0");
		CHECK(started(40) > 0, "the thawed child did not start");
		send_signal(40, SIGKILL, 0);
		CHECK(exited(40, &e) == 0 && e.signo == SIGKILL, "p40 end");
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)mon,
	    (int)mon);
	spawn(42, "sleep", "100", NULL);
	/* The child, once it has its own session: until then the pid may
	 * be the monitor's trampoline (spawn.c), which is the monitor's
	 * own and only a moment there. */
	for (i = 0; i < 100000 && pid == 0; i++)
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(kids, sizeof(kids), f) != NULL &&
			    getsid(atoi(kids)) == atoi(kids))
				pid = atoi(kids);
			fclose(f);
		}
	if (pid > 0)
		kill(pid, SIGSTOP);
	spawn(43, "/bin/true", NULL);
	CHECK(run(43).code == 0, "a stopped child held up the next");
	if (pid > 0)
		kill(pid, SIGCONT);
	CHECK(started(42) > 0, "the stopped child did not start");
	send_signal(42, SIGKILL, 0);
	CHECK(exited(42, &e) == 0, "p42 did not end");
}

/* MON_SHUTDOWN: SIGTERM, then SIGKILL for one that ignores it, EXITED
 * for both, the cgroup removed, exit 0. */
static void
test_shutdown(void)
{
	struct mon_exited e = { 0, 0, 0, 0, 0, 0 };
	struct stat st;
	char c;

	spawn(50, "sleep", "100", NULL);
	spawn_as(51, 0, 0, 022, 300, 3, 0, (const char *[]){ "", "/", "sh",
	    "-c", "trap '' TERM; sleep 317; exit 0" });
	CHECK(started(50) > 0 && started(51) > 0, "shutdown: no start");
	usleep(100000);
	send_shutdown();
	CHECK(exited(50, &e) == 0 && e.signo == SIGTERM, "50: signal %d",
	    e.signo);
	CHECK(exited(51, &e) == 0 && e.signo == SIGKILL, "51: signal %d",
	    e.signo);
	CHECK(gone("sleep 317"), "sleep 317 outlived the shutdown");
	CHECK(read(fd, &c, 1) == 0, "no EOF after shutdown");
	CHECK(wait_monitor() == 0, "monitor exit status");
	CHECK(!cgdir[0] || stat(cgdir, &st) == -1, "%s left behind", cgdir);
	close(fd);
}

/*
 * Regression: the monitor wrote to the server blocking, so a server that
 * did not read (stopped, or itself blocked writing to the monitor)
 * froze reaping.  With small socket buffers, many processes end while we
 * do not read: they must all be reaped, and every message still comes.
 */
static void
test_server_not_reading(void)
{
	struct msg m;
	int small = 4096, i, zombies, ok, nstart, nexit;
	char path[64], st[512], *p;
	FILE *f;
	pid_t kid;

	start_monitor_buf(small);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (i = 0; i < 300; i++)
		spawn(1000 + i, "/bin/true", NULL);
	/* Not reading: wait until no child of the monitor is a zombie or
	 * alive (the 300 have all been reaped). */
	for (i = 0; i < WAIT_MS / 10; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
		    (int)mon, (int)mon);
		zombies = 0;
		if ((f = fopen(path, "r")) != NULL) {
			while (fscanf(f, "%d", &kid) == 1)
				zombies++;
			fclose(f);
		}
		if (zombies == 0)
			break;
		usleep(10000);
	}
	CHECK(zombies == 0, "not reading: %d children not reaped", zombies);
	/* The monitor is not stuck in a write: it is sleeping in poll. */
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)mon);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(st, sizeof(st), f) != NULL) {
			p = strstr(st, "sock");
			CHECK(p == NULL, "monitor blocked in %s", st);
		}
		fclose(f);
	}
	/* Every STARTED and EXITED, in whatever order. */
	for (i = 0, nstart = nexit = 0; i < 600; i++) {
		if (read_msg(&m, WAIT_MS) == -1)
			break;
		nstart += m.h.type == MON_STARTED && m.u.s.error == 0;
		nexit += m.h.type == MON_EXITED && m.u.e.code == 0;
	}
	ok = nstart == 300 && nexit == 300;
	CHECK(ok, "not reading: %d STARTED, %d EXITED of 300", nstart, nexit);
	send_shutdown();
	CHECK(wait_monitor() == 0, "not reading: exit status");
	close(fd);
}

/*
 * Regression: when the server stopped reading first (it was shutting
 * down), the monitor's write of an EXITED failed and it then took the
 * server's remaining messages (a MON_SIGNAL, MON_SHUTDOWN) for a protocol
 * breach, killed it and started another.  They must still be heard.
 */
static void
test_server_stops_reading_first(void)
{
	char log[sizeof(SCRATCH) + 16], line[512];
	int found = 0;
	FILE *f;

	snprintf(log, sizeof(log), "%s/mon.log", SCRATCH);
	mon_stderr = log;
	start_monitor();
	mon_stderr = NULL;
	spawn(70, "sleep", "4711.25", NULL);	/* a name no one else runs */
	spawn(71, "/bin/true", NULL);
	CHECK(started(70) > 0, "70 did not start");
	shutdown(fd, SHUT_RD);	/* the monitor's writes now fail (EPIPE) */
	send_signal(70, SIGKILL, 0);
	send_shutdown();
	CHECK(wait_monitor() == 0, "stops-reading: exit status");
	CHECK(gone("sleep 4711.25"), "stops-reading: the process outlived it");
	if ((f = fopen(log, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			found |= strstr(line, "malformed") != NULL;
		fclose(f);
	}
	CHECK(!found, "stops-reading: a message was taken as malformed");
	close(fd);
}

/* A malformed message ends the monitor, running processes first. */
static void
test_malformed(int how)
{
	struct mon_spawn s = { .umask = 022, .argc = 2, .stop_ms = 100 };
	struct mon_exited e;
	char c;

	start_monitor();
	spawn(60, "sleep", "100", NULL);
	CHECK(started(60) > 0, "malformed %d: no start", how);
	if (how == 0)
		send_hdr(MON_SPAWN, MON_MAX_PAYLOAD + 1, 61);
	else if (how == 1) {	/* argc 2, one word */
		send_hdr(MON_SPAWN, sizeof(s) + 8, 61);
		put(&s, sizeof(s));
		put("\0/\0true\0\0", 8);	/* owner "true", no argv */
	} else if (how == 2) {	/* a payload where none belongs */
		send_hdr(MON_SHUTDOWN, 4, 61);
		put("xxxx", 4);
	} else if (how == 3 || how == 4) {	/* fd:N over stdout; a kind
						 * that does not exist */
		s.argc = 1;	/* well formed but for this */
		s.ready = how == 3 ? MON_RDY_FD : 7;
		s.ready_fd = 1;
		send_hdr(MON_SPAWN, sizeof(s) + 15, 61);
		put(&s, sizeof(s));
		put("\0/\0t\0/bin/true\0", 15);
	} else if (how == 6) {	/* a client count of the wrong size */
		send_hdr(MON_CLIENTS, 2, 0);
		put("\1\0", 2);
	} else if (how == 7) {	/* MON_RELOADED takes no payload */
		send_hdr(MON_RELOADED, 4, 0);
		put("xxxx", 4);
	} else
		send_hdr(77, 0, 61);
	CHECK(exited(60, &e) == 0, "malformed %d: no EXITED", how);
	CHECK(read(fd, &c, 1) == 0, "malformed %d: no EOF", how);
	CHECK(wait_monitor() == 0, "malformed %d: exit status", how);
	close(fd);
}

int
main(void)
{
	int i;

	setvbuf(stdout, NULL, _IONBF, 0);
	/* One run at a time on a machine: the scratch directory and the
	 * processes the checks look for (`sleep 31x`) are machine-wide, and
	 * two suites may run side by side. */
	if ((i = open(SCRATCH ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600))
	    == -1 || flock(i, LOCK_EX) == -1) {
		perror(SCRATCH ".lock");
		return 1;
	}
	system("rm -rf " SCRATCH);
	if (mkdir(SCRATCH, 0755) == -1 || mkdir(SCRATCH "/d", 0700) == -1 ||
	    mkdir(SCRATCH "/pub", 01777) == -1 ||
	    chmod(SCRATCH "/pub", 01777) == -1) {
		perror(SCRATCH);
		return 1;
	}
	/* What the monitor has and must not pass on. */
	setenv("PROCCTL_TEST_SECRET", "x", 1);
	if (open("/dev/null", O_RDONLY) == -1)	/* fd 3 or so, inheritable */
		return 1;
	signal(SIGTERM, SIG_IGN);	/* the monitor forwards its own here */
	start_monitor();
	usleep(100000);
	find_cgdir();
	printf("test_monitor: cgroups %s\n", cgdir[0] ? cgdir : "off");
	test_exec_results();
	test_signals();
	test_clean_start();
	test_ids();
	test_stuck_before_exec();
	test_shutdown();
	test_server_not_reading();
	test_server_stops_reading_first();
	for (i = 0; i < 8; i++)
		test_malformed(i);
	system("rm -rf " SCRATCH);
	return check_report("test_monitor");
}
