/*
 * logq: log lines written without ever waiting (logq.h says what it
 * guarantees).  One queue per process: stderr, or the log file, is the
 * process's, not an object's.
 *
 * How to write to fd 2 without waiting, when its open file description
 * is shared with the other procctld process and with children started
 * with output = inherit: O_NONBLOCK set on it would be theirs too (a
 * child's write could fail with EAGAIN), so it is never set.  By what fd
 * 2 is:
 *
 *  - a socket (journald's stream, socat): send(MSG_DONTWAIT) asks for a
 *    write that does not wait, for this one call;
 *  - a pipe, a FIFO or a terminal: /proc/self/fd/2 opened again, with
 *    O_NONBLOCK.  For these the kernel makes a new open file description
 *    on the same pipe or device, so the flag is ours alone.  It is done
 *    at start, while the server is still root (it may not be allowed to
 *    open the pipe later); O_NOCTTY keeps a terminal from becoming ours;
 *  - a regular file: write(2) never waits for a reader there, and
 *    opening it again would lose the offset it shares (`2>file` without
 *    append): written to as it is;
 *  - anything else (/dev/null, other devices), or a reopening refused:
 *    poll(2) with no wait before each write of at most PIPE_BUF bytes.
 *    Another writer could fill a pipe between the two: the one narrow
 *    case left where a write could wait.
 *
 * SIGPIPE: the caller ignores it (main() does, for both processes); a
 * reader that has gone is EPIPE, and lines go nowhere from then on.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "clock.h"
#include "logq.h"
#include "rotate.h"

#define LINE_MAX_BYTES	(LOGQ_TEXT_MAX * 4 + 128)

/* How lines reach the output (see above). */
enum {
	OUT_FILE,		/* write(2): a regular file */
	OUT_SOCK,		/* send(MSG_DONTWAIT) */
	OUT_OWN,		/* our own O_NONBLOCK description */
	OUT_POLL,		/* poll(2), then write(2) */
	OUT_DEAD		/* the reader has gone: lines go nowhere */
};

static struct {
	int		 ready;		/* logq_init() ran */
	pid_t		 pid;		/* in which process: a forked child
					 * leaves the queue alone at exit */
	int		 fd;		/* where lines go */
	int		 own;		/* FD was opened here */
	int		 kind;		/* OUT_* */
	int		 journal;	/* <N> prefixes */
	int		 blocked;	/* a write would have waited: the
					 * loop calls logq_flush() */
	int		 dropping;	/* full: dropping until half empty */
	unsigned long long dropped;	/* since the last warning */
	unsigned long long dropped_total;	/* since the process began */
	int		 drop_errno;	/* why, 0: nobody reads */
	size_t		 off, len;	/* queued: qbuf[off, off + len) */
	unsigned long long out;		/* bytes ever taken off the queue */
	unsigned long long notice_end;	/* where the last drop warning
					 * ends, counted as OUT is */
	unsigned long long notice_count; /* the drops it tells of */
	char		 tag[32];
	char		*path;		/* log_file, owned; NULL: stderr */
	int		 owner;		/* we rotate it and create it */
	size_t		 max;		/* rotate past this; 0: never */
	unsigned	 backups;
	unsigned long long size;	/* the file's, as far as we know */
	unsigned long long checked;	/* PATH last compared with FD (s) */
} q = { .fd = 2 };

static char qbuf[LOGQ_MAX];

static void flush_some(void);

/* ---- the output ---- */

/* JOURNAL_STREAM is "DEV:INO" of the stream journald gave us: stderr is
 * the journal only if it is still that one (a child of ours given
 * another stderr inherits the variable too). */
static int
is_journal(const struct stat *st)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char extra;

	return e != NULL && sscanf(e, "%llu:%llu%c", &dev, &ino,
	    &extra) == 2 && (unsigned long long)st->st_dev == dev &&
	    (unsigned long long)st->st_ino == ino;
}

/* FD moved above the standard fds, which others fill as they please. */
static int
above_stdio(int fd)
{
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	close(fd);
	return high;
}

