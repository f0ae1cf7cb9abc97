/*
 * The server's side of the monitor: every managed process is started,
 * signalled and reaped by the monitor (monitor/), and this file is the
 * only one that speaks to it.  Requests go out as messages of the fixed
 * set in monitor/monitor.h; answers come back on the loop and are handed
 * to the callbacks the request named, never while anyone waits.  Every
 * message's size is checked before a field is read: a monitor that sends
 * nonsense is treated as gone.
 *
 * Records are found by id in a hash table: thousands of children cost a
 * lookup, not a scan, per message.
 *
 * A new server first says MON_HELLO and waits (the only wait, at start,
 * before any client) for the monitor to tell it what already runs
 * (MON_ADOPT: processes of an earlier server or procctld), each handed
 * to the plugin that started it, then MON_READY.
 *
 * A process whose plugin is not loaded (not loaded after a restart, or
 * being reloaded: `plugin reload`) is held, unclaimed, never killed for
 * it: with what it was started with (the tag), so that the plugin, once
 * loaded, takes it over as it would after a server restart.  One that
 * ends meanwhile is kept until then, and its end is told right after
 * it is handed over.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"
#include "clock.h"
#include "procctld.h"

#define NBUCKETS	4096

struct child {
	uint64_t		 id;
	const void		*owner;
	procctl_started_fn	 started;
	procctl_child_fn	 ended;
	procctl_notify_fn	 notify;	/* what it says, or NULL */
	void			*arg;
	pid_t			 pid;		/* 0 until started */
	int64_t			 asked_us;	/* CLOCK_MONOTONIC: when the
						 * spawn was asked for; 0:
						 * answered, or adopted */
	struct child		*next;		/* hash chain */
	/* What a plugin that takes it over is given (on_adopt): kept from
	 * its spawn or adoption on; the tag owned. */
	struct procctl_adopted	 held;
	/* Its plugin is not loaded: kept (not killed) until it is. */
	char			*unclaimed;	/* the plugin's name, or NULL */
	int			 exited;	/* it ended meanwhile, so: */
	struct procctl_exit	 ex;
	struct child		*offer_next;	/* children_offer's list */
};

static void
unclaimed_free(struct child *c)
{
	free(c->unclaimed);
	c->unclaimed = NULL;
}

static void
child_free(struct child *c)
{
	unclaimed_free(c);
	free((void *)c->held.tag);
	free(c);
}

/* A copy of TAG as the one C keeps: 0, or -1 (no memory). */
static int
hold_tag(struct child *c, const void *tag, size_t len)
{
	void *copy = NULL;

	if (len > 0 && (copy = malloc(len)) == NULL)
		return -1;
	if (len > 0)
		memcpy(copy, tag, len);
	free((void *)c->held.tag);
	c->held.tag = copy;
	c->held.tag_len = len;
	return 0;
}

static int monfd = -1;
static struct watch *mwatch;
static struct buf min, mout;
static struct child *buckets[NBUCKETS];
static uint64_t next_id = 1;
static size_t nchildren;
static children_adopt_fn adopter;	/* the plugin host's */
static children_files_fn on_files;	/* main's */
static void (*on_listen)(int fd);
static int ready;			/* MON_READY seen */

static struct child **
slot(uint64_t id)
{
	struct child **pp;

	for (pp = &buckets[id % NBUCKETS]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id)
			break;
	return pp;
}

static struct child *
take(uint64_t id)
{
	struct child **pp = slot(id), *c = *pp;

	if (c != NULL) {
		*pp = c->next;
		nchildren--;
	}
	return c;
}

/* The monitor is gone or lying: nothing managed can be trusted now. */
static void
monitor_lost(const char *why)
{
	log_error("monitor: %s; stopping", why);
	if (mwatch != NULL)
		loop_unwatch(mwatch);
	mwatch = NULL;
	if (monfd != -1)
		close(monfd);
	monfd = -1;
	loop_stop();
}

