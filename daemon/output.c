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
#define READ_MAX	(256 * 1024)
#define PIPE_GROWN	(1024 * 1024)	/* a pipe a read filled grows to */
#define ENDED_KEPT	512
#define NBUCKETS	1024
#define RING_DEFAULT	(64 * 1024)	/* log_ring, unless set */
#define BACK_READ_MAX	(4 * 1024 * 1024)	/* of files, for one tail */
#define BACK_BLOCK	(64 * 1024)
#define BACK_FRAG	(LINE_MAX_BYTES + 128)	/* a file line, at most */
#define PAUSE_POLL_MS	100	/* a paused output looks again after this */
#define PAUSE_MAX_MS	1000	/* then its lines are dropped, not waited for */
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
	char		*file_path;	/* its path, kept to read back */
	unsigned	 file_backups;
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
	int64_t		 born_ms;	/* when the process started */
	int		 ended;		/* the process has ended */
	int		 paused;	/* its file is behind: not read */
	int		 overflow;	/* behind for PAUSE_MAX_MS: read, dropped */
	int64_t		 paused_at;
	LIST_ENTRY(output) plink;	/* paused ones */
	int		 grown[2];	/* its pipe, once (PIPE_GROWN) */
};
LIST_HEAD(outlist, output);

static struct outlist buckets[NBUCKETS];
static TAILQ_HEAD(, output) ended = TAILQ_HEAD_INITIALIZER(ended);
static size_t nended;
static uint64_t partial_timer;	/* armed while a partial line waits */
static LIST_HEAD(, output) paused = LIST_HEAD_INITIALIZER(paused);
static uint64_t pause_timer;	/* armed while one is paused */
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
tell_followers(struct output *o, int64_t ms, int stream, const char *s,
    size_t len)
{
	struct follower *f, *next;
	struct procctl_line pl;

	memset(&pl, 0, sizeof(pl));
	pl.time_ms = ms;
	pl.stream = stream;
	pl.text = s;
	pl.len = len;
	/* One may go as it is told (its connection closes). */
	for (f = LIST_FIRST(&o->followers); f != NULL; f = next) {
		next = LIST_NEXT(f, link);
		if (f->streams & (unsigned)stream)
			f->fn(&pl, f->arg);
	}
}

/* One line of STREAM, read at NOW: to its followers, its file, journald
 * or procctld's log; and (RING) into O's ring, the oldest going for
 * room.  A line not RING is one the ring would let go before this read
 * is done: it is counted as let go, not copied in and out. */
static void
add_line(struct output *o, int stream, const char *s, size_t len, int64_t now,
    int ring)
{
	struct line *l, *old;

	if (!LIST_EMPTY(&o->followers))
		tell_followers(o, now, stream, s, len);
	if (o->file != NULL)
		logfile_put(o->file, now, stream, s, len);
	if (o->journal != NULL)
		logfile_put(o->journal, now, stream, s, len);
	if (o->logname != NULL)
		log_output(o->logname, stream == 1 ? "stdout" : "stderr", s,
		    len);
	if (!ring || (l = malloc(sizeof(*l) + len)) == NULL) {
		o->dropped++;
		return;
	}
	l->time_ms = now;
	l->stream = stream;
	l->len = len;
	memcpy(l->text, s, len);
	TAILQ_INSERT_TAIL(&o->lines, l, link);
	o->bytes += sizeof(*l) + len;
	while (o->bytes > o->ring_max && (old = TAILQ_FIRST(&o->lines)) != l) {
		TAILQ_REMOVE(&o->lines, old, link);
		o->bytes -= sizeof(*old) + old->len;
		free(old);
		o->dropped++;
	}
}

/* Where in S (N bytes) the whole lines begin that O's ring will still
 * hold once they are all in: those before go through it only. */
static const char *
ring_from(const struct output *o, const char *s, size_t n)
{
	const char *end, *nl, *start;
	size_t held = 0;

	if ((end = memrchr(s, '\n', n)) == NULL)
		return s;
	for (;;) {
		nl = end > s ? memrchr(s, '\n', (size_t)(end - s)) : NULL;
		start = nl != NULL ? nl + 1 : s;
		held += sizeof(struct line) + (size_t)(end - start);
		if (held > o->ring_max)	/* the newest is always held */
			return held == sizeof(struct line) +
			    (size_t)(end - start) ? start : end + 1;
		if (nl == NULL)
			return s;
		end = nl;
	}
}

/* Bytes S of stream I, read at NOW: whole lines to the ring, the rest
 * kept. */