static void
at_exit(void)
{
	if (getpid() == q.pid)
		logq_drain(LOGQ_DRAIN_MS);
}

void
logq_init(void)
{
	struct stat st, again;
	int fd;

	if (q.ready)
		return;
	q.ready = 1;
	q.pid = getpid();
	q.fd = 2;
	atexit(at_exit);
	if (fstat(2, &st) == -1) {
		q.kind = OUT_DEAD;
		return;
	}
	q.journal = is_journal(&st);
	if (S_ISREG(st.st_mode))
		q.kind = OUT_FILE;
	else if (S_ISSOCK(st.st_mode))
		q.kind = OUT_SOCK;
	else {
		q.kind = OUT_POLL;
		if (!S_ISFIFO(st.st_mode) && !(S_ISCHR(st.st_mode) &&
		    isatty(2)))
			return;
		fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
		if (fd != -1 && fd < 3)		/* stdin or stdout closed */
			fd = above_stdio(fd);
		if (fd != -1 && fstat(fd, &again) == 0 &&
		    again.st_dev == st.st_dev && again.st_ino == st.st_ino) {
			q.fd = fd;
			q.own = 1;
			q.kind = OUT_OWN;
		} else if (fd != -1)
			close(fd);
	}
}

int
logq_fd(void)
{
	return q.own ? q.fd : -1;
}

void
logq_set_tag(const char *tag)
{
	snprintf(q.tag, sizeof(q.tag), "%s", tag);
}

static ssize_t
out_write(const char *p, size_t n)
{
	struct pollfd pfd;

	switch (q.kind) {
	case OUT_SOCK:
		return send(q.fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	case OUT_POLL:
		pfd.fd = q.fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		/* An error or hang-up is for write(2) to report. */
		if (poll(&pfd, 1, 0) != 1) {
			errno = EAGAIN;
			return -1;
		}
		return write(q.fd, p, n);
	default:
		return write(q.fd, p, n);
	}
}

/* "2026-11-24T10:15:02.123+01:00 ": a log file has nobody to stamp it. */
static size_t
stamp(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char zone[8];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (strftime(zone, sizeof(zone), "%z", &tm) != 5)
		snprintf(zone, sizeof(zone), "+0000");
	n += (size_t)snprintf(out + n, size - n, ".%03ld%.3s:%s ",
	    ts.tv_nsec / 1000000, zone, zone + 3);
	return n;
}

/* TEXT (LEN bytes) as a whole line at the end of the queue: the head for
 * the output (journald's priority, else the time for a file and
 * "procctld: "), the text escaped, a newline.  Dropped and counted when
 * it does not fit. */
static void
add_line(int prio, const char *text, size_t len)
{
	char line[LINE_MAX_BYTES];
	size_t n = 0;

	if (q.dropping || q.len + 32 > LOGQ_MAX) {
		q.dropping = 1;
		q.dropped++;
		q.dropped_total++;
		return;
	}
	if (q.journal)
		n = (size_t)snprintf(line, sizeof(line), "<%d>", prio);
	else {
		if (q.path != NULL)
			n = stamp(line, sizeof(line));
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		    "procctld: ");
	}
	if (len > LOGQ_TEXT_MAX)
		len = LOGQ_TEXT_MAX;
	n += escape_log(line + n, sizeof(line) - n - 1, text, len);
	line[n++] = '\n';
	if (q.len + n > LOGQ_MAX) {
		q.dropping = 1;
		q.dropped++;
		q.dropped_total++;
		return;
	}
	if (q.off + q.len + n > LOGQ_MAX) {
		memmove(qbuf, qbuf + q.off, q.len);
		q.off = 0;
	}
	memcpy(qbuf + q.off + q.len, line, n);
	q.len += n;
}

unsigned long long
logq_dropped_total(void)
{
	return q.dropped_total;
}

/* Lines were dropped and there is room again (half the queue, so that
 * a reader that is just slow gets a few long gaps, not many short
 * ones): the count goes first. */
