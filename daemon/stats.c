/*
 * The server's counters, for `metrics` and the [metrics] endpoint:
 * clients, bytes, requests per command, AUTH failures, events dropped,
 * and how long the monitor takes to start a process.  Plain integers
 * that the files which see each thing add to, on the loop's thread, so
 * counting costs an increment.  They live as long as this server: a
 * restarted server (a crash, an upgrade) starts them at zero again,
 * which Prometheus takes as a counter reset.
 *
 * Requests are counted per command name, only for commands the table
 * knows (the rest are "unknown"), so a client cannot grow the table by
 * sending made-up names.
 */
#include <stdlib.h>
#include <string.h>

#include "procctld.h"

struct stats stats;

/* Upper bounds of the spawn histogram's buckets, in seconds: from half a
 * millisecond (a spawn on an idle machine) to seconds (a loaded one). */
const double stats_spawn_bounds[STATS_SPAWN_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5,
};

struct req_count {
	char		*name;		/* owned */
	uint64_t	 n;
};

static struct req_count *reqs;		/* sorted by name */
static size_t nreqs, reqs_cap;
static uint64_t unknown_reqs;

/* Where NAME is in REQS, or where it would go (*FOUND 0). */
static size_t
req_find(const char *name, int *found)
{
	size_t lo = 0, hi = nreqs, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(name, reqs[mid].name)) == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void
stats_request(const char *name)
{
	struct req_count *grown;
	size_t at;
	int found;
	char *copy;

	if (name == NULL) {
		unknown_reqs++;
		return;
	}
	at = req_find(name, &found);
	if (found) {
		reqs[at].n++;
		return;
	}
	/* A command's first request: out of memory, it is not counted. */
	if (nreqs == reqs_cap) {
		size_t cap = reqs_cap ? reqs_cap * 2 : 32;

		if ((grown = realloc(reqs, cap * sizeof(*reqs))) == NULL)
			return;
		reqs = grown;
		reqs_cap = cap;
	}
	if ((copy = strdup(name)) == NULL)
		return;
	memmove(reqs + at + 1, reqs + at, (nreqs - at) * sizeof(*reqs));
	reqs[at].name = copy;
	reqs[at].n = 1;
	nreqs++;
}

int
stats_requests(size_t i, const char **name, uint64_t *n)
{
	if (i < nreqs) {
		*name = reqs[i].name;
		*n = reqs[i].n;
		return 0;
	}
	if (i == nreqs) {
		*name = "unknown";
		*n = unknown_reqs;
		return 0;
	}
	return -1;
}

void
stats_spawn(uint64_t us)
{
	double s = (double)us / 1e6;
	size_t i;

	for (i = 0; i < STATS_SPAWN_BUCKETS; i++)
		if (s <= stats_spawn_bounds[i])
			break;
	stats.spawn_bucket[i]++;	/* [STATS_SPAWN_BUCKETS]: +Inf */
	stats.spawn_count++;
	stats.spawn_sum += s;
}

void
stats_fini(void)
{
	size_t i;

	for (i = 0; i < nreqs; i++)
		free(reqs[i].name);
	free(reqs);
	reqs = NULL;
	nreqs = reqs_cap = 0;
	unknown_reqs = 0;
}