static void
split(struct output *o, int i, const char *s, size_t n, int64_t now)
{
	const char *nl, *keep = ring_from(o, s, n);
	size_t take;

	while (n > 0) {
		take = n;
		if ((nl = memchr(s, '\n', n)) != NULL)
			take = (size_t)(nl - s);
		if (o->partlen[i] == 0 && nl != NULL &&
		    take <= LINE_MAX_BYTES) {	/* whole, as it is in S */
			add_line(o, i + 1, s, take, now, s >= keep);
			s += take + 1;
			n -= take + 1;
			continue;
		}
		if (take > LINE_MAX_BYTES - o->partlen[i])
			take = LINE_MAX_BYTES - o->partlen[i];
		if (o->partlen[i] == 0 && take > 0)
			o->partsince[i] = now;
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
		add_line(o, i + 1, o->part[i], o->partlen[i], now, 1);
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
				add_line(o, i + 1, o->part[i], o->partlen[i],
				    now, 1);
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

/* An ended process whose pipes are read to their end writes no more:
 * its file and journal go (fds are for the living); the path stays for
 * reading back. */
static void
done_writing(struct output *o)
{
	if (!o->ended || o->fd[0] != -1 || o->fd[1] != -1)
		return;
	logfile_release(o->file);
	o->file = NULL;
	logfile_release(o->journal);
	o->journal = NULL;
}

static void
close_stream(struct output *o, int i)
{
	if (o->partlen[i] > 0)		/* its last line had no newline */
		add_line(o, i + 1, o->part[i], o->partlen[i],
		    clock_ms(CLOCK_REALTIME), 1);
	o->partlen[i] = 0;
	if (o->w[i] != NULL)
		loop_unwatch(o->w[i]);
	o->w[i] = NULL;
	if (o->fd[i] != -1)
		close(o->fd[i]);
	o->fd[i] = -1;
	done_writing(o);
}

static void on_readable(int fd, unsigned events, void *arg);

/* O's file (or journald) has half its bound waiting. */
static int
behind(struct output *o)
{
	return (o->file != NULL && logfile_busy(o->file)) ||
	    (o->journal != NULL && logfile_busy(o->journal));
}

static void
watch_streams(struct output *o)
{
	int i;

	for (i = 0; i < 2; i++)
		if (o->fd[i] != -1 && o->w[i] == NULL &&
		    (o->w[i] = loop_watch(o->fd[i], LOOP_READ, on_readable,
		    o)) == NULL)
			close_stream(o, i);
}

static void
resume(struct output *o, int overflow)
{
	LIST_REMOVE(o, plink);
	o->paused = 0;
	o->overflow = overflow;
	watch_streams(o);
}

static void
look_again(void *arg)
{
	struct output *o, *next;
	int64_t now = clock_ms(CLOCK_MONOTONIC);

	(void)arg;
	pause_timer = 0;
	for (o = LIST_FIRST(&paused); o != NULL; o = next) {
		next = LIST_NEXT(o, plink);
		if (!behind(o))
			resume(o, 0);
		else if (now - o->paused_at >= PAUSE_MAX_MS)
			resume(o, 1);	/* the disk is stuck: drop, counted */
	}
	if (!LIST_EMPTY(&paused))
		pause_timer = loop_timer_add(PAUSE_POLL_MS, look_again, NULL);
}

/* The writer has caught up with files that were behind (logfile.c). */
static void
on_room(void)
{
	struct output *o, *next;

	for (o = LIST_FIRST(&paused); o != NULL; o = next) {
		next = LIST_NEXT(o, plink);
		if (!behind(o))
			resume(o, 0);
	}
}

/*
 * O's file is behind its process: its pipes are not read until the
 * writer has caught up, and the process waits on its pipe as it would
 * on a slow terminal -- nothing lost, nothing held in memory.  One the
 * writer leaves behind for PAUSE_MAX_MS (a disk that does not answer)
 * is read again, and what its file cannot take is dropped and counted.
 */
static void
pause_output(struct output *o)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (o->w[i] != NULL)
			loop_unwatch(o->w[i]);
		o->w[i] = NULL;
	}
	o->paused = 1;
	o->paused_at = clock_ms(CLOCK_MONOTONIC);
	LIST_INSERT_HEAD(&paused, o, plink);
	logfile_on_room(on_room);
	if (pause_timer == 0)
		pause_timer = loop_timer_add(PAUSE_POLL_MS, look_again, NULL);
}

/* One read of a stream.  A pipe a read filled is grown once (its
 * writer is ahead of us): more per read, fewer wake-ups. */