static void
resume(void)
{
	char text[160];
	unsigned long long n = q.dropped;
	int len;

	if (n == 0 || q.len > LOGQ_MAX / 2)
		return;
	q.dropping = 0;
	q.dropped = 0;
	len = snprintf(text, sizeof(text), "warn: %s%llu log line%s dropped "
	    "(%s)", q.tag, n, n == 1 ? "" : "s", q.drop_errno ?
	    strerror(q.drop_errno) : "stderr not read");
	q.drop_errno = 0;
	add_line(LOGQ_WARNING, text, (size_t)len);
	q.notice_end = q.out + q.len;
	q.notice_count = n;
}

static void
take(size_t n)
{
	q.off += n;
	q.len -= n;
	q.out += n;
	if (q.len == 0)
		q.off = 0;
}

/* Everything queued is lost (ERR); a log file may work again later, so
 * its lost lines are counted, with a drop warning queued among them. */
static void
discard(int err)
{
	const char *p = qbuf + q.off, *end = p + q.len;
	unsigned long long lines = 0;

	for (; p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
	    p++)
		lines++;
	if (q.notice_end > q.out && lines > 0)	/* it told of these */
		lines += q.notice_count - 1;
	take(q.len);
	if (q.kind == OUT_FILE && err != EBADF) {
		q.dropped += lines;
		q.dropped_total += lines;
		q.drop_errno = err;
	} else
		q.kind = OUT_DEAD;
}

static void rotate(void);

/* One write of whole lines from the queue (at most PIPE_BUF bytes when
 * they fit: atomic on a pipe, so no other writer's bytes land inside
 * them).  0, or -1 when the output would block or failed. */
static int
write_chunk(void)
{
	const char *p = qbuf + q.off, *nl;
	size_t n = q.len < PIPE_BUF ? q.len : PIPE_BUF;
	struct stat st;
	ssize_t w;

	if (n < q.len && (nl = memrchr(p, '\n', n)) != NULL)
		n = (size_t)(nl - p) + 1;
	else if (n < q.len && (nl = memchr(p, '\n', q.len)) != NULL)
		n = (size_t)(nl - p) + 1;	/* one long line, alone */
	do
		w = out_write(p, n);
	while (w == -1 && errno == EINTR);
	if (w > 0) {
		take((size_t)w);
		q.size += (unsigned long long)w;
		if (q.path != NULL && q.max > 0 && q.size >= q.max &&
		    fstat(q.fd, &st) == 0 &&	/* truncated by logrotate? */
		    (q.size = (unsigned long long)st.st_size) >= q.max)
			rotate();
		return 0;
	}
	if (w == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
		q.blocked = 1;
		return -1;
	}
	discard(errno);
	return -1;
}

static void
flush_some(void)
{
	while (q.len > 0 && q.kind != OUT_DEAD) {
		if (write_chunk() == -1)
			return;
		resume();
	}
	q.blocked = 0;
}

/* ---- the log file ---- */

static unsigned long long
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (unsigned long long)ts.tv_sec;
}

/* PATH opened to append to, without following a symbolic link or
 * waiting for a FIFO: and only a regular file with one link, since root
 * opens it in a directory the unprivileged server may write to. */