static void
flush_out(void)
{
	ssize_t n;

	while (monfd != -1 && buf_avail(&mout) > 0) {
		n = send(monfd, buf_head(&mout), buf_avail(&mout),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(&mout, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		monitor_lost(n == -1 ? strerror(errno) : "closed");
		return;
	}
	if (mwatch != NULL)
		loop_modify(mwatch, LOOP_READ |
		    (buf_avail(&mout) > 0 ? LOOP_WRITE : 0));
}

static int send_msg(uint32_t type, uint64_t id, const void *p, size_t len);

/* started callback of an adopted record: never called (it has its pid),
 * but not NULL, which would mark it orphaned. */
static void
adopted_marker(const struct procctl_started *st, void *arg)
{
	(void)st;
	(void)arg;
}

/* A process whose owner was unloaded: nobody manages it, so it ends. */
static void
kill_orphan(struct child *c)
{
	struct mon_signal m;

	memset(&m, 0, sizeof(m));
	m.flags = MON_SIGNAL_KILL_TREE;
	send_msg(MON_SIGNAL, c->id, &m, sizeof(m));
}

static void
say_unclaimed(const struct child *c)
{
	log_warn("pid %d was started by plugin %s, which is not loaded: it "
	    "runs on, unmanaged, until %s is loaded (plugin load %s; or it "
	    "is, and did not take it back)", (int)c->pid, c->unclaimed,
	    c->unclaimed, c->unclaimed);
}

/* C, unclaimed, to its plugin if that is loaded now: 0, or -1. */
static int
hand_over(struct child *c)
{
	if (adopter == NULL || c->pid == 0 || adopter(c->unclaimed, &c->held,
	    &c->owner, &c->ended, &c->notify, &c->arg) == -1)
		return -1;
	c->started = adopted_marker;
	unclaimed_free(c);
	return 0;
}

/* A process that was starting when its plugin was unloaded to be
 * reloaded: handed over now that it runs, or forgotten if its exec
 * failed (the plugin's old instance answered whoever asked for it). */
static void
started_unclaimed(struct child *c, const struct mon_started *m)
{
	if (m->error != 0 || m->pid <= 0) {
		log_info("plugin %s: a process that was starting when it was "
		    "reloaded did not start: %s", c->unclaimed,
		    strerror(m->error != 0 ? m->error : EIO));
		child_free(take(c->id));
		return;
	}
	c->pid = m->pid;
	if (hand_over(c) == 0)
		log_info("pid %d, started meanwhile, handed over to its "
		    "reloaded plugin", (int)c->pid);
	else
		say_unclaimed(c);
}

static void
on_started(uint64_t id, const struct mon_started *m)
{
	struct procctl_started st;
	struct child *c;

	if ((c = *slot(id)) == NULL || c->pid != 0)
		return;
	if (c->asked_us != 0)
		stats_spawn((uint64_t)(clock_us() - c->asked_us));
	c->asked_us = 0;
	c->held.pid = m->pid;
	c->held.contained = m->contained != 0;
	c->held.started_ms = clock_ms(CLOCK_REALTIME);
	if (c->unclaimed != NULL) {
		started_unclaimed(c, m);
		return;
	}
	if (c->started == NULL) {		/* orphaned while starting */
		if (m->error != 0 || m->pid <= 0)
			child_free(take(id));
		else {
			c->pid = m->pid;
			kill_orphan(c);
		}
		return;
	}
	memset(&st, 0, sizeof(st));
	st.pid = m->pid;
	st.error = m->error;
	st.contained = m->contained != 0;
	if (m->limits & MON_LIMIT_MEMORY_CGROUP)
		st.limits |= PROCCTL_LIMIT_MEMORY_CGROUP;
	if (m->limits & MON_LIMIT_PIDS_CGROUP)
		st.limits |= PROCCTL_LIMIT_PIDS_CGROUP;
	if (m->error != 0 || m->pid <= 0) {
		c = take(id);
		if (st.error == 0)
			st.error = EIO;
		c->started(&st, c->arg);
		child_free(c);
		return;
	}
	c->pid = m->pid;
	c->started(&st, c->arg);
}

static void
on_exited(uint64_t id, const struct mon_exited *m)
{
	struct procctl_exit ex;
	struct child *c;

	if ((c = *slot(id)) == NULL)
		return;
	memset(&ex, 0, sizeof(ex));
	ex.pid = m->pid;
	ex.code = m->code;
	ex.signal = m->signo;
	ex.core_dumped = m->core_dumped;
	ex.unknown = m->unknown != 0;
	ex.oom_killed = m->oom_killed != 0;
	if (c->unclaimed != NULL) {	/* told once it is handed over */
		c->exited = 1;
		c->ex = ex;
		log_info("pid %d (of plugin %s, not loaded) has ended",
		    (int)c->pid, c->unclaimed);
		return;
	}
	c = take(id);
	if (c->ended != NULL)		/* else orphaned: nobody to tell */
		c->ended(&ex, c->arg);
	child_free(c);
}

static int fds_take(size_t n, int *out);

/* The read ends of ID's stdout and stderr that came with its message
 * (NFDS: 0 or 2), to output.c, for a process started at BORN_MS: 0, or
 * -1 (a breach). */
static int
take_output(uint64_t id, uint32_t nfds, int64_t born_ms)
{
	int fds[2];

	if (nfds == 0)
		return 0;
	if (nfds != 2 || fds_take(2, fds) == -1)
		return -1;
	(void)output_attach(id, fds, born_ms);	/* no memory: not captured */
	return 0;
}

/* A process of an earlier server: its plugin's again, or held for it. */
static int
on_adopt(uint64_t id, const char *payload, size_t len)
{
	struct procctl_adopted a;
	struct mon_adopt m;
	const char *owner;
	struct child *c;

	if (len < sizeof(m))
		return -1;
	memcpy(&m, payload, sizeof(m));
	if (m.owner_len == 0 || m.owner_len > MON_MAX_OWNER ||
	    m.tag_len > MON_MAX_TAG ||
	    len != sizeof(m) + m.owner_len + m.tag_len || m.pid <= 0 ||
	    payload[sizeof(m) + m.owner_len - 1] != '\0' || *slot(id) != NULL ||
	    take_output(id, m.nfds, m.started_ms) == -1)
		return -1;
	owner = payload + sizeof(m);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->id = id;
	c->pid = m.pid;
	c->next = buckets[id % NBUCKETS];
	buckets[id % NBUCKETS] = c;
	nchildren++;
	if (id >= next_id)
		next_id = id + 1;
	memset(&a, 0, sizeof(a));
	a.handle = id;
	a.pid = m.pid;
	a.contained = m.contained != 0;
	a.foreign = m.foreign != 0;
	a.tag = m.tag_len > 0 ? payload + sizeof(m) + m.owner_len : NULL;
	a.tag_len = m.tag_len;
	a.started_ms = m.started_ms;
	c->started = adopted_marker;
	c->held = a;
	c->held.tag = NULL;
	c->held.tag_len = 0;
	if (hold_tag(c, a.tag, a.tag_len) == -1)
		log_error("pid %d: out of memory to keep its tag: a reload of "
		    "plugin %s will not know it", (int)m.pid, owner);
	if (adopter != NULL &&
	    adopter(owner, &a, &c->owner, &c->ended, &c->notify, &c->arg) == 0)
		return 0;
	/* Its plugin is not loaded (a typo in the file, a file gone): the
	 * process runs on, and is handed over when the plugin is loaded
	 * (PLUGIN LOAD); it ends with procctld like any other. */
	c->owner = NULL;
	c->ended = NULL;
	if ((c->unclaimed = strdup(owner)) == NULL || (a.tag_len > 0 &&
	    c->held.tag == NULL)) {
		unclaimed_free(c);
		log_error("pid %d: out of memory to keep it: killing it",
		    (int)m.pid);
		kill_orphan(c);
		return 0;
	}
	say_unclaimed(c);
	return 0;
}

/* Plugin NAME has just been loaded: the processes held for it (adopted
 * while it was not loaded, or its own before a reload) are its own now;
 * then the ends of those that ended meanwhile are told. */
void
children_offer(const char *name)
{
	struct child *c, *todo = NULL, *ended = NULL, **tail = &ended;
	size_t i, n = 0;

	/* Listed first: a plugin's adopt function may change the table. */
	for (i = 0; i < NBUCKETS; i++)
		for (c = buckets[i]; c != NULL; c = c->next)
			if (c->unclaimed != NULL && c->pid != 0 &&
			    strcmp(c->unclaimed, name) == 0) {
				c->offer_next = todo;
				todo = c;
			}
	while ((c = todo) != NULL) {
		todo = c->offer_next;
		if (hand_over(c) == -1)
			continue;
		n++;
		if (c->exited) {
			take(c->id);
			c->offer_next = NULL;
			*tail = c;
			tail = &c->offer_next;
		}
	}
	if (n > 0)
		log_info("plugin %s: %zu running process%s handed over", name,
		    n, n == 1 ? "" : "es");
	while ((c = ended) != NULL) {
		ended = c->offer_next;
		c->ended(&c->ex, c->arg);
		child_free(c);
	}
}

/* A MON_FILE_INCLUDE record's LEN bytes at P: a name, its NUL, the
 * file's bytes; into F. */
static int
include_record(struct mon_files *f, const char *p, size_t len)
{
	struct mon_include *inc;
	const char *nul;

	if (f->data[MON_FILE_CONFIG] == NULL || f->ninc >= MON_MAX_INCLUDES ||
	    (nul = memchr(p, '\0', len < PATH_MAX ? len : PATH_MAX)) == NULL ||
	    nul == p)
		return -1;
	if ((inc = realloc(f->inc, (f->ninc + 1) * sizeof(*inc))) == NULL)
		return -1;
	f->inc = inc;
	inc[f->ninc].name = p;
	inc[f->ninc].data = nul + 1;
	inc[f->ninc].len = len - (size_t)(nul + 1 - p);
	f->ninc++;
	return 0;
}

/* MON_FILES: records checked whole before anyone reads one. */
int
children_files_parse(const char *p, size_t len, struct mon_files *f)
{
	struct mon_file r;
	size_t off = 0;

	memset(f, 0, sizeof(*f));
	while (off < len) {
		if (len - off < sizeof(r))
			goto bad;
		memcpy(&r, p + off, sizeof(r));
		off += sizeof(r);
		if (r.len > len - off || r.role == 0 || r.role >= MON_FILE_MAX)
			goto bad;
		if (r.role == MON_FILE_INCLUDE) {
			if (include_record(f, p + off, r.len) == -1)
				goto bad;
		} else if (f->data[r.role] != NULL ||
		    (r.role == MON_FILE_ERROR && r.len > MON_MAX_ERROR))
			goto bad;
		else {
			f->data[r.role] = p + off;
			f->len[r.role] = r.len;
		}
		off += r.len;
	}
	/* An error, or files: never both. */
	if (f->data[MON_FILE_ERROR] != NULL && f->data[MON_FILE_CONFIG] != NULL)
		goto bad;
	return 0;
bad:
	children_files_free(f);
	return -1;
}

void
children_files_free(struct mon_files *f)
{
	free(f->inc);
	memset(f, 0, sizeof(*f));
}

static int
files(uint64_t cookie, const char *p, size_t len)
{
	struct mon_files mf;

	if (children_files_parse(p, len, &mf) == -1)
		return -1;
	if (on_files != NULL)
		on_files(cookie, &mf);
	children_files_free(&mf);
	return 0;
}

/* What a process said: to its plugin, if it listens.  The text is the
 * monitor's, cleaned of control bytes; its length is checked here. */
static int
on_notify(uint64_t id, const char *payload, size_t len)
{
	struct procctl_notify n;
	struct mon_notify m;
	char status[MON_MAX_STATUS + 1];
	struct child *c;

	if (len < sizeof(m))
		return -1;
	memcpy(&m, payload, sizeof(m));
	if (m.status_len > MON_MAX_STATUS || len != sizeof(m) + m.status_len)
		return -1;
	if ((c = *slot(id)) == NULL || c->notify == NULL || c->pid == 0)
		return 0;
	memcpy(status, payload + sizeof(m), m.status_len);
	status[m.status_len] = '\0';
	memset(&n, 0, sizeof(n));
	n.ready = m.ready != 0;
	n.status = m.status_len > 0 ? status : NULL;
	c->notify(&n, c->arg);
	return 0;
}

/* One whole message at P: 0, or -1 when it is not one the set allows. */
static int
handle(const struct mon_hdr *h, const char *payload)
{
	struct mon_started st;
	struct mon_exited ex;
	struct mon_ready r;
	int fd;

	switch (h->type) {
	case MON_ADOPT:
		return on_adopt(h->id, payload, h->len);
	case MON_FILES:
		return files(h->id, payload, h->len);
	case MON_NOTIFY:
		return on_notify(h->id, payload, h->len);
	case MON_LISTEN:
		if (h->len != 0 || fds_take(1, &fd) == -1)
			return -1;
		if (on_listen != NULL)
			on_listen(fd);
		else
			close(fd);
		return 0;
	case MON_READY:
		if (h->len != sizeof(r) || ready)
			return -1;
		memcpy(&r, payload, sizeof(r));
		if (r.next_id > next_id)
			next_id = r.next_id;
		ready = 1;
		return 0;
	case MON_STARTED:
		if (h->len != sizeof(st))
			return -1;
		memcpy(&st, payload, sizeof(st));
		if (take_output(h->id, st.nfds, clock_ms(CLOCK_REALTIME)) == -1)
			return -1;
		on_started(h->id, &st);
		return 0;
	case MON_EXITED:
		if (h->len != sizeof(ex))
			return -1;
		memcpy(&ex, payload, sizeof(ex));
		output_ended(h->id);
		on_exited(h->id, &ex);
		return 0;
	default:
		return -1;
	}
}

/* Every whole message in MIN; -1 once the monitor is lost. */
static int
drain(void)
{
	struct mon_hdr h;

	while (monfd != -1 && buf_avail(&min) >= sizeof(h)) {
		memcpy(&h, buf_head(&min), sizeof(h));
		if (h.len > MON_MAX_PAYLOAD) {
			monitor_lost("a message of impossible size");
			return -1;
		}
		if (buf_avail(&min) < sizeof(h) + h.len)
			break;
		if (handle(&h, buf_head(&min) + sizeof(h)) == -1) {
			monitor_lost("a message outside the set");
			return -1;
		}
		buf_consume(&min, sizeof(h) + h.len);
	}
	if (buf_avail(&min) == 0)
		buf_shrink(&min, 64 * 1024);
	return monfd == -1 ? -1 : 0;
}

/* Fds the monitor sent (SCM_RIGHTS), in the order their messages come:
 * each message that carries some says how many (fds_take). */
#define FDS_HELD_MAX	1024
static int rfds[FDS_HELD_MAX];
static size_t nrfds;

static int
fds_keep(struct msghdr *mh)
{
	struct cmsghdr *c;
	size_t i, n;
	int *fds, bad = (mh->msg_flags & MSG_CTRUNC) != 0;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		fds = (int *)CMSG_DATA(c);
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			if (nrfds < FDS_HELD_MAX)
				rfds[nrfds++] = fds[i];
			else {
				close(fds[i]);
				bad = 1;
			}
		}
	}
	return bad ? -1 : 0;
}

