/*
 * What a Prometheus scrape of [metrics] listen costs: the scrape itself,
 * and the other clients, whose requests wait while the server's single
 * loop writes the page.
 *
 *   scrape time COUNT PORT[,PORT...]
 *     COUNT times, one GET /metrics of each port (127.0.0.1) in turn,
 *     timed from the connect (when the last response said "Connection:
 *     close") or the request to the last byte of the body, so every
 *     daemon is timed under the same load from the rest of the machine.
 *     20 untimed first.
 *   scrape many COUNT CONC PORT
 *     COUNT scrapes in all from CONC processes, as fast as they are
 *     answered.
 *   scrape fair SOCKET PORT SCRAPERS ROUNDS PROBES GAP_US
 *     another client's `add 1 2` round trip on SOCKET, a probe every
 *     GAP_US (the next waits for the reply), PROBES with no scrape going
 *     on and PROBES while SCRAPERS processes scrape PORT in a tight loop,
 *     alternating which comes first, ROUNDS times.  The scrapers keep
 *     their connections when the server does (as Prometheus would) and
 *     wait between rounds.
 *
 * prints: time: "scrape<i> n p50 p90 p99 max mean" (microseconds) and
 * "bytes<i> N" (the page) per port; many: "seconds S"; fair: "quiet<r>
 * ..." and "busy<r> ..." per round, "scrapes N" (during the busy
 * probes) and "busy_seconds S".
 */
#include <sys/mman.h>
#include <sys/wait.h>
#include <signal.h>

#include "benchlib.h"

#define MAXPORTS	8
#define BUFCAP		(8 << 20)
#define WARM		20

static char *buf;

/* What the scrapers of `fair` share with the prober. */
struct shared {
	volatile int	stop;		/* the busy phase is over */
	long		scrapes;	/* done while busy (atomic) */
};

/* The prober's side of them. */
struct scrapers {
	struct shared	*sh;
	int		 n;
	int		 go, done;	/* pipes' ends */
};

static int
scrape_time(long count, char *ports)
{
	double *v[MAXPORTS], t0;
	size_t bytes[MAXPORTS];
	int fd[MAXPORTS], port[MAXPORTS], n = 0, k;
	char *p;
	long i;

	for (p = strtok(ports, ","); p != NULL && n < MAXPORTS;
	    p = strtok(NULL, ",")) {
		port[n] = atoi(p);
		fd[n++] = -1;
	}
	for (i = 0; i < WARM; i++)
		for (k = 0; k < n; k++)
			http_scrape(&fd[k], port[k], buf, BUFCAP);
	for (k = 0; k < n; k++)
		if ((v[k] = calloc((size_t)count, sizeof(*v[k]))) == NULL)
			die("calloc");
	for (i = 0; i < count; i++)
		for (k = 0; k < n; k++) {
			t0 = now_us();
			bytes[k] = http_scrape(&fd[k], port[k], buf, BUFCAP);
			v[k][i] = now_us() - t0;
		}
	for (k = 0; k < n; k++) {
		char label[16];

		snprintf(label, sizeof(label), "scrape%d", k);
		print_stats(label, v[k], (size_t)count);
		printf("bytes%d %zu\n", k, bytes[k]);
	}
	return 0;
}

static int
scrape_many(long count, int conc, int port)
{
	double t0;
	pid_t pid;
	int i, st, bad = 0;
	long j;

	t0 = now_us();
	for (i = 0; i < conc; i++) {
		if ((pid = fork()) == -1)
			die("fork");
		if (pid == 0) {
			int fd = -1;

			for (j = i; j < count; j += conc)
				http_scrape(&fd, port, buf, BUFCAP);
			_exit(0);
		}
	}
	while (wait(&st) != -1)
		bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	if (bad)
		return 1;
	printf("seconds %.6f\n", (now_us() - t0) / 1e6);
	return 0;
}

/*
 * A scraper of `fair`: connected once; each byte read from `go` starts a
 * busy phase (said on `done`), scraping until sh->stop, then one more
 * byte to `done`.  EOF on `go`: exit.
 */
