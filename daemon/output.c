/*
 * What managed processes write: their stdout and stderr are pipes (the
 * monitor made them and keeps a copy of the read ends, so a server
 * restart loses nothing); the server reads them here, on its loop,
 * never waiting.
 *
 *  - Bytes become lines, each stamped with the time it was read
 *    (CLOCK_REALTIME, milliseconds) and its stream.  A line longer than
 *    LINE_MAX is cut there and goes on in the next; a partial line is
 *    kept until its newline, LINE_MAX, or the end of the stream.
 *  - The lines go to a ring per process, bounded in bytes (log_ring):
 *    the oldest go first, and what went is counted; with output = file
 *    to its file too (logfile.c: written by a thread, never waited for).
 *  - One read of at most READ_MAX per stream and wake-up: a process
 *    that writes without a pause holds nobody else up, and the memory
 *    it can take is the ring's.
 *  - A process's ring outlives it (`logs` of one that ended); the last
 *    ENDED_KEPT ended ones are kept.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "procctld.h"

#define LINE_MAX_BYTES	4096
#define READ_MAX	(64 * 1024)
#define ENDED_KEPT	512
#define NBUCKETS	1024
#define RING_DEFAULT	(64 * 1024)	/* log_ring, unless set */
#define PARTIAL_MS	250	/* a line without its newline waits this */

struct line {
	TAILQ_ENTRY(line) link;
	int64_t		 time_ms;
	int		 stream;	/* 1 stdout, 2 stderr */
	size_t		 len;
	char		 text[];
};
TAILQ_HEAD(lines, line);

/* Someone reading lines as they come (`logs -f`). */
struct follower {
	LIST_ENTRY(follower) link;
	uint64_t	 id;
	unsigned	 streams;
	procctl_line_fn	 fn;
	void		*arg;
};
LIST_HEAD(followers, follower);

struct output {
	LIST_ENTRY(output) hlink;
	struct logfile	*file;		/* output = file, or NULL */
	struct logfile	*journal;	/* output = journal, or NULL */
	char		*logname;	/* output = inherit: "name[pid]" */
	size_t		 ring_max;	/* log_ring */
	struct followers followers;
	TAILQ_ENTRY(output) ended_link;
	uint64_t	 id;
	int		 fd[2];		/* stdout, stderr; -1 once at EOF */
	struct watch	*w[2];
	char		 part[2][LINE_MAX_BYTES];
	size_t		 partlen[2];
	int64_t		 partsince[2];	/* when its first byte came */
	struct lines	 lines;
	size_t		 bytes;		/* in lines */
	uint64_t	 dropped;	/* lines the ring let go */
	int		 ended;		/* the process has ended */
};
LIST_HEAD(outlist, output);

static struct outlist buckets[NBUCKETS];
static TAILQ_HEAD(, output) ended = TAILQ_HEAD_INITIALIZER(ended);
static size_t nended;
static uint64_t partial_timer;	/* armed while a partial line waits */
static uint64_t next_follower = 1;

static void arm_partial(void);


static struct output *
find(uint64_t id)
{
	struct output *o;

	LIST_FOREACH(o, &buckets[id % NBUCKETS], hlink)
		if (o->id == id)
			return o;
	return NULL;
}


static void
tell_followers(struct output *o, const struct line *l)
{
	struct follower *f, *next;
	struct procctl_line pl;

	memset(&pl, 0, sizeof(pl));
	pl.time_ms = l->time_ms;
	pl.stream = l->stream;
	pl.text = l->text;
	pl.len = l->len;
	/* One may go as it is told (its connection closes). */
	for (f = LIST_FIRST(&o->followers); f != NULL; f = next) {
		next = LIST_NEXT(f, link);
		if (f->streams & (unsigned)l->stream)
			f->fn(&pl, f->arg);
	}
}

/* One line of STREAM into O's ring, the oldest going for room. */
static void
add_line(struct output *o, int stream, const char *s, size_t len)
{
	struct line *l, *old;

	if ((l = malloc(sizeof(*l) + len)) == NULL) {
		o->dropped++;
		return;
	}
	l->time_ms = clock_ms(CLOCK_REALTIME);
	l->stream = stream;
	l->len = len;
	memcpy(l->text, s, len);
	TAILQ_INSERT_TAIL(&o->lines, l, link);
	o->bytes += sizeof(*l) + len;
	tell_followers(o, l);
	if (o->file != NULL)
		logfile_put(o->file, l->time_ms, stream == 1 ? "stdout" :
		    "stderr", l->text, l->len);
	if (o->journal != NULL)
		logfile_put(o->journal, l->time_ms, stream == 1 ? "stdout" :
		    "stderr", l->text, l->len);
	if (o->logname != NULL)
		log_output(o->logname, stream == 1 ? "stdout" : "stderr",
		    l->text, l->len);
	while (o->bytes > o->ring_max && (old = TAILQ_FIRST(&o->lines)) != l) {
		TAILQ_REMOVE(&o->lines, old, link);
		o->bytes -= sizeof(*old) + old->len;
		free(old);
		o->dropped++;
	}
}