/* The N fds the message being read came with, into OUT: 0, or -1 when
 * they are not there (a breach). */
static int
fds_take(size_t n, int *out)
{
	if (n > nrfds)
		return -1;
	memcpy(out, rfds, n * sizeof(int));
	memmove(rfds, rfds + n, (nrfds - n) * sizeof(int));
	nrfds -= n;
	return 0;
}

static void
fds_drop(void)
{
	while (nrfds > 0)
		close(rfds[--nrfds]);
}

/* One read into MIN: 1, 0 (try later), -1 (lost). */
static int
read_some(int fd)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(MON_MAX_FDS * 4 * sizeof(int))];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;

	if (buf_reserve(&min, 16 * 1024) == -1) {
		monitor_lost("out of memory");
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = min.data + min.len;
	iov.iov_len = min.cap - min.len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n > 0 && fds_keep(&mh) == -1) {
		monitor_lost("too many fds in flight");
		return -1;
	}
	if (n <= 0) {
		monitor_lost(n == 0 ? "it went away" : strerror(errno));
		return -1;
	}
	min.len += (size_t)n;
	return 1;
}

static void
on_monitor(int fd, unsigned events, void *arg)
{
	(void)arg;
	if (events & LOOP_WRITE)
		flush_out();
	if (monfd == -1 || !(events & LOOP_READ))
		return;
	if (read_some(fd) == 1)
		(void)drain();
}

