/*
 * One request in flight: send ARG... as a RESP array, wait for the whole
 * reply, COUNT times, timing each round trip.  Given two sockets (A,B) it
 * alternates, one request to A, then one to B, so both servers are timed
 * under the same load from the rest of the machine: the same client
 * measures procctld (A) and the raw baseline (B, raw_server answering one
 * line per LINES newlines), and the ratio is the servers' difference.
 *
 * usage: rtt [-e EXPECT] [-w WARMUP] SOCKET[,SOCKET] COUNT ARG...
 *   -e EXPECT  the first reply from the first socket must be exactly this
 *              line (e.g. ":3"), or exit 3: an error is never timed
 *   -w WARMUP  untimed round trips first (default 1000)
 * prints: "rtt0 n p50 p90 p99 max mean" (microseconds), and "rtt1 ..."
 */
#include "benchlib.h"

int
main(int argc, char **argv)
{
	static char req[4096], rep[4096];
	const char *expect = NULL;
	long count, warm = 1000, i;
	double *v[2], t0;
	char *comma;
	size_t len;
	int fd[2], nfd = 1, ch, k;

	while ((ch = getopt(argc, argv, "e:w:")) != -1) {
		if (ch == 'e')
			expect = optarg;
		else if (ch == 'w')
			warm = atol(optarg);
		else
			return 2;
	}
	argc -= optind;
	argv += optind;
	if (argc < 3)
		return 2;
	count = atol(argv[1]);
	len = resp_encode(req, sizeof(req), argc - 2, argv + 2);
	if ((comma = strchr(argv[0], ',')) != NULL) {
		*comma = '\0';
		fd[1] = unix_connect(comma + 1);
		nfd = 2;
	}
	fd[0] = unix_connect(argv[0]);
	write_all(fd[0], req, len);
	read_line_reply(fd[0], rep, sizeof(rep));
	if (expect != NULL && strcmp(rep, expect) != 0) {
		fprintf(stderr, "rtt: expected '%s', got '%s'\n", expect, rep);
		return 3;
	}
	for (i = 0; i < warm; i++)
		for (k = 0; k < nfd; k++) {
			write_all(fd[k], req, len);
			read_line_reply(fd[k], rep, sizeof(rep));
		}
	for (k = 0; k < nfd; k++)
		if ((v[k] = calloc((size_t)count, sizeof(*v[k]))) == NULL)
			die("calloc");
	for (i = 0; i < count; i++)
		for (k = 0; k < nfd; k++) {
			t0 = now_us();
			write_all(fd[k], req, len);
			read_line_reply(fd[k], rep, sizeof(rep));
			v[k][i] = now_us() - t0;
		}
	print_stats("rtt0", v[0], (size_t)count);
	if (nfd == 2)
		print_stats("rtt1", v[1], (size_t)count);
	return 0;
}
