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
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "monitor.h"
#include "procctld.h"

#define NBUCKETS	4096

struct child {
	uint64_t		 id;
	const void		*owner;
	procctl_started_fn	 started;
	procctl_child_fn	 ended;
	void			*arg;
	pid_t			 pid;		/* 0 until started */
	struct child		*next;		/* hash chain */
};

static int monfd = -1;
static struct watch *mwatch;
static struct buf min, mout;
static struct child *buckets[NBUCKETS];
static uint64_t next_id = 1;
static size_t nchildren;

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
on_started(uint64_t id, const struct mon_started *m)
{
	struct procctl_started st;
	struct child *c;

	if ((c = *slot(id)) == NULL || c->pid != 0)
		return;
	if (c->started == NULL) {		/* orphaned while starting */
		if (m->error != 0 || m->pid <= 0)
			free(take(id));
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
	if (m->error != 0 || m->pid <= 0) {
		c = take(id);
		if (st.error == 0)
			st.error = EIO;
		c->started(&st, c->arg);
		free(c);
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

	if ((c = take(id)) == NULL)
		return;
	if (c->ended == NULL) {			/* orphaned: nobody to tell */
		free(c);
		return;
	}
	memset(&ex, 0, sizeof(ex));
	ex.pid = m->pid;
	ex.code = m->code;
	ex.signal = m->signo;
	ex.core_dumped = m->core_dumped;
	c->ended(&ex, c->arg);
	free(c);
}

/* One whole message at P: 0, or -1 when it is not one the set allows. */
static int
handle(const struct mon_hdr *h, const char *payload)
{
	struct mon_started st;
	struct mon_exited ex;

	switch (h->type) {
	case MON_STARTED:
		if (h->len != sizeof(st))
			return -1;
		memcpy(&st, payload, sizeof(st));
		on_started(h->id, &st);
		return 0;
	case MON_EXITED:
		if (h->len != sizeof(ex))
			return -1;
		memcpy(&ex, payload, sizeof(ex));
		on_exited(h->id, &ex);
		return 0;
	default:
		return -1;
	}
}

static void
on_monitor(int fd, unsigned events, void *arg)
{
	struct mon_hdr h;
	ssize_t n;

	(void)arg;
	if (events & LOOP_WRITE)
		flush_out();
	if (monfd == -1 || !(events & LOOP_READ))
		return;
	if (buf_reserve(&min, 16 * 1024) == -1) {
		monitor_lost("out of memory");
		return;
	}
	n = read(fd, min.data + min.len, min.cap - min.len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		monitor_lost(n == 0 ? "it went away" : strerror(errno));
		return;
	}
	min.len += (size_t)n;
	while (monfd != -1 && buf_avail(&min) >= sizeof(h)) {
		memcpy(&h, buf_head(&min), sizeof(h));
		if (h.len > MON_MAX_PAYLOAD) {
			monitor_lost("a message of impossible size");
			return;
		}
		if (buf_avail(&min) < sizeof(h) + h.len)
			break;
		if (handle(&h, buf_head(&min) + sizeof(h)) == -1) {
			monitor_lost("a message outside the set");
			return;
		}
		buf_consume(&min, sizeof(h) + h.len);
	}
	if (buf_avail(&min) == 0)
		buf_shrink(&min, 64 * 1024);
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

/* SPEC as a MON_SPAWN payload in B: 0, or -1 (too big, no memory). */
static int
encode_spawn(struct buf *b, const struct procctl_spawn *spec)
{
	struct mon_spawn m;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.uid = spec->uid;
	m.gid = spec->gid;
	m.umask = spec->umask;
	m.stop_ms = spec->stop_ms;
	if (spec->flags & PROCCTL_SPAWN_INHERIT_OUTPUT)
		m.flags |= MON_SPAWN_INHERIT_OUTPUT;
	if (spec->uid != getuid())
		m.flags |= MON_SPAWN_SET_IDS;
	for (i = 0; spec->argv[i] != NULL; i++)
		m.argc++;
	for (i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
		m.envc++;
	buf_append(b, &m, sizeof(m));
	put_str(b, spec->user);
	put_str(b, spec->cwd);
	for (i = 0; i < m.argc; i++)
		put_str(b, spec->argv[i]);
	for (i = 0; i < m.envc; i++)
		put_str(b, spec->env[i]);
	return b->failed || buf_avail(b) - sizeof(m) > MON_MAX_PAYLOAD ||
	    m.argc == 0 ? -1 : 0;
}

uint64_t
children_spawn(const void *owner, const struct procctl_spawn *spec,
    procctl_started_fn started, procctl_child_fn ended, void *arg)
{
	struct buf payload = { 0 };
	struct child *c;

	if (monfd == -1 || spec == NULL || spec->argv == NULL ||
	    started == NULL || ended == NULL)
		return 0;
	if (encode_spawn(&payload, spec) == -1 ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		buf_free(&payload);
		return 0;
	}
	c->id = next_id++;
	c->owner = owner;
	c->started = started;
	c->ended = ended;
	c->arg = arg;
	if (send_msg(MON_SPAWN, c->id, buf_head(&payload),
	    buf_avail(&payload)) == -1) {
		buf_free(&payload);
		free(c);
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

/* OWNER's callbacks must not run again; its processes, which nobody
 * manages now, are killed (those still starting once they have). */
void
children_forget_owner(const void *owner)
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
			c->arg = NULL;
			if (c->pid != 0)
				kill_orphan(c);
		}
}

size_t
children_count(void)
{
	return nchildren;
}

/* The server stops: the monitor ends every process (each given its
 * stop_ms) and exits once they are gone.  A blocking write: the loop is
 * over. */
void
children_shutdown(void)
{
	struct mon_hdr h;
	ssize_t n;

	if (monfd == -1)
		return;
	memset(&h, 0, sizeof(h));
	h.type = MON_SHUTDOWN;
	(void)buf_append(&mout, &h, sizeof(h));
	while (buf_avail(&mout) > 0) {
		n = send(monfd, buf_head(&mout), buf_avail(&mout),
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_consume(&mout, (size_t)n);
	}
	if (mwatch != NULL)
		loop_unwatch(mwatch);
	mwatch = NULL;
	close(monfd);
	monfd = -1;
}

void
children_free(void)
{
	size_t i;
	struct child *c;

	for (i = 0; i < NBUCKETS; i++)
		while ((c = buckets[i]) != NULL) {
			buckets[i] = c->next;
			free(c);
		}
	nchildren = 0;
	buf_free(&min);
	buf_free(&mout);
}
