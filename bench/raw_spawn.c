/*
 * The machine's raw limit for starting and reaping processes: fork, exec
 * PROGRAM, wait, COUNT times.  procctld's `run` rate is reported as a
 * ratio to this.
 *
 * usage: raw_spawn COUNT PROGRAM  (prints seconds taken)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec a, b;
	long i, count;
	pid_t pid;

	if (argc != 3)
		return 2;
	count = atol(argv[1]);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < count; i++) {
		if ((pid = fork()) == 0) {
			execl(argv[2], argv[2], (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.6f\n", (double)(b.tv_sec - a.tv_sec) +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