/* A blocking write of what is queued: at start and at the end only. */
static int
flush_blocking(void)
{
	struct pollfd pfd;

	for (;;) {
		flush_out();
		if (monfd == -1)
			return -1;
		if (buf_avail(&mout) == 0)
			return 0;
		pfd.fd = monfd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			return -1;
	}
}

/*
 * The start's one wait: MON_HELLO, then what the monitor says until
 * MON_READY (adoptions handed to their plugins, which must be loaded
 * by now).  The monitor answers at once; a monitor that does not
 * within a minute is taken as lost.
 */
int
children_sync(void)
{
	struct pollfd pfd;
	int r;

	if (send_msg(MON_HELLO, 0, NULL, 0) == -1 || flush_blocking() == -1)
		return -1;
	while (!ready) {
		pfd.fd = monfd;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, 60000)) == 0) {
			monitor_lost("it did not answer MON_HELLO");
			return -1;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 || read_some(monfd) == -1 || drain() == -1)
			return -1;
	}
	if (nchildren > 0)
		log_info("%zu process%s already running, adopted",
		    nchildren, nchildren == 1 ? "" : "es");
	return 0;
}

void
children_set_adopter(children_adopt_fn fn)
{
	adopter = fn;
}

void
children_set_files(children_files_fn fn)
{
	on_files = fn;
}