/* Bytes S of stream I: whole lines to the ring, the rest kept. */
static void
split(struct output *o, int i, const char *s, size_t n)
{
	const char *nl;
	size_t take;

	while (n > 0) {
		take = n;
		if ((nl = memchr(s, '\n', n)) != NULL)
			take = (size_t)(nl - s);
		if (take > LINE_MAX_BYTES - o->partlen[i])
			take = LINE_MAX_BYTES - o->partlen[i];
		if (o->partlen[i] == 0 && take > 0)
			o->partsince[i] = clock_ms(CLOCK_REALTIME);
		memcpy(o->part[i] + o->partlen[i], s, take);
		o->partlen[i] += take;
		s += take;
		n -= take;
		if (n > 0 && *s == '\n') {	/* the line is whole */
			s++;
			n--;
		} else if (o->partlen[i] < LINE_MAX_BYTES) {
			arm_partial();		/* the rest is to come */
			break;
		}
		add_line(o, i + 1, o->part[i], o->partlen[i]);
		o->partlen[i] = 0;
	}
}

/* A prompt, a progress bar: a line that waited PARTIAL_MS for its
 * newline goes as it is. */
static void
flush_partials(void *arg)
{
	struct output *o;
	int64_t now = clock_ms(CLOCK_REALTIME);
	size_t b;
	int i, waiting = 0;

	(void)arg;
	partial_timer = 0;
	for (b = 0; b < NBUCKETS; b++)
		LIST_FOREACH(o, &buckets[b], hlink)
			for (i = 0; i < 2; i++) {
				if (o->partlen[i] == 0)
					continue;
				if (now - o->partsince[i] < PARTIAL_MS) {
					waiting = 1;
					continue;
				}
				add_line(o, i + 1, o->part[i], o->partlen[i]);
				o->partlen[i] = 0;
			}
	if (waiting)
		arm_partial();
}

static void
arm_partial(void)
{
	if (partial_timer == 0)
		partial_timer = loop_timer_add(PARTIAL_MS, flush_partials,
		    NULL);
}

static void
close_stream(struct output *o, int i)
{
	if (o->partlen[i] > 0)		/* its last line had no newline */
		add_line(o, i + 1, o->part[i], o->partlen[i]);
	o->partlen[i] = 0;
	if (o->w[i] != NULL)
		loop_unwatch(o->w[i]);
	o->w[i] = NULL;
	if (o->fd[i] != -1)
		close(o->fd[i]);
	o->fd[i] = -1;
}

static void
on_readable(int fd, unsigned events, void *arg)
{
	struct output *o = arg;
	char buf[READ_MAX];
	ssize_t n;
	int i = fd == o->fd[0] ? 0 : 1;

	(void)events;
	n = read(fd, buf, sizeof(buf));
	if (n > 0)
		split(o, i, buf, (size_t)n);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		close_stream(o, i);
}

static void
output_free(struct output *o)
{
	struct follower *f;
	struct line *l;

	while ((f = LIST_FIRST(&o->followers)) != NULL) {
		LIST_REMOVE(f, link);
		free(f);
	}
	logfile_release(o->file);
	logfile_release(o->journal);
	free(o->logname);
	close_stream(o, 0);
	close_stream(o, 1);
	while ((l = TAILQ_FIRST(&o->lines)) != NULL) {
		TAILQ_REMOVE(&o->lines, l, link);
		free(l);
	}
	LIST_REMOVE(o, hlink);
	free(o);
}

/* The read ends of process ID's stdout and stderr (ours now): read from
 * here on.  0, or -1 (they are closed). */
