/*
 * Exit -> event latency: how long after a process exits the news reaches
 * whoever waits for it.  The process is stamp_exit, which writes the
 * monotonic time just before it exits.
 *
 *   exitev daemon SOCKET[,SOCKET] STAMP FILE COUNT
 *     a subscribed RESP3 connection (HELLO 3, SUBSCRIBE) and another that
 *     sends `run STAMP FILE`, COUNT times one after another; the sample is
 *     the time the `exited` push arrived minus the stamp.  With two
 *     daemons, one run on each in turn, so both are timed under the same
 *     load from the rest of the machine.
 *   exitev raw STAMP FILE COUNT
 *     the machine's floor: posix_spawn STAMP, poll its pidfd; the sample
 *     is the wake-up time minus the stamp.
 *
 * prints: "exit n p50 p90 p99 max mean" (microseconds) for raw; for
 * daemons "exit0 ...", "run0 ..." (from sending `run` to the `exited`
 * push), and "exit1 ...", "run1 ..." for the second.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "benchlib.h"

extern char **environ;

static const char EXITED[] = ">3\r\n$5\r\nevent\r\n$6\r\nexited\r\n";

#define BUFCAP	(1 << 20)

static double
stamp(const char *file)
{
	struct timespec ts;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1 ||
	    read(fd, &ts, sizeof(ts)) != (ssize_t)sizeof(ts)) {
		fprintf(stderr, "exitev: no stamp in %s\n", file);
		exit(1);
	}
	close(fd);
	unlink(file);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Does buf hold `what` after *from?  Then *from moves past it. */
static int
found(char *buf, size_t len, size_t *from, const char *what)
{
	char *p;

	if ((p = memmem(buf + *from, len - *from, what, strlen(what))) == NULL)
		return 0;
	*from = (size_t)(p - buf) + strlen(what);
	return 1;
}

/* One read into buf at *len (keeping a possible partial match). */
static void
read_some(int fd, char *buf, size_t cap, size_t *len, size_t *from)
{
	ssize_t r;

	if (*len == cap) {
		memmove(buf, buf + *len - 64, 64);
		*len = 64;
		*from = 0;
	}
	if ((r = read(fd, buf + *len, cap - *len)) <= 0) {
		fprintf(stderr, "exitev: connection closed\n");
		exit(1);
	}
	*len += (size_t)r;
}

static void
read_until(int fd, char *buf, size_t cap, size_t *len, size_t *from,
    const char *what)
{
	while (!found(buf, *len, from, what))
		read_some(fd, buf, cap, len, from);
}

/* One daemon: its subscribed connection, the one that sends `run`. */
struct target {
	int	 s, r;
	char	*buf;
	size_t	 len, from;
	double	*ex, *rt;
};

static void
target_open(struct target *t, const char *path, long count)
{
	char *hello[2] = { "HELLO", "3" }, *sub[1] = { "SUBSCRIBE" };
	char req[256];
	size_t n;

	t->len = t->from = 0;
	if ((t->buf = malloc(BUFCAP)) == NULL ||
	    (t->ex = calloc((size_t)count, sizeof(*t->ex))) == NULL ||
	    (t->rt = calloc((size_t)count, sizeof(*t->rt))) == NULL)
		die("malloc");
	t->s = unix_connect(path);
	n = resp_encode(req, sizeof(req), 2, hello);
	n += resp_encode(req + n, sizeof(req) - n, 1, sub);
	write_all(t->s, req, n);
	read_until(t->s, t->buf, BUFCAP, &t->len, &t->from, "+OK\r\n");
	t->r = unix_connect(path);
}

/* One `run`; the time its `exited` push arrived (and the reply came). */
static double
one_exit(struct target *t, const char *req, size_t rlen)
{
	struct pollfd pfd[2] = { { .events = POLLIN }, { .events = POLLIN } };
	char rep[256];
	double t1 = 0;
	int got;

	write_all(t->r, req, rlen);
	/* Whichever comes first, the reply or the push: the push is timed
	 * when it arrives, not after the reply was read. */
	for (got = 0; got != 3;) {
		pfd[0].fd = (got & 1) ? -1 : t->r;
		pfd[1].fd = (got & 2) ? -1 : t->s;
		if (poll(pfd, 2, -1) <= 0)
			die("poll");
		if (pfd[1].revents) {
			read_some(t->s, t->buf, BUFCAP, &t->len, &t->from);
			if (found(t->buf, t->len, &t->from, EXITED)) {
				t1 = now_us();
				got |= 2;
			}
		}
		if (pfd[0].revents) {
			read_line_reply(t->r, rep, sizeof(rep));
			if (rep[0] != ':') {
				fprintf(stderr, "exitev: run answered '%s'\n",
				    rep);
				exit(3);
			}
			got |= 1;
		}
	}
	if (t->from > BUFCAP / 2) {
		memmove(t->buf, t->buf + t->from, t->len - t->from);
		t->len -= t->from;
		t->from = 0;
	}
	return t1;
}

/* PATHS: one socket, or two separated by a comma, run alternately. */
static int
daemon_mode(char *paths, char *prog, char *file, long count)
{
	char *run[3] = { "run", prog, file }, req[4096], *comma, label[8];
	struct target t[2];
	double t0, t1;
	size_t rlen;
	int n = 1, k;
	long i;

	if ((comma = strchr(paths, ',')) != NULL) {
		*comma = '\0';
		target_open(&t[1], comma + 1, count);
		n = 2;
	}
	target_open(&t[0], paths, count);
	rlen = resp_encode(req, sizeof(req), 3, run);
	for (i = -20; i < count; i++)	/* 20 untimed first */
		for (k = 0; k < n; k++) {
			t0 = now_us();
			t1 = one_exit(&t[k], req, rlen);
			if (i >= 0) {
				t[k].ex[i] = t1 - stamp(file);
				t[k].rt[i] = t1 - t0;
			} else
				unlink(file);
		}
	for (k = 0; k < n; k++) {
		snprintf(label, sizeof(label), "exit%d", k);
		print_stats(label, t[k].ex, (size_t)count);
		snprintf(label, sizeof(label), "run%d", k);
		print_stats(label, t[k].rt, (size_t)count);
	}
	return 0;
}

static int
raw_mode(char *prog, char *file, long count)
{
	char *args[3] = { prog, file, NULL };
	struct pollfd pfd;
	double *ex, t1;
	int pidfd;
	pid_t pid;
	long i;

	if ((ex = calloc((size_t)count, sizeof(*ex))) == NULL)
		die("calloc");
	for (i = -20; i < count; i++) {
		if (posix_spawn(&pid, prog, NULL, NULL, args, environ) != 0)
			die("posix_spawn");
		if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) == -1)
			die("pidfd_open");
		pfd.fd = pidfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, -1) != 1)
			die("poll");
		t1 = now_us();
		if (waitpid(pid, NULL, 0) == -1)
			die("waitpid");
		close(pidfd);
		if (i >= 0)
			ex[i] = t1 - stamp(file);
		else
			unlink(file);
	}
	print_stats("exit", ex, (size_t)count);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 6 && strcmp(argv[1], "daemon") == 0)
		return daemon_mode(argv[2], argv[3], argv[4], atol(argv[5]));
	if (argc == 5 && strcmp(argv[1], "raw") == 0)
		return raw_mode(argv[2], argv[3], atol(argv[4]));
	return 2;
}
