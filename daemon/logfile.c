/*
 * Log files for processes' output (output = file), and journald
 * (output = journal), written by a thread of their own so that the loop
 * never waits for a disk or for journald.
 *
 *  - The loop formats each line into its target's pending buffer and
 *    moves on; the writer thread takes the whole buffer (a swap under
 *    the lock) and writes it.  A target slower than its processes print
 *    has at most PENDING_MAX bytes waiting (and all of them together
 *    TOTAL_MAX): past that, lines are refused and counted, and the
 *    count goes in before the next line that fits ("<time> procctl
 *    [procctl] N lines dropped"), where the gap is.  A write that fails
 *    (a full disk) counts its lines the same way; their note goes
 *    before the next lines written.
 *  - One writer per path: processes of the same name share it (and its
 *    rotation), counted by references.
 *  - Rotation by size, by the thread, at a line boundary: a file never
 *    grows past its max unless one line alone is longer.  A rotation
 *    that cannot be done (no right to rename in the directory) turns
 *    rotation off for that file, said once.
 *  - A file is ours or not used: opened without following a link and
 *    without waiting (a FIFO put there holds nobody), and refused unless
 *    it is a regular file of procctld's server user with one link.
 *  - logfile_reopen_all(): every file is closed and opened again by its
 *    name (after logrotate moved it; reopen-logs, SIGUSR1).
 *  - journald: a target per process whose lines go to journald
 *    (journal.c) by the same thread, dropped and counted the same way.
 *    Its pending bytes are records (struct jrec and the line).
 *
 * What the lock guards: the work list, total, stopping, and in each
 * target pending, dropped, refused, queued, reopen, closing, max,
 * backups and err*.  What the thread alone touches: fd, size, spare,
 * norotate.  The rest is the loop's.
 */
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "procctld.h"
#include "rotate.h"

#define PENDING_MAX	(1024 * 1024)	/* per target, not yet written */
#define BUSY_AT		(256 * 1024)	/* its processes should wait */
#define TOTAL_MAX	(16 * 1024 * 1024)
#define SPARE_KEEP	PENDING_MAX	/* a bigger buffer is let go */
#define STOP_WAIT_S	2		/* for the thread, at the end */

struct chunk {
	char		*p;
	size_t		 len, cap;
};

/* One line for journald, in a journal target's pending bytes. */
struct jrec {
	uint32_t	 len;		/* of the line that follows */
	uint8_t		 stream;	/* 1 stdout, 2 stderr, 0 procctl */
};

struct logfile {
	LIST_ENTRY(logfile) link;	/* the loop's list of targets */
	TAILQ_ENTRY(logfile) work;	/* targets with something to do */
	char		*path;		/* for journald: its identifier */
	int		 journal;	/* lines to journald, not to a file */
	pid_t		 pid;		/* journald's SYSLOG_PID */
	unsigned	 refs;
	/* under the lock */
	uint64_t	 max;		/* 0: never rotated */
	unsigned	 backups;
	struct chunk	 pending;
	uint64_t	 refused;	/* by the loop, not yet said */
	uint64_t	 dropped;	/* not written, not yet said */
	int		 queued;	/* on the work list */
	int		 waited;	/* found busy: say when it is not */
	int		 reopen, closing;
	int		 err, err_said;	/* the thread's last failure */
	const char	*err_what;
	/* the thread's */
	int		 fd;
	uint64_t	 size;
	int		 norotate;	/* a rotation failed */
	struct chunk	 spare;
};

static LIST_HEAD(, logfile) files = LIST_HEAD_INITIALIZER(files);
static LIST_HEAD(, logfile) journals = LIST_HEAD_INITIALIZER(journals);
static TAILQ_HEAD(, logfile) work = TAILQ_HEAD_INITIALIZER(work);
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_t writer;
static int writer_running, stopping;
static size_t total;		/* pending bytes, all targets */
static int news_fd = -1;	/* the thread's news, for the loop */
static struct watch *news_watch;
static int room_said;		/* under the lock: news of room sent */
static int held;		/* the loop holds the lock (logfile_hold) */
static void (*on_room)(void);	/* the loop's: targets busy have room */
static uint64_t lost_total;	/* under the lock: lines never written,
				 * all targets, since the server started */