/* FN takes the Unix socket the monitor made again (MON_LISTEN). */
void
children_set_listen(void (*fn)(int fd))
{
	on_listen = fn;
}

/* Ask the monitor to read the configuration for us; the answer comes to
 * the files function with COOKIE.  0, or -1 (no monitor). */
int
children_reload(uint64_t cookie)
{
	return send_msg(MON_RELOAD, cookie, NULL, 0);
}

int
children_keep(uint64_t cookie)
{
	return send_msg(MON_KEEP, cookie, NULL, 0);
}

int
children_init(int fd)
{
	monfd = fd;
	if ((mwatch = loop_watch(fd, LOOP_READ, on_monitor, NULL)) == NULL)
		return -1;
	return 0;
}

static int
send_msg(uint32_t type, uint64_t id, const void *p, size_t len)
{
	struct mon_hdr h;

	if (monfd == -1)
		return -1;
	memset(&h, 0, sizeof(h));
	h.type = type;
	h.len = (uint32_t)len;
	h.id = id;
	/* Room for all of it first: never half a message in the stream. */
	if (buf_reserve(&mout, sizeof(h) + len) == -1) {
		mout.failed = 0;
		return -1;
	}
	buf_append(&mout, &h, sizeof(h));
	if (len > 0)
		buf_append(&mout, p, len);
	flush_out();
	return 0;
}