int
output_attach(uint64_t id, const int *fds)
{
	struct output *o;
	int i;

	if ((o = find(id)) != NULL) {	/* a server's second copy: ours */
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	o->id = id;
	o->ring_max = RING_DEFAULT;
	TAILQ_INIT(&o->lines);
	LIST_INIT(&o->followers);
	LIST_INSERT_HEAD(&buckets[id % NBUCKETS], o, hlink);
	for (i = 0; i < 2; i++) {
		o->fd[i] = fds[i];
		if ((o->w[i] = loop_watch(fds[i], LOOP_READ, on_readable,
		    o)) == NULL)
			close_stream(o, i);
	}
	return 0;
}

/* Process ID has ended (its tree too): what is still in its pipes is
 * read, and its ring is kept among the last ended ones. */
void
output_ended(uint64_t id)
{
	struct output *o, *old;

	if ((o = find(id)) == NULL || o->ended)
		return;
	o->ended = 1;
	TAILQ_INSERT_TAIL(&ended, o, ended_link);
	if (++nended > ENDED_KEPT && (old = TAILQ_FIRST(&ended)) != NULL) {
		TAILQ_REMOVE(&ended, old, ended_link);
		nended--;
		output_free(old);
	}
}

/* The last N lines of process ID's STREAMS (bit 1 stdout, 2 stderr),
 * oldest first, to FN; how many.  A partial line not yet ended is not
 * among them. */
size_t
output_tail(uint64_t id, size_t n, unsigned streams, procctl_line_fn fn,
    void *arg)
{
	struct procctl_line pl;
	struct output *o;
	struct line *l;
	size_t k = 0;

	if ((o = find(id)) == NULL || n == 0)
		return 0;
	/* From the newest back N matching lines, then forwards. */
	for (l = TAILQ_LAST(&o->lines, lines); l != NULL;
	    l = TAILQ_PREV(l, lines, link))
		if ((streams & (unsigned)l->stream) && ++k == n)
			break;
	if (l == NULL)
		l = TAILQ_FIRST(&o->lines);
	for (k = 0; l != NULL; l = TAILQ_NEXT(l, link)) {
		if (!(streams & (unsigned)l->stream))
			continue;
		memset(&pl, 0, sizeof(pl));
		pl.time_ms = l->time_ms;
		pl.stream = l->stream;
		pl.text = l->text;
		pl.len = l->len;
		fn(&pl, arg);
		k++;
	}
	return k;
}

/* FN gets each line of process ID's STREAMS from now on: an id for
 * output_unfollow(), or 0 (no such output, no memory). */
uint64_t
output_follow(uint64_t id, unsigned streams, procctl_line_fn fn, void *arg)
{
	struct follower *f;
	struct output *o;

	if ((o = find(id)) == NULL || (f = calloc(1, sizeof(*f))) == NULL)
		return 0;
	f->id = next_follower++;
	f->streams = streams;
	f->fn = fn;
	f->arg = arg;
	LIST_INSERT_HEAD(&o->followers, f, link);
	return f->id;
}

void
output_unfollow(uint64_t fid)
{
	struct follower *f;
	struct output *o;
	size_t b;

	for (b = 0; b < NBUCKETS; b++)
		LIST_FOREACH(o, &buckets[b], hlink)
			LIST_FOREACH(f, &o->followers, link)
				if (f->id == fid) {
					LIST_REMOVE(f, link);
					free(f);
					return;
				}
}

/* Process ID's lines go to the file PATH too from now on (after a
 * server restart: again), rotated past MAX bytes (0: never), keeping
 * BACKUPS; processes of the same PATH share its writer.  0, or -1
 * (errno) when it cannot be opened. */
int
output_to_file(uint64_t id, const char *path, uint64_t max, unsigned backups)
{
	struct logfile *f;
	struct output *o;

	if ((o = find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	if ((f = logfile_get(path, max, backups)) == NULL)
		return -1;
	logfile_release(o->file);
	o->file = f;
	return 0;
}

/* Process ID's ring keeps BYTES of its newest lines from now on. */
int
output_set_ring(uint64_t id, size_t bytes)
{
	struct output *o;
	struct line *l;

	if ((o = find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	o->ring_max = bytes;
	while (o->bytes > o->ring_max && (l = TAILQ_FIRST(&o->lines)) != NULL) {
		TAILQ_REMOVE(&o->lines, l, link);
		o->bytes -= sizeof(*l) + l->len;
		free(l);
		o->dropped++;
	}
	return 0;
}

/* Process ID's lines go to procctld's own log too, as WHO's. */
int
output_to_log(uint64_t id, const char *who)
{
	struct output *o;
	char *dup;

	if ((o = find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	if ((dup = strdup(who)) == NULL)
		return -1;
	free(o->logname);
	o->logname = dup;
	return 0;
}

/* Process ID's lines go to journald too, as IDENT's with PID: 0, or -1
 * with errno (ENOENT: journald does not run). */
int
output_to_journal(uint64_t id, const char *ident, pid_t pid)
{
	struct logfile *f;
	struct output *o;

	if ((o = find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	if ((f = logfile_journal(ident, pid)) == NULL)
		return -1;
	logfile_release(o->journal);
	o->journal = f;
	return 0;
}

/* Lines process ID's ring let go, or 0. */
uint64_t
output_dropped(uint64_t id)
{
	struct output *o = find(id);

	return o != NULL ? o->dropped : 0;
}

void
output_free_all(void)
{
	struct output *o;
	size_t i;

	TAILQ_INIT(&ended);
	nended = 0;
	if (partial_timer != 0)
		loop_timer_cancel(partial_timer);
	partial_timer = 0;
	for (i = 0; i < NBUCKETS; i++)
		while ((o = LIST_FIRST(&buckets[i])) != NULL)
			output_free(o);
}