/* PATH for appending (TRUNCATE: emptied): an fd, or -1 with errno.
 * EPERM: a file that is not a regular one of ours with one link. */
static int
open_path(const char *path, int truncate, uint64_t *size)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | (truncate ? O_TRUNC : 0),
	    0640)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink != 1 ||
	    fcntl(fd, F_SETFL, O_APPEND) == -1) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static void
chunk_free(struct chunk *c)
{
	free(c->p);
	memset(c, 0, sizeof(*c));
}

/* ---- the writer thread ---- */

static void
failed(struct logfile *f, const char *what, int err)
{
	pthread_mutex_lock(&mu);
	if (f->err != err || f->err_what != what) {	/* said once */
		f->err = err;
		f->err_what = what;
		f->err_said = 0;
		(void)eventfd_write(news_fd, 1);
	}
	pthread_mutex_unlock(&mu);
}

static uint64_t
count_lines(const char *p, size_t n)
{
	const char *end = p + n, *nl;
	uint64_t k = 0;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		k++;
		p = nl + 1;
	}
	return k;
}

/* PATH.1 ... and a new PATH; or, when the renames cannot be done,
 * rotation off for F (said once) and PATH appended to as it is. */
static void
rotate(struct logfile *f, unsigned backups)
{
	const char *what;

	close(f->fd);
	f->fd = -1;
	if (rotate_shift(f->path, backups, &what) == -1) {
		f->norotate = 1;
		failed(f, "rotate", errno);
		return;			/* write_lines opens it again */
	}
	if ((f->fd = open_path(f->path, 1, &f->size)) == -1)
		failed(f, "open", errno);
}

/* A journal target's records to journald: how many could not be
 * sent. */
static uint64_t
journal_out(struct logfile *f, const struct chunk *c)
{
	const char *p = c->p, *end = c->p + c->len;
	struct jrec r;
	uint64_t lost = 0;

	for (; p < end; p += sizeof(r) + r.len) {
		memcpy(&r, p, sizeof(r));
		if (lost > 0 || journal_line(f->path, f->pid, r.stream,
		    p + sizeof(r), r.len) == -1) {
			if (lost == 0)
				failed(f, "sd_journal_send", errno);
			lost++;
		}
	}
	return lost;
}

/* C to F's file, rotating between lines before its MAX: 0, or how many
 * of its lines were not written. */
static uint64_t
write_lines(struct logfile *f, const struct chunk *c, uint64_t max,
    unsigned backups)
{
	const char *p = c->p, *end = c->p + c->len, *cut;
	size_t n, room;
	ssize_t w;

	if (f->norotate)
		max = 0;
	while (p < end) {
		if (f->fd == -1 && (f->fd = open_path(f->path, 0,
		    &f->size)) == -1) {
			failed(f, "open", errno);
			break;
		}
		n = (size_t)(end - p);
		/* Up to the last whole line that fits below max. */
		if (max > 0 && f->size + n > max) {
			room = f->size < max ? (size_t)(max - f->size) : 0;
			cut = room > 0 ? memrchr(p, '\n', room) : NULL;
			if (cut != NULL)
				n = (size_t)(cut + 1 - p);
			else if (f->size > 0) {
				rotate(f, backups);
				if (f->norotate)
					max = 0;
				continue;
			} else if ((cut = memchr(p, '\n', n)) != NULL)
				n = (size_t)(cut + 1 - p);	/* one long line */
		}
		if ((w = write(f->fd, p, n)) <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			failed(f, "write", w == -1 ? errno : EIO);
			break;
		}
		p += w;
		f->size += (uint64_t)w;
	}
	return count_lines(p, (size_t)(end - p));
}

/* "<time> procctl [procctl] N lines dropped\n" into BUF: its length. */
static size_t
note_line(char *buf, size_t size, int64_t ms, uint64_t n)
{
	size_t k = rfc3339_ms(buf, size, ms);

	return k + (size_t)snprintf(buf + k, size - k, " procctl [procctl] "
	    "%llu lines dropped\n", (unsigned long long)n);
}

/* C to F, after the count of the lines DROPPED (not written before)
 * if there were any. */