static int
put_str(struct buf *b, const char *s)
{
	return buf_append(b, s != NULL ? s : "", strlen(s != NULL ? s : "")
	    + 1);
}

/* Has SPEC, as its plugin's minor built it, a tag (and cwd_pid)? */
static int
spec_has_tag(const struct procctl_spawn *spec)
{
	return spec->size >= offsetof(struct procctl_spawn, cwd_pid) +
	    sizeof(spec->cwd_pid);
}

/* SPEC as a MON_SPAWN payload in B: 0, or -1 (too big, no memory).
 * Members of SPEC past its declared size are not read. */
static int
encode_spawn(struct buf *b, const char *owner,
    const struct procctl_spawn *spec)
{
	const void *tag = NULL;
	size_t tag_len = 0;
	struct mon_spawn m;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.uid = spec->uid;
	m.gid = spec->gid;
	m.umask = spec->umask;
	m.stop_ms = spec->stop_ms;
	if (spec->flags & PROCCTL_SPAWN_INHERIT_OUTPUT)
		m.flags |= MON_SPAWN_INHERIT_OUTPUT;
	else if (spec->flags & PROCCTL_SPAWN_CAPTURE)
		m.flags |= MON_SPAWN_CAPTURE;
	if (spec_has_tag(spec)) {
		tag = spec->tag;
		tag_len = spec->tag != NULL ? spec->tag_len : 0;
		if (spec->cwd == NULL && spec->cwd_pid > 0)
			m.cwd_pid = spec->cwd_pid;
	}
	if (spec->size >= offsetof(struct procctl_spawn, nofile) +
	    sizeof(spec->nofile)) {
		if (spec->ready == PROCCTL_READY_NOTIFY)
			m.ready = MON_RDY_NOTIFY;
		else if (spec->ready == PROCCTL_READY_FD) {
			m.ready = MON_RDY_FD;
			m.ready_fd = (uint32_t)spec->ready_fd;
			if (spec->ready_fd < 3 ||
			    spec->ready_fd > MON_MAX_READY_FD)
				return -1;
		}
		m.memory_max = spec->memory_max;
		m.pids_max = spec->pids_max;
		m.nofile = spec->nofile;
	}
	if (tag_len > MON_MAX_TAG)
		return -1;
	m.tag_len = (uint32_t)tag_len;
	for (i = 0; spec->argv[i] != NULL; i++)
		m.argc++;
	for (i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
		m.envc++;
	buf_append(b, &m, sizeof(m));
	put_str(b, spec->user);
	put_str(b, spec->cwd);
	put_str(b, owner);
	for (i = 0; i < m.argc; i++)
		put_str(b, spec->argv[i]);
	for (i = 0; i < m.envc; i++)
		put_str(b, spec->env[i]);
	if (tag_len > 0)
		buf_append(b, tag, tag_len);
	return b->failed || buf_avail(b) - sizeof(m) > MON_MAX_PAYLOAD ||
	    m.argc == 0 ? -1 : 0;
}

uint64_t
children_spawn(const void *owner, const char *name,
    const struct procctl_spawn *spec, procctl_started_fn started,
    procctl_child_fn ended, void *arg)
{
	struct buf payload = { 0 };
	struct child *c;

	if (monfd == -1 || !ready || spec == NULL || spec->argv == NULL ||
	    started == NULL || ended == NULL)
		return 0;
	if (encode_spawn(&payload, name, spec) == -1 ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		buf_free(&payload);
		return 0;
	}
	c->id = next_id++;
	c->asked_us = clock_us();
	c->owner = owner;
	c->started = started;
	c->ended = ended;
	c->arg = arg;
	if (spec->size >= offsetof(struct procctl_spawn, notify) +
	    sizeof(spec->notify))
		c->notify = spec->notify;
	c->held.handle = c->id;		/* the rest once it has started */
	if ((spec_has_tag(spec) && spec->tag != NULL && hold_tag(c, spec->tag,
	    spec->tag_len) == -1) || send_msg(MON_SPAWN, c->id,
	    buf_head(&payload), buf_avail(&payload)) == -1) {
		buf_free(&payload);
		child_free(c);
		return 0;
	}
	buf_free(&payload);
	c->next = buckets[c->id % NBUCKETS];
	buckets[c->id % NBUCKETS] = c;
	nchildren++;
	return c->id;
}

int
children_signal(const void *owner, uint64_t id, int signo, unsigned flags)
{
	struct mon_signal m;
	struct child *c = *slot(id);

	if (c == NULL || c->owner != owner || c->pid == 0)
		return -1;
	memset(&m, 0, sizeof(m));
	m.signo = signo;
	if (flags & PROCCTL_SIGNAL_TREE)
		m.flags |= MON_SIGNAL_TREE;
	if (flags & PROCCTL_SIGNAL_KILL)
		m.flags |= MON_SIGNAL_KILL_TREE;
	return send_msg(MON_SIGNAL, id, &m, sizeof(m));
}

/*
 * OWNER's callbacks must not run again.  HOLD_FOR NULL: its processes,
 * which nobody manages now, are killed (those still starting once they
 * have).  Else OWNER is being reloaded: they are held for the plugin of
 * that name (children_offer), those still starting once they have.
 */
static void
release_owner(const void *owner, const char *hold_for)
{
	struct child *c;
	size_t i;

	for (i = 0; i < NBUCKETS; i++)
		for (c = buckets[i]; c != NULL; c = c->next) {
			if (c->owner != owner)
				continue;
			c->owner = NULL;
			c->started = NULL;
			c->ended = NULL;
			c->notify = NULL;
			c->arg = NULL;
			if (hold_for != NULL &&
			    (c->unclaimed = strdup(hold_for)) != NULL)
				continue;
			if (hold_for != NULL)
				log_error("pid %d: out of memory to hold it for "
				    "plugin %s: killing it", (int)c->pid,
				    hold_for);
			if (c->pid != 0)
				kill_orphan(c);
		}
}

void
children_forget_owner(const void *owner)
{
	release_owner(owner, NULL);
}

void
children_hold_owner(const void *owner, const char *name)
{
	release_owner(owner, name);
}

size_t
children_count(void)
{
	return nchildren;
}

/* The client count the monitor passes on to the service manager
 * (STATUS=): told on change, at most once per CLIENTS_MS; the last
 * change of a burst is told when its time comes. */
#define CLIENTS_MS	1000
static size_t clients_now, clients_told;
static uint64_t clients_at;		/* told then (loop ms) */
static uint64_t clients_timer;		/* a later telling is due */

static void
tell_clients(void *arg)
{
	struct mon_clients m;

	(void)arg;
	clients_timer = 0;
	if (clients_now == clients_told || !ready)
		return;
	memset(&m, 0, sizeof(m));
	m.clients = clients_now > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)clients_now;
	if (send_msg(MON_CLIENTS, 0, &m, sizeof(m)) == 0) {
		clients_told = clients_now;
		clients_at = loop_now_ms();
	}
}

