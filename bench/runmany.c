/*
 * A whole process, many times: posix_spawn PROGRAM ARG..., wait, COUNT
 * times, its standard output to /dev/null, timing each.  Given a second
 * command after "::" it alternates between the two, so both are timed
 * under the same load from the rest of the machine.  Every run must exit
 * 0.  Used for the one-shot CLI against min_client.
 *
 * usage: runmany COUNT PROGRAM ARG... [:: PROGRAM ARG...]
 * prints: "proc0 n p50 p90 p99 max mean" (microseconds), and "proc1 ..."
 */
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "benchlib.h"

extern char **environ;

static double
once(posix_spawn_file_actions_t *fa, char **cmd)
{
	double t0 = now_us();
	pid_t pid;
	int st;

	if (posix_spawn(&pid, cmd[0], fa, NULL, cmd, environ) != 0)
		die("posix_spawn");
	if (waitpid(pid, &st, 0) == -1)
		die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "runmany: %s failed (status %d)\n", cmd[0], st);
		exit(1);
	}
	return now_us() - t0;
}

int
main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	char **cmd[2] = { argv + 2, NULL };
	double *v[2];
	long count, i;
	int n = 1, k;

	if (argc < 3)
		return 2;
	count = atol(argv[1]);
	for (k = 2; k < argc; k++)
		if (strcmp(argv[k], "::") == 0) {
			argv[k] = NULL;
			cmd[1] = argv + k + 1;
			n = 2;
			break;
		}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	for (k = 0; k < n; k++)
		if ((v[k] = calloc((size_t)count, sizeof(*v[k]))) == NULL)
			die("calloc");
	for (i = -10; i < count; i++)	/* 10 untimed: warm the caches */
		for (k = 0; k < n; k++) {
			double t = once(&fa, cmd[k]);

			if (i >= 0)
				v[k][i] = t;
		}
	print_stats("proc0", v[0], (size_t)count);
	if (n == 2)
		print_stats("proc1", v[1], (size_t)count);
	return 0;
}