static void
write_out(struct logfile *f, const struct chunk *c, uint64_t dropped,
    uint64_t max, unsigned backups)
{
	char note[128];
	struct chunk marker;
	uint64_t lost;
	int n;

	memset(&marker, 0, sizeof(marker));
	if (f->journal) {
		n = snprintf(note, sizeof(note), "[procctl] %llu lines dropped",
		    (unsigned long long)dropped);
		if (dropped > 0 && journal_line(f->path, f->pid, 0, note,
		    (size_t)n) == -1)
			lost = dropped + journal_out(f, c);
		else
			lost = journal_out(f, c);
	} else {
		if (dropped > 0) {
			marker.len = note_line(note, sizeof(note),
			    clock_ms(CLOCK_REALTIME), dropped);
			marker.p = note;
		}
		if (dropped > 0 && write_lines(f, &marker, max, backups) != 0)
			lost = dropped + count_lines(c->p, c->len);
		else
			lost = write_lines(f, c, max, backups);
	}
	pthread_mutex_lock(&mu);
	if (lost > 0) {
		f->dropped += lost;
		lost_total += lost;
	}
	else if (f->err_said)	/* written again, and what failed was said: */
		f->err = 0;	/* a new failure is said again */
	pthread_mutex_unlock(&mu);
}

static void *
writer_main(void *arg)
{
	struct logfile *f;
	struct chunk c;
	uint64_t dropped, max;
	unsigned backups;
	int reopen, closing;

	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (TAILQ_EMPTY(&work) && !stopping)
			pthread_cond_wait(&cv, &mu);
		if ((f = TAILQ_FIRST(&work)) == NULL)
			break;			/* stopping, all written */
		TAILQ_REMOVE(&work, f, work);
		f->queued = 0;
		c = f->pending;
		f->pending = f->spare;
		f->pending.len = 0;
		total -= c.len;
		reopen = f->reopen;
		closing = f->closing;
		dropped = f->dropped;
		max = f->max;
		backups = f->backups;
		f->reopen = 0;
		f->dropped = 0;
		if (f->waited) {	/* its processes wait: room now */
			f->waited = 0;
			room_said = 1;
			(void)eventfd_write(news_fd, 1);
		}
		pthread_mutex_unlock(&mu);

		if (reopen && f->fd != -1) {
			close(f->fd);
			f->fd = -1;	/* write_lines opens it by name */
			f->norotate = 0;
		}
		write_out(f, &c, dropped, max, backups);
		if (c.cap > SPARE_KEEP)
			chunk_free(&c);
		c.len = 0;
		if (closing) {
			if (f->fd != -1)
				close(f->fd);
			chunk_free(&c);
			pthread_mutex_lock(&mu);
			chunk_free(&f->pending);
			free(f->path);
			free(f);
			continue;
		}
		pthread_mutex_lock(&mu);
		f->spare = c;
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* ---- the loop's side ---- */

/* Under the lock: F's failure, said once. */
static void
say_failure(struct logfile *f)
{
	if (f->err == 0 || f->err_said)
		return;
	f->err_said = 1;
	if (strcmp(f->err_what, "rotate") == 0)
		log_warn("%s: cannot rotate (%s; procctld's server user needs "
		    "to rename in its directory): it grows without bound",
		    f->path, strerror(f->err));
	else if (f->err == EPERM && strcmp(f->err_what, "open") == 0)
		log_warn("%s: not a regular file of procctld's server user "
		    "with one link: not written (its lines are dropped and "
		    "counted)", f->path);
	else
		log_warn("%s: %s: %s (its lines are dropped and counted until "
		    "it can be written)", f->path, f->err_what,
		    strerror(f->err));
}

static void
on_news(int fd, unsigned events, void *arg)
{
	struct logfile *f;
	eventfd_t v;
	int room;

	(void)events;
	(void)arg;
	(void)eventfd_read(fd, &v);
	pthread_mutex_lock(&mu);
	LIST_FOREACH(f, &files, link)
		say_failure(f);
	LIST_FOREACH(f, &journals, link)
		say_failure(f);
	room = room_said;
	room_said = 0;
	pthread_mutex_unlock(&mu);
	if (room && on_room != NULL)
		on_room();
}

/* FN is called (on the loop) when targets found busy have room again. */
void
logfile_on_room(void (*fn)(void))
{
	on_room = fn;
}

static int
start_writer(void)
{
	sigset_t all, old;
	int err;

	if (writer_running)
		return 0;
	if (news_fd == -1) {
		if ((news_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
			return -1;
		if ((news_watch = loop_watch(news_fd, LOOP_READ, on_news,
		    NULL)) == NULL) {
			close(news_fd);
			news_fd = -1;
			return -1;
		}
	}
	/* Signals are the loop's (signalfd): none for the thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&writer, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		errno = err;
		return -1;
	}
	writer_running = 1;
	return 0;
}

/* Under the lock: F has work for the thread. */
static void
enqueue(struct logfile *f)
{
	if (!f->queued) {
		TAILQ_INSERT_TAIL(&work, f, work);
		f->queued = 1;
		pthread_cond_signal(&cv);
	}
}

/* The writer for PATH, opened now (as procctld's server user) so that a
 * path that cannot be written is said at once: NULL with errno.  Its
 * directory is made (0750) if it is not there.  A path already open
 * takes MAX and BACKUPS from now on (a reload may have changed them). */
struct logfile *
logfile_get(const char *path, uint64_t max, unsigned backups)
{
	char dir[PATH_MAX];
	struct logfile *f;
	int fd;

	if (backups > 99)
		backups = 99;
	LIST_FOREACH(f, &files, link)
		if (strcmp(f->path, path) == 0) {
			f->refs++;
			pthread_mutex_lock(&mu);
			f->max = max;
			f->backups = backups;
			pthread_mutex_unlock(&mu);
			return f;
		}
	if (start_writer() == -1)
		return NULL;
	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0750) == -1 && errno != EEXIST)
		return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->path = strdup(path)) == NULL) {
		free(f);
		return NULL;
	}
	if ((fd = open_path(path, 0, &f->size)) == -1) {
		free(f->path);
		free(f);
		return NULL;
	}
	f->fd = fd;
	f->refs = 1;
	f->max = max;
	f->backups = backups;
	LIST_INSERT_HEAD(&files, f, link);
	return f;
}

