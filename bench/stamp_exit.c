/*
 * The short-lived process whose exit the exit -> event figure times: it
 * writes CLOCK_MONOTONIC (a struct timespec) to FILE and exits at once.
 * The clock is system-wide, so whoever hears of the exit subtracts this.
 *
 * usage: stamp_exit FILE
 */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec ts;
	int fd;

	if (argc != 2 || (fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644)) == -1)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (write(fd, &ts, sizeof(ts)) != (ssize_t)sizeof(ts))
		return 1;
	_exit(0);
}