static void
on_readable(int fd, unsigned events, void *arg)
{
	static char buf[READ_MAX];	/* the loop's: used up here */
	struct output *o = arg;
	ssize_t n;
	int i = fd == o->fd[0] ? 0 : 1;

	(void)events;
	if (o->overflow && !behind(o))
		o->overflow = 0;
	else if (!o->overflow && behind(o)) {
		pause_output(o);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	if (n > 0) {
		if (!o->grown[i] && (size_t)n >= 64 * 1024) {
			o->grown[i] = 1;
			(void)fcntl(fd, F_SETPIPE_SZ, PIPE_GROWN);
		}
		if (o->file != NULL || o->journal != NULL)
			logfile_hold();
		split(o, i, buf, (size_t)n, clock_ms(CLOCK_REALTIME));
		if (o->file != NULL || o->journal != NULL)
			logfile_unhold();
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR))
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
	if (o->paused)
		LIST_REMOVE(o, plink);
	logfile_release(o->file);
	logfile_release(o->journal);
	free(o->file_path);
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
output_attach(uint64_t id, const int *fds, int64_t born_ms)
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
	o->born_ms = born_ms;
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
	done_writing(o);
	TAILQ_INSERT_TAIL(&ended, o, ended_link);
	if (++nended > ENDED_KEPT && (old = TAILQ_FIRST(&ended)) != NULL) {
		TAILQ_REMOVE(&ended, old, ended_link);
		nended--;
		output_free(old);
	}
}

/* Lines read back from a file, newest first. */
struct back {
	struct line	**v;
	size_t		  n, cap;
	size_t		  budget;	/* bytes still to be read */
	int		  done;		/* reached the process's start */
	int64_t		  before;	/* the ring's oldest line's time */
	size_t		  skip;		/* lines of that time the ring has */
};

/* One file line, "<time> <stream> <text>", into B if it is of O's
 * STREAMS, older than the ring's lines and not before O's start.  Lines
 * of one millisecond are told apart by their count: of those of the
 * ring's oldest time, the last B->skip are the ring's. */
static void
back_line(const struct output *o, struct back *b, const char *s, size_t len,
    unsigned streams)
{
	const char *sp1, *sp2;
	char stamp[48];
	struct line *l, **grown;
	int64_t t;
	int stream;

	if ((sp1 = memchr(s, ' ', len)) == NULL || sp1 - s >= 48 ||
	    (sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - s))) == NULL)
		return;				/* not a line of ours */
	memcpy(stamp, s, (size_t)(sp1 - s));
	stamp[sp1 - s] = '\0';
	if ((t = rfc3339_parse(stamp)) == -1)
		return;
	if (t < o->born_ms) {			/* an earlier run's */
		b->done = 1;
		return;
	}
	stream = sp2 - sp1 - 1 == 6 && memcmp(sp1 + 1, "stdout", 6) == 0 ? 1 :
	    sp2 - sp1 - 1 == 6 && memcmp(sp1 + 1, "stderr", 6) == 0 ? 2 : 0;
	if (stream == 0 || t > b->before)
		return;				/* a note; the ring has it */
	if (t == b->before && b->skip > 0) {
		b->skip--;
		return;
	}
	if (!(streams & (unsigned)stream))
		return;
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		if ((grown = realloc(b->v, b->cap * sizeof(*grown))) == NULL) {
			b->done = 1;
			return;
		}
		b->v = grown;
	}
	len -= (size_t)(sp2 + 1 - s);
	if ((l = malloc(sizeof(*l) + len)) == NULL) {
		b->done = 1;
		return;
	}
	l->time_ms = t;
	l->stream = stream;
	l->len = len;
	memcpy(l->text, sp2 + 1, len);
	b->v[b->n++] = l;
}

/* The lines of PATH, newest first, into B until it holds WANT: read
 * from its end backwards, a block at a time. */