/* A journal target for process PID named IDENT: NULL with errno
 * (ENOENT: journald does not run here). */
struct logfile *
logfile_journal(const char *ident, pid_t pid)
{
	struct logfile *f;

	if (access("/run/systemd/journal/socket", W_OK) == -1)
		return NULL;
	if (start_writer() == -1)
		return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->path = strdup(ident)) == NULL) {
		free(f);
		return NULL;
	}
	f->journal = 1;
	f->pid = pid;
	f->fd = -1;
	f->refs = 1;
	LIST_INSERT_HEAD(&journals, f, link);
	return f;
}

/* The loop lets F go: the thread writes what is pending, then closes. */
void
logfile_release(struct logfile *f)
{
	if (f == NULL || --f->refs > 0)
		return;
	LIST_REMOVE(f, link);
	pthread_mutex_lock(&mu);
	f->closing = 1;
	enqueue(f);
	pthread_mutex_unlock(&mu);
}

static int
reserve(struct chunk *c, size_t n)
{
	size_t cap;
	char *p;

	if (c->len + n <= c->cap)
		return 0;
	for (cap = c->cap ? c->cap : 4096; cap < c->len + n; cap *= 2)
		;
	if ((p = realloc(c->p, cap)) == NULL)
		return -1;
	c->p = p;
	c->cap = cap;
	return 0;
}

/* MS as rfc3339_ms() writes it, into OUT; its length.  Lines come many
 * to a millisecond: the last one made is kept (the loop's alone). */
static size_t
stamp(char *out, int64_t ms)
{
	static char last[48];
	static size_t lastlen;
	static int64_t lastms = -1;

	if (ms != lastms) {
		lastlen = rfc3339_ms(last, sizeof(last), ms);
		lastms = ms;
	}
	memcpy(out, last, lastlen);
	return lastlen;
}

/* Under the lock: a line of STREAM (1 stdout, 2 stderr, 0 procctl's
 * note) onto F's pending bytes: "<time> <stream> <text>\n", or a
 * journal record. */