static void
scraper(int port, int go, int done, struct shared *sh)
{
	int fd = -1;
	char c;

	http_scrape(&fd, port, buf, BUFCAP);	/* answered */
	write_all(done, "r", 1);
	while (read(go, &c, 1) == 1) {
		write_all(done, "b", 1);
		while (!sh->stop) {
			http_scrape(&fd, port, buf, BUFCAP);
			__atomic_add_fetch(&sh->scrapes, 1, __ATOMIC_RELAXED);
		}
		write_all(done, "s", 1);
	}
	_exit(0);
}

/* PROBES probes GAP_US apart on fd into v. */
static void
probes(int fd, double *v, long n, double gap)
{
	double t0;
	long i;

	for (i = 0; i < n; i++) {
		t0 = now_us();
		v[i] = probe_once(fd);
		pause_until(NULL, t0 + gap);
	}
}

/* Until each of n scrapers has written its byte to done. */
static void
wait_scrapers(int done, int n)
{
	char c;

	while (n-- > 0)
		if (read(done, &c, 1) != 1)
			die("scrape: a scraper ended");
}

/* One phase of `fair`, its probes printed as LABEL<r>; busy: while the
 * scrapers scrape (its seconds added to *busy). */
static void
phase(int fd, double *v, long n, double gap, const char *label, long r,
    struct scrapers *sc, double *busy)
{
	char name[32];
	double t0;
	int i;

	if (sc != NULL) {
		sc->sh->stop = 0;
		for (i = 0; i < sc->n; i++)
			write_all(sc->go, "g", 1);
		wait_scrapers(sc->done, sc->n);	/* all scraping */
	}
	t0 = now_us();
	probes(fd, v, n, gap);
	if (sc != NULL) {
		*busy += now_us() - t0;
		sc->sh->stop = 1;
		wait_scrapers(sc->done, sc->n);
	}
	snprintf(name, sizeof(name), "%s%ld", label, r);
	print_stats(name, v, (size_t)n);
}

static int
scrape_fair(const char *sock, int port, int nscr, long rounds, long n,
    double gap)
{
	struct scrapers sc;
	double *v, busy = 0;
	int go[2], done[2], fd, i, st, bad = 0;
	long r;
	pid_t pid;

	if ((sc.sh = mmap(NULL, sizeof(*sc.sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		die("mmap");
	if ((v = calloc((size_t)n, sizeof(*v))) == NULL)
		die("calloc");
	if (pipe(go) == -1 || pipe(done) == -1)
		die("pipe");
	for (i = 0; i < nscr; i++) {
		if ((pid = fork()) == -1)
			die("fork");
		if (pid == 0) {
			close(go[1]);
			close(done[0]);
			scraper(port, go[0], done[1], sc.sh);
		}
	}
	close(go[0]);
	close(done[1]);
	sc.n = nscr;
	sc.go = go[1];
	sc.done = done[0];
	wait_scrapers(sc.done, nscr);	/* each connected and answered */
	fd = unix_connect(sock);
	for (i = 0; i < 100; i++)	/* warm, and check the reply */
		probe_once(fd);
	for (r = 0; r < rounds; r++) {
		if (r % 2 == 0)
			phase(fd, v, n, gap, "quiet", r, NULL, NULL);
		phase(fd, v, n, gap, "busy", r, &sc, &busy);
		if (r % 2 == 1)
			phase(fd, v, n, gap, "quiet", r, NULL, NULL);
	}
	close(sc.go);
	while (wait(&st) != -1)
		bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	printf("scrapes %ld\nbusy_seconds %.6f\n", sc.sh->scrapes,
	    busy / 1e6);
	return bad != 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if ((buf = malloc(BUFCAP)) == NULL)
		die("malloc");
	if (argc == 4 && strcmp(argv[1], "time") == 0)
		return scrape_time(atol(argv[2]), argv[3]);
	if (argc == 5 && strcmp(argv[1], "many") == 0)
		return scrape_many(atol(argv[2]), atoi(argv[3]),
		    atoi(argv[4]));
	if (argc == 8 && strcmp(argv[1], "fair") == 0)
		return scrape_fair(argv[2], atoi(argv[3]), atoi(argv[4]),
		    atol(argv[5]), atol(argv[6]), atof(argv[7]));
	fprintf(stderr, "usage: scrape time COUNT PORT[,PORT...] | many COUNT "
	    "CONC PORT | fair SOCKET PORT SCRAPERS ROUNDS PROBES GAP_US\n");
	return 2;
}
