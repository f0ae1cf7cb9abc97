/*
 * Another client's round trip while one client pipelines a heavy load.
 *
 * Client B sends `add 1 2` one at a time, a probe every GAP microseconds
 * (the next probe waits for the previous reply), and times each round
 * trip: first IDLE probes with nothing else going on (the baseline), then
 * while client A (a child process) writes NRUN `run PROGRAM` requests in
 * one go and reads their NRUN replies.  The loaded probes are the ones B
 * sent between A starting its write and A having every reply.
 *
 * usage: fairness SOCKET NRUN PROGRAM IDLE GAP_US
 * prints: "idle n p50 p90 p99 max mean", "load n p50 p90 p99 max mean"
 *         (microseconds) and "pipeline SECONDS"
 */
#include <signal.h>
#include <sys/wait.h>

#include "benchlib.h"

/* Client A: the pipeline, then every reply; each must be an integer. */
static void
pipeline(int fd, int started, long nrun, const char *prog)
{
	char one[4096], *buf, rd[65536];
	long lines = 0, bad = 0, i;
	size_t len, n;
	ssize_t r;
	char *args[2] = { "run", (char *)prog };
	int at_start = 1;

	len = resp_encode(one, sizeof(one), 2, args);
	if ((buf = malloc(len * (size_t)nrun)) == NULL)
		die("malloc");
	for (i = 0; i < nrun; i++)
		memcpy(buf + (size_t)i * len, one, len);
	write_all(started, "s", 1);
	write_all(fd, buf, len * (size_t)nrun);
	while (lines < nrun) {
		if ((r = read(fd, rd, sizeof(rd))) <= 0) {
			fprintf(stderr, "fairness: A lost its connection\n");
			_exit(1);
		}
		for (n = 0; n < (size_t)r; n++) {
			if (at_start && rd[n] != ':')
				bad++;
			at_start = rd[n] == '\n';
			if (rd[n] == '\n')
				lines++;
		}
	}
	if (bad > 0) {
		fprintf(stderr, "fairness: %ld of %ld runs were refused\n", bad,
		    nrun);
		_exit(3);
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	double *idle, *load, t0, gap, t;
	long nrun, nidle, nload = 0, cap = 1 << 20, i;
	int b, a, sp[2], dp[2], st;
	struct pollfd pfd;
	pid_t pid;
	char c;

	if (argc != 6)
		return 2;
	nrun = atol(argv[2]);
	nidle = atol(argv[4]);
	gap = atof(argv[5]);
	signal(SIGPIPE, SIG_IGN);
	b = unix_connect(argv[1]);
	a = unix_connect(argv[1]);
	for (i = 0; i < 100; i++)	/* warm, and check the reply */
		probe_once(b);
	if ((idle = calloc((size_t)nidle, sizeof(*idle))) == NULL ||
	    (load = calloc((size_t)cap, sizeof(*load))) == NULL)
		die("calloc");
	for (i = 0; i < nidle; i++) {
		t0 = now_us();
		idle[i] = probe_once(b);
		pause_until(NULL, t0 + gap);
	}
	if (pipe(sp) == -1 || pipe(dp) == -1)
		die("pipe");
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		close(sp[0]);
		close(dp[0]);
		pipeline(a, sp[1], nrun, argv[3]);
	}
	close(sp[1]);
	close(dp[1]);	/* dp[0] sees EOF when A exits */
	if (read(sp[0], &c, 1) != 1)
		die("fairness: A did not start");
	t = now_us();
	pfd.fd = dp[0];
	pfd.events = POLLIN;
	while (nload < cap) {
		t0 = now_us();
		load[nload++] = probe_once(b);
		if (pause_until(&pfd, t0 + gap))
			break;
	}
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return 1;
	t = now_us() - t;
	print_stats("idle", idle, (size_t)nidle);
	print_stats("load", load, (size_t)nload);
	printf("pipeline %.6f\n", t / 1e6);
	return 0;
}