static int
append(struct logfile *f, int64_t ms, int stream, const char *text,
    size_t len)
{
	static const char *const names[] = { "procctl", "stdout", "stderr" };
	struct chunk *c = &f->pending;
	struct jrec r;
	size_t n, sl = strlen(names[stream]);

	if (reserve(c, 64 + len + 1) == -1)
		return -1;
	if (f->journal) {
		r.len = (uint32_t)len;
		r.stream = (uint8_t)stream;
		memcpy(c->p + c->len, &r, sizeof(r));
		memcpy(c->p + c->len + sizeof(r), text, len);
		c->len += sizeof(r) + len;
		total += sizeof(r) + len;
		return 0;
	}
	n = stamp(c->p + c->len, ms);
	c->p[c->len + n++] = ' ';
	memcpy(c->p + c->len + n, names[stream], sl);
	n += sl;
	c->p[c->len + n++] = ' ';
	memcpy(c->p + c->len + n, text, len);
	n += len;
	c->p[c->len + n++] = '\n';
	c->len += n;
	total += n;
	return 0;
}

/* A line STREAM (1 stdout, 2 stderr) for F, or a refused one if too
 * much waits already; after refusals, their count goes first. */
void
logfile_put(struct logfile *f, int64_t ms, int stream, const char *text,
    size_t len)
{
	char note[64];
	int n;

	if (!held)
		pthread_mutex_lock(&mu);
	if (f->pending.len + len + 192 > PENDING_MAX ||
	    total + len + 192 > TOTAL_MAX) {
		f->refused++;
		lost_total++;
		if (!held)
			pthread_mutex_unlock(&mu);
		return;
	}
	if (f->refused > 0) {
		n = snprintf(note, sizeof(note), "[procctl] %llu lines dropped",
		    (unsigned long long)f->refused);
		if (append(f, ms, 0, note, (size_t)n) == 0)
			f->refused = 0;
	}
	if (append(f, ms, stream, text, len) == -1) {
		f->refused++;
		lost_total++;
	}
	enqueue(f);
	if (!held)
		pthread_mutex_unlock(&mu);
}

/* Lines of processes' output that no file or journald took (the
 * writer stuck, a disk full, a file refused), for `metrics`. */
uint64_t
logfile_lost(void)
{
	uint64_t n;

	pthread_mutex_lock(&mu);
	n = lost_total;
	pthread_mutex_unlock(&mu);
	return n;
}

/* The lines of one read go in under one taking of the lock (a read is
 * thousands of lines): logfile_put between these two takes it no more.
 * Nothing else of this file may be called in between. */
void
logfile_hold(void)
{
	pthread_mutex_lock(&mu);
	held = 1;
}

void
logfile_unhold(void)
{
	held = 0;
	pthread_mutex_unlock(&mu);
}

/* F has BUSY_AT bytes waiting or more (or all targets together half
 * their bound): its processes should wait -- logfile_on_room's FN says
 * when they need no more. */
int
logfile_busy(struct logfile *f)
{
	int busy;

	pthread_mutex_lock(&mu);
	busy = f->pending.len >= BUSY_AT || total >= TOTAL_MAX / 2;
	if (busy)
		f->waited = 1;
	pthread_mutex_unlock(&mu);
	return busy;
}

/* Every file closed and opened again by its name (after an external
 * rotation): how many. */
size_t
logfile_reopen_all(void)
{
	struct logfile *f;
	size_t k = 0;

	pthread_mutex_lock(&mu);
	LIST_FOREACH(f, &files, link) {
		f->reopen = 1;
		enqueue(f);
		k++;
	}
	pthread_mutex_unlock(&mu);
	return k;
}

/* At the end of a server: what waits is written, then the thread
 * ends -- within STOP_WAIT_S: a disk that does not answer does not keep
 * the server from ending (what waits is then lost). */
void
logfile_stop(void)
{
	struct logfile *f;
	struct timespec until;

	while ((f = LIST_FIRST(&files)) != NULL ||
	    (f = LIST_FIRST(&journals)) != NULL) {
		f->refs = 1;
		logfile_release(f);
	}
	if (!writer_running)
		return;
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT_S;
	if (pthread_timedjoin_np(writer, NULL, &until) != 0) {
		log_warn("output files: the writer did not finish within %d s; "
		    "what it still held is lost", STOP_WAIT_S);
		return;		/* the process ends; so does the thread */
	}
	writer_running = 0;
	stopping = 0;
	if (news_watch != NULL)
		loop_unwatch(news_watch);
	news_watch = NULL;
	if (news_fd != -1)
		close(news_fd);
	news_fd = -1;
}
