/*
 * The metrics page as the HTTP thread (promhttp.c) serves it: a snapshot
 * written by the loop, never by that thread, because everything a page
 * is written from (stats.c's counters, the plugins' records) belongs to
 * the loop's thread alone.
 *
 * A snapshot is immutable and reference counted: the thread holds it
 * for each response that sends it, the loop holds the newest, and
 * whoever lets go last frees it.  Pages are written only while somebody
 * scrapes: a scrape that finds no snapshot, or one older than FRESH_MS,
 * asks for a new one through an eventfd the loop watches and waits for
 * it, and the scrapes that come meanwhile wait for the same page.  So the
 * loop writes at most one page a second however many scrape, and a page
 * served is at most a second old (the `metrics` command writes its own,
 * exact).  When the loop has not answered within WAIT_MS of the ask (a
 * plugin stuck in a long call, say), scrapes are refused at once (503)
 * rather than each waiting its turn behind it; the loop says how many
 * were once it is back.
 *
 * The thread never logs: log.c and logq are the loop's, with no lock.
 * What libmicrohttpd has to say on its thread is queued here, a few
 * lines at most, and the loop logs it.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procctld.h"

#define FRESH_MS	1000	/* a page younger than this is served */
#define WAIT_MS		2000	/* for the loop to answer an ask */
#define NOTES_MAX	8	/* lines waiting for the log */
#define NOTE_LEN	256

struct promsnap {
	atomic_uint	 refs;
	uint64_t	 built;		/* loop_now_ms() when written */
	size_t		 len;
	char		 data[];
};

/* Shared with the HTTP thread: everything below, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;	/* a page was written (or failed) */
static struct promsnap *cur;	/* the newest page; a reference */
static uint64_t gen;		/* pages written or failed, ever */
static int last_ok;		/* the last write gave a page */
static int asking;		/* a page asked for, not yet written */
static uint64_t asked_at;	/* when, loop_now_ms() */
static int quitting;		/* the HTTP side is stopping */
static unsigned refused;	/* scrapes answered 503 since a page */
static char notes[NOTES_MAX][NOTE_LEN];
static unsigned nnotes, notes_lost;

/* The loop's. */
static int efd = -1;
static struct watch *ewatch;
static int cv_ready;

static void
wake_loop(void)
{
	uint64_t one = 1;

	(void)!write(efd, &one, sizeof(one));
}

void
promsnap_put(struct promsnap *p)
{
	if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1)
		free(p);
}

const char *
promsnap_data(const struct promsnap *p, size_t *len)
{
	*len = p->len;
	return p->data;
}

/* Under mu: wait for the page written after GEN was seen, until the ask
 * is WAIT_MS old. */
static void
wait_page(uint64_t seen)
{
	struct timespec ts;
	uint64_t until = asked_at + WAIT_MS, now = loop_now_ms();

	if (now >= until)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)((until - now) / 1000);
	ts.tv_nsec += (long)((until - now) % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (!quitting && gen == seen)
		if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
			break;
}

/* The HTTP thread's: a page no older than FRESH_MS, held (promsnap_put
 * it), waiting for the loop to write one if need be; NULL when it did
 * not in time (or could not, or the server is stopping): a 503. */
struct promsnap *
promsnap_get(void)
{
	struct promsnap *p = NULL;
	uint64_t now, seen;

	pthread_mutex_lock(&mu);
	now = loop_now_ms();
	if (cur != NULL && now - cur->built < FRESH_MS)
		p = cur;
	else if (!quitting) {
		if (!asking) {
			asking = 1;
			asked_at = now;
			wake_loop();
		}
		seen = gen;
		wait_page(seen);
		if (!quitting && gen != seen && last_ok)
			p = cur;
	}
	if (p != NULL)
		atomic_fetch_add(&p->refs, 1);
	else
		refused++;
	pthread_mutex_unlock(&mu);
	return p;
}