static void
back_file(const struct output *o, const char *path, size_t want,
    unsigned streams, struct back *b)
{
	struct stat st;
	char *buf, frag[BACK_FRAG];
	size_t fl = 0, rd, end;
	off_t off;
	char *nl;
	int fd, first = 1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY)) == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() ||
	    (buf = malloc(BACK_BLOCK + BACK_FRAG)) == NULL) {
		close(fd);
		return;
	}
	for (off = st.st_size; off > 0 && b->n < want && !b->done; ) {
		if (b->budget == 0) {
			b->done = 1;
			break;
		}
		rd = BACK_BLOCK < b->budget ? BACK_BLOCK : b->budget;
		if ((off_t)rd > off)
			rd = (size_t)off;
		off -= (off_t)rd;
		if (pread(fd, buf, rd, off) != (ssize_t)rd)
			break;
		b->budget -= rd;
		memcpy(buf + rd, frag, fl);	/* the line it begins */
		end = rd + fl;
		if (first && end > 0 && buf[end - 1] == '\n')
			end--;
		first = 0;
		while (end > 0 && b->n < want && !b->done &&
		    (nl = memrchr(buf, '\n', end)) != NULL) {
			back_line(o, b, nl + 1, end - (size_t)(nl + 1 - buf),
			    streams);
			end = (size_t)(nl - buf);
		}
		if (off == 0 && end > 0 && b->n < want && !b->done)
			back_line(o, b, buf, end, streams);
		fl = end <= BACK_FRAG ? end : 0;	/* longer: not ours */
		memcpy(frag, buf, fl);
	}
	free(buf);
	close(fd);
}

/* O's lines that its ring let go (or never had), from its file and the
 * rotated ones (up to BACK_READ_MAX bytes of them): the last WANT of
 * STREAMS, newest first, into B.  Lines of an earlier run (the same
 * name, the same file) are not among them; a file shared with another
 * live process of the same name has its lines too. */
static void
back_files(const struct output *o, size_t want, unsigned streams,
    struct back *b)
{
	char path[PATH_MAX + 16];
	const struct line *l;
	unsigned k, nb = o->file_backups;

	b->budget = BACK_READ_MAX;
	b->before = INT64_MAX;
	if ((l = TAILQ_FIRST(&o->lines)) != NULL)
		for (b->before = l->time_ms; l != NULL &&
		    l->time_ms == b->before; l = TAILQ_NEXT(l, link))
			b->skip++;
	for (k = 0; k <= nb && b->n < want && !b->done; k++) {
		if (k == 0)
			snprintf(path, sizeof(path), "%s", o->file_path);
		else
			snprintf(path, sizeof(path), "%s.%u", o->file_path,
			    k);
		back_file(o, path, want, streams, b);
	}
}

static void
tell(const struct line *l, procctl_line_fn fn, void *arg)
{
	struct procctl_line pl;

	memset(&pl, 0, sizeof(pl));
	pl.time_ms = l->time_ms;
	pl.stream = l->stream;
	pl.text = l->text;
	pl.len = l->len;
	fn(&pl, arg);
}

/* The last N lines of process ID's STREAMS (bit 1 stdout, 2 stderr),
 * oldest first, to FN; how many.  A partial line not yet ended is not
 * among them.  From the ring, and when it holds fewer than N (it let
 * them go; a server restarted), older ones from the file (output =
 * file). */
size_t
output_tail(uint64_t id, size_t n, unsigned streams, procctl_line_fn fn,
    void *arg)
{
	struct back b;
	struct output *o;
	struct line *l;
	size_t k = 0, i;

	if ((o = find(id)) == NULL || n == 0)
		return 0;
	/* From the newest back N matching lines, then forwards. */
	for (l = TAILQ_LAST(&o->lines, lines); l != NULL;
	    l = TAILQ_PREV(l, lines, link))
		if ((streams & (unsigned)l->stream) && ++k == n)
			break;
	memset(&b, 0, sizeof(b));
	if (l == NULL && k < n && o->file_path != NULL) {
		back_files(o, n - k, streams, &b);
		for (i = b.n; i > 0; i--) {
			tell(b.v[i - 1], fn, arg);
			free(b.v[i - 1]);
		}
		free(b.v);
	}
	if (l == NULL)
		l = TAILQ_FIRST(&o->lines);
	for (k = b.n; l != NULL; l = TAILQ_NEXT(l, link)) {
		if (!(streams & (unsigned)l->stream))
			continue;
		tell(l, fn, arg);
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
	char *dup;
	struct logfile *f;
	struct output *o;

	if ((o = find(id)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	if ((dup = strdup(path)) == NULL)
		return -1;
	if ((f = logfile_get(path, max, backups)) == NULL) {
		free(dup);
		return -1;
	}
	logfile_release(o->file);
	o->file = f;
	free(o->file_path);
	o->file_path = dup;
	o->file_backups = backups > 99 ? 99 : backups;
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
	if (pause_timer != 0)
		loop_timer_cancel(pause_timer);
	pause_timer = 0;
	for (i = 0; i < NBUCKETS; i++)
		while ((o = LIST_FIRST(&buckets[i])) != NULL)
			output_free(o);
}