/* Once a loop turn (main.c): N clients are connected now. */
void
children_clients(size_t n)
{
	uint64_t now;

	clients_now = n;
	if (n == clients_told || clients_timer != 0 || monfd == -1 || !ready)
		return;
	now = loop_now_ms();
	if (clients_at == 0 || now - clients_at >= CLIENTS_MS)
		tell_clients(NULL);
	else
		clients_timer = loop_timer_add(clients_at + CLIENTS_MS - now,
		    tell_clients, NULL);
}

/* The reload a SIGHUP asked for is over (applied or not): the monitor
 * tells the service manager it is ready again. */
void
children_reloaded(void)
{
	(void)send_msg(MON_RELOADED, 0, NULL, 0);
}

/* The server stops: the monitor ends every process (each given its
 * stop_ms) and exits once they are gone; with LEAVE (live_restore) it
 * leaves them running for the next procctld.  UPGRADE instead: the
 * monitor re-execs itself once we are gone, and everything goes on.  A
 * blocking write: the loop is over. */
static void
say_last(uint32_t type, const void *p, size_t len)
{
	if (clients_timer != 0)
		loop_timer_cancel(clients_timer);
	clients_timer = 0;
	if (monfd == -1)
		return;
	if (send_msg(type, 0, p, len) == 0)
		(void)flush_blocking();
	if (mwatch != NULL)
		loop_unwatch(mwatch);
	mwatch = NULL;
	if (monfd != -1)
		close(monfd);
	monfd = -1;
}

void
children_shutdown(int leave)
{
	struct mon_shutdown m;

	memset(&m, 0, sizeof(m));
	if (leave)
		m.flags |= MON_SHUTDOWN_LEAVE;
	say_last(MON_SHUTDOWN, &m, sizeof(m));
}

/* start() failed: the monitor keeps every process and restarts a server
 * (or, at procctld's own start, fails it and leaves them running). */
void
children_failed(void)
{
	say_last(MON_FAILED, NULL, 0);
}

void
children_upgrade(void)
{
	say_last(MON_UPGRADE, NULL, 0);
}

void
children_free(void)
{
	size_t i;
	struct child *c;

	for (i = 0; i < NBUCKETS; i++)
		while ((c = buckets[i]) != NULL) {
			buckets[i] = c->next;
			child_free(c);
		}
	nchildren = 0;
	buf_free(&min);
	buf_free(&mout);
	fds_drop();
	output_free_all();
	logfile_stop();		/* what waits for a disk is written */
}