/* Either thread's: LINE for the log, written by the loop. */
void
promsnap_note(const char *line)
{
	pthread_mutex_lock(&mu);
	if (nnotes < NOTES_MAX) {
		snprintf(notes[nnotes], NOTE_LEN, "%s", line);
		if (nnotes++ == 0 && efd != -1)
			wake_loop();
	} else
		notes_lost++;
	pthread_mutex_unlock(&mu);
}

/* The notes waiting, logged (copied out first: log_* may take a while,
 * and the thread must not wait for it). */
static void
log_notes(void)
{
	char got[NOTES_MAX][NOTE_LEN];
	unsigned n, lost, i;

	pthread_mutex_lock(&mu);
	n = nnotes;
	lost = notes_lost;
	memcpy(got, notes, sizeof(notes[0]) * n);
	nnotes = notes_lost = 0;
	pthread_mutex_unlock(&mu);
	for (i = 0; i < n; i++)
		log_info("metrics http: %s", got[i]);
	if (lost > 0)
		log_info("metrics http: %u more lines not logged", lost);
}

/* A new page, as the loop has it now; NULL when out of memory. */
static struct promsnap *
write_page(void)
{
	struct buf page = { 0 };
	struct promsnap *p = NULL;
	uint64_t t = loop_now_ms();

	if (metrics_write(&page) == 0 &&
	    (p = malloc(sizeof(*p) + buf_avail(&page))) != NULL) {
		atomic_init(&p->refs, 1);
		p->built = t;
		p->len = buf_avail(&page);
		memcpy(p->data, buf_head(&page), p->len);
	}
	buf_free(&page);
	return p;
}

/* The page asked for, written and handed over; scrapes refused while
 * the loop was away said. */
static void
answer(void)
{
	struct promsnap *p, *old = NULL;
	uint64_t late;
	unsigned n;

	p = write_page();
	pthread_mutex_lock(&mu);
	if (p != NULL) {
		old = cur;
		cur = p;
	}
	late = loop_now_ms() - asked_at;
	asking = 0;
	last_ok = p != NULL;
	gen++;
	n = refused;
	refused = 0;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	promsnap_put(old);
	if (p != NULL)
		stats.metrics_pages++;
	else
		log_warn("metrics: out of memory for the page; scrapes get 503");
	if (n > 0)
		log_warn("metrics: %u scrape%s refused (503): the page asked "
		    "for was written %llu ms later", n, n == 1 ? "" : "s",
		    (unsigned long long)late);
}

static void
on_wake(int fd, unsigned events, void *arg)
{
	uint64_t n;
	int want;

	(void)events;
	(void)arg;
	(void)!read(fd, &n, sizeof(n));
	log_notes();
	pthread_mutex_lock(&mu);
	want = asking;
	pthread_mutex_unlock(&mu);
	if (want)
		answer();
}

int
promsnap_init(void)
{
	pthread_condattr_t ca;
	int rc;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		log_error("metrics: pthread_cond_init: %s", strerror(rc));
		return -1;
	}
	cv_ready = 1;
	if ((efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_error("metrics: eventfd: %s", strerror(errno));
		promsnap_fini();
		return -1;
	}
	if ((ewatch = loop_watch(efd, LOOP_READ, on_wake, NULL)) == NULL) {
		promsnap_fini();
		return -1;
	}
	return 0;
}

/* Before the HTTP thread is stopped: a scrape waiting is answered (503)
 * at once, and none waits from now on. */
void
promsnap_quit(void)
{
	if (!cv_ready)
		return;
	pthread_mutex_lock(&mu);
	quitting = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* After the HTTP thread has stopped (every response it held freed). */
void
promsnap_fini(void)
{
	log_notes();
	if (ewatch != NULL)
		loop_unwatch(ewatch);
	ewatch = NULL;
	if (efd != -1)
		close(efd);
	efd = -1;
	promsnap_put(cur);
	cur = NULL;
	asking = quitting = last_ok = 0;
	refused = 0;
	if (cv_ready)
		pthread_cond_destroy(&cv);
	cv_ready = 0;
}