static int
open_log(const char *path, int create)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY |
	    O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), 0640)) == -1)
		return -1;
	if (fd < 3 && (fd = above_stdio(fd)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* FD takes the place of the file we write to (the same fd number). */
static void
replace(int fd)
{
	struct stat st;

	if (dup3(fd, q.fd, O_CLOEXEC) != -1)
		q.size = fstat(q.fd, &st) == 0 ? (unsigned long long)st.st_size
		    : 0;
	close(fd);
}

/* PATH is no longer the file we write to (moved by the server's
 * rotation or by logrotate): open it again.  The owner, which moves it
 * itself, looks once a second at most; the others (the monitor, which
 * logs little) at every line, so that none goes to a file rotated away
 * meanwhile.  Only the owner creates it; the others wait until it is
 * there again. */
static void
follow(void)
{
	unsigned long long now = now_s();
	struct stat a, b;
	int fd;

	if (q.owner && now == q.checked)
		return;
	q.checked = now;
	if (stat(q.path, &a) == 0) {
		if (fstat(q.fd, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return;
	} else if (errno != ENOENT || !q.owner)
		return;
	if ((fd = open_log(q.path, q.owner)) != -1)
		replace(fd);
}

void
logq_reopen(void)
{
	if (q.path == NULL)
		return;
	q.checked = 0;
	follow();
}

/* Rotation cannot happen (CALL failed with errno): it is off, said once. */
static void
no_rotation(const char *call)
{
	char text[PATH_MAX + 256];
	int len, err = errno;

	q.max = 0;
	len = snprintf(text, sizeof(text), "warn: log_file %s: cannot rotate "
	    "(%s: %s; uid %u needs to write to its directory): it grows "
	    "without bound", q.path, call, strerror(err), (unsigned)geteuid());
	add_line(LOGQ_WARNING, text, len > 0 ? (size_t)len : 0);
}

void
logq_check_rotation(void)
{
	char dir[PATH_MAX], *slash;

	if (q.path == NULL || q.max == 0)
		return;
	snprintf(dir, sizeof(dir), "%s", q.path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (access(dir, W_OK | X_OK) == -1) {
		no_rotation(dir);
		flush_some();
	}
}

/* PATH.1 ... PATH.BACKUPS move up by one, PATH becomes PATH.1, and a new
 * PATH is begun.  This needs the right to rename in PATH's directory:
 * without it rotation stops, said once, and the file grows. */
static void
rotate(void)
{
	const char *what;
	int fd;

	if (rotate_shift(q.path, q.backups, &what) == -1)
		goto fail;
	what = "create";
	if ((fd = open_log(q.path, 1)) == -1)
		goto fail;
	replace(fd);
	q.checked = now_s();
	return;
fail:
	no_rotation(what);
}

int
logq_open_file(const char *path, size_t max, unsigned backups, int owner)
{
	struct stat st;
	char *p;
	int fd;

	logq_init();
	if ((fd = open_log(path, 1)) == -1)
		return -1;
	if ((p = strdup(path)) == NULL || fstat(fd, &st) == -1) {
		free(p);
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	/* What waits for stderr goes there if it can now, else here. */
	flush_some();
	if (q.own)
		close(q.fd);
	q.fd = fd;
	q.own = 1;
	q.kind = OUT_FILE;
	q.journal = 0;
	free(q.path);
	q.path = p;
	q.owner = owner;
	q.max = owner ? max : 0;
	q.backups = backups;
	q.size = (unsigned long long)st.st_size;
	q.checked = now_s();
	flush_some();
	return 0;
}

/* ---- the queue's users ---- */

void
logq_put(int prio, const char *text, size_t len)
{
	logq_init();
	if (q.kind == OUT_DEAD)
		return;
	if (q.path != NULL)
		follow();
	resume();
	add_line(prio, text, len);
	/* A write is tried at once, unless one would block: then the loop
	 * waits for the fd to be writable (poll-only outputs: not watched
	 * by it, so tried each time). */
	if (!q.blocked || q.kind == OUT_POLL || q.kind == OUT_FILE)
		flush_some();
}

int
logq_wait_fd(void)
{
	if (q.len == 0)
		return -1;
	return q.kind == OUT_SOCK || q.kind == OUT_OWN || q.kind == OUT_POLL ?
	    q.fd : -1;
}

void
logq_flush(void)
{
	q.blocked = 0;
	flush_some();
}

void
logq_drain(int ms)
{
	int64_t deadline = clock_ms(CLOCK_MONOTONIC) + ms, left;
	struct pollfd pfd;

	for (;;) {
		logq_flush();
		if (q.len == 0 || q.kind == OUT_DEAD ||
		    (left = deadline - clock_ms(CLOCK_MONOTONIC)) <= 0)
			return;
		pfd.fd = q.fd;
		pfd.events = POLLOUT;
		poll(&pfd, 1, (int)left);
	}
}
