/*
 * The monitor's loop: the server's messages, signals, exec results and
 * cgroup events, in one thread around one poll().  What it guarantees:
 *
 *  - Nothing in the loop waits for a managed process.  A child stopped
 *    before exec, a tree slow to die, each waits alone on its own fd; only
 *    a write of a small message to the server may block.
 *  - Every message's size is checked before a field is read; one that
 *    does not fit is logged and taken as MON_SHUTDOWN.
 *  - Per process the server hears MON_STARTED once, then (if it started)
 *    MON_EXITED once, and only after the whole tree has gone: its cgroup
 *    empty, or without cgroups its process group killed.
 *  - At the end every tree gets SIGTERM, then SIGKILL after its stop_ms;
 *    the monitor waits for them (bounded), then exits.
 *  - Orphans of managed trees come to us (child subreaper) and are reaped.
 */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mon.h"

#define GIVE_UP_MS	5000	/* past the longest stop_ms */

struct proc {
	LIST_ENTRY(proc) link;
	uint64_t	 id;
	pid_t		 pid;
	int		 contained;	/* it has its own cgroup, p<id>: opened
					 * when needed, not held (every
					 * spawned child would inherit the
					 * open fds) */
	int		 statusfd;	/* exec-status pipe until read, or -1 */
	int		 evfd;		/* cgroup.events while the tree drains */
	int		 error;		/* why it did not start, or 0 */
	int		 started;	/* MON_STARTED sent */
	int		 reaped;
	int		 status;	/* from waitpid */
	uint32_t	 stop_ms;
	int		 killed;	/* shutdown: SIGKILL sent */
	int64_t		 kill_at;	/* shutdown: SIGKILL due (ms) */
};

static LIST_HEAD(, proc) procs = LIST_HEAD_INITIALIZER(procs);
static size_t nprocs;
static struct pollfd *pfds;	/* server, signals, then one per proc */
static struct proc **pprocs;	/* pfds[i + 2] is pprocs[i]'s */
static size_t pcap;

static int sfd, sigfd;
static pid_t server;
static int server_gone;		/* writes are dropped */
static char *obuf;		/* messages not yet written to the server */
static size_t olen, ocap;
static int server_done;		/* reads have ended */
static int server_reaped, server_status;
static int shutting;
static int64_t give_up_at;

/* Room for the largest message whole (SOCK_SEQPACKET would truncate)
 * whatever part of one a stream left behind. */
static char rbuf[2 * (sizeof(struct mon_hdr) + MON_MAX_PAYLOAD)];
static size_t rlen;

void
mon_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "procctld: monitor: %s\n", line);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void shutdown_begin(void);

/* Write what is queued for the server without ever waiting for it: a
 * server that does not read (stopped, busy, or itself writing to us)
 * must not freeze reaping and signalling.  The rest goes on POLLOUT. */
static void
flush_server(void)
{
	ssize_t w;

	while (olen > 0 && !server_gone) {
		w = send(sfd, obuf, olen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			memmove(obuf, obuf + w, olen - (size_t)w);
			olen -= (size_t)w;
		} else if (w == -1 && errno == EINTR)
			continue;
		else if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		else {
			server_gone = 1;	/* nobody to tell any more */
			olen = 0;
		}
	}
}

/* Queue one message (at most two per process: memory stays bounded by
 * the processes); a server gone is no error. */
static void
send_msg(uint32_t type, uint64_t id, const void *body, uint32_t len)
{
	struct mon_hdr h = { type, len, id };
	size_t n = sizeof(h) + len, cap;
	char *grown;

	if (server_gone)
		return;
	if (olen + n > ocap) {
		for (cap = ocap ? ocap : 4096; cap < olen + n; cap *= 2)
			;
		if ((grown = realloc(obuf, cap)) == NULL) {
			mon_log("out of memory for messages to the server");
			shutdown_begin();
			return;
		}
		obuf = grown;
		ocap = cap;
	}
	memcpy(obuf + olen, &h, sizeof(h));
	memcpy(obuf + olen + sizeof(h), body, len);
	olen += n;
	flush_server();
}

static void
send_started(uint64_t id, pid_t pid, int error, int contained)
{
	struct mon_started m = { pid, error, contained, 0 };

	send_msg(MON_STARTED, id, &m, sizeof(m));
}

static void
send_exited(const struct proc *p)
{
	struct mon_exited m = { p->pid, -1, 0, 0 };

	if (WIFEXITED(p->status))
		m.code = WEXITSTATUS(p->status);
	else if (WIFSIGNALED(p->status)) {
		m.signo = WTERMSIG(p->status);
		m.core_dumped = WCOREDUMP(p->status) != 0;
	}
	send_msg(MON_EXITED, p->id, &m, sizeof(m));
}

static struct proc *
proc_find(uint64_t id)
{
	struct proc *p;

	LIST_FOREACH(p, &procs, link)
		if (p->id == id)
			return p;
	return NULL;
}

static void
proc_free(struct proc *p)
{
	if (p->statusfd != -1)
		close(p->statusfd);
	if (p->evfd != -1)
		close(p->evfd);
	if (p->contained)
		cgroup_remove(-1, p->id);
	LIST_REMOVE(p, link);
	nprocs--;
	free(p);
}

/* SIGNO to P's whole tree: its cgroup's members, or without one its
 * process group (the child made its own session) and P itself. */
static void
tree_signal(struct proc *p, int signo)
{
	int leaf;

	if (p->contained) {
		if ((leaf = cgroup_open(p->id)) == -1)
			return;
		if (signo == SIGKILL)
			cgroup_kill(leaf);
		else
			cgroup_signal(leaf, signo);
		close(leaf);
		return;
	}
	/* Never kill(0) or kill(-1): a record without a pid is nobody. */
	if (p->reaped || p->pid <= 1)
		return;		/* its group was killed as it was reaped */
	kill(-p->pid, signo);
	kill(p->pid, signo);
}

/*
 * Move P on after anything about it changed; frees it once done.  The
 * exec result comes first (the pipe may report after the reap); a child
 * that failed is killed, which a stopped one would otherwise not do; a
 * main process reaped leaves its tree to be killed and drained.
 */
static void
proc_step(struct proc *p)
{
	int leaf;

	if (p->statusfd != -1)
		return;
	if (p->error != 0) {
		if (!p->started) {
			send_started(p->id, 0, p->error, 0);
			p->started = 1;
			if (!p->reaped && p->pid > 1)
				kill(p->pid, SIGKILL);
		}
		if (p->reaped)
			proc_free(p);
		return;
	}
	if (!p->started) {
		send_started(p->id, p->pid, 0, p->contained);
		p->started = 1;
	}
	if (!p->reaped)
		return;
	if (p->contained && p->evfd == -1 &&
	    (leaf = cgroup_open(p->id)) != -1) {
		if ((p->evfd = cgroup_events(leaf)) != -1 &&
		    cgroup_populated(p->evfd) == 1)
			cgroup_kill(leaf);
		close(leaf);
	}
	if (p->evfd != -1 && cgroup_populated(p->evfd) == 1)
		return;		/* POLLPRI on cgroup.events says when */
	if (p->contained) {	/* gone before the server hears of it */
		cgroup_remove(-1, p->id);
		p->contained = 0;
	}
	send_exited(p);
	proc_free(p);
}

static void
read_status(struct proc *p)
{
	ssize_t n;
	int err = 0;

	if ((n = read(p->statusfd, &err, sizeof(err))) == -1 &&
	    (errno == EAGAIN || errno == EINTR))
		return;
	if (n != 0)
		p->error = n == sizeof(err) && err > 0 ? err : EIO;
	close(p->statusfd);
	p->statusfd = -1;
}

/* End every tree: SIGTERM now (and SIGCONT, for a stopped one), SIGKILL
 * after its stop_ms, and give up on stragglers after the longest. */
static void
shutdown_begin(void)
{
	struct proc *p;
	int64_t now = now_ms(), last = now;

	if (shutting)
		return;
	shutting = 1;
	server_done = 1;	/* nothing more is read */
	LIST_FOREACH(p, &procs, link) {
		p->killed = p->reaped || p->error != 0;
		p->kill_at = now + p->stop_ms;
		if (p->kill_at > last)
			last = p->kill_at;
		if (!p->killed) {
			tree_signal(p, SIGTERM);
			tree_signal(p, SIGCONT);
		}
	}
	give_up_at = last + GIVE_UP_MS;
}

/* Shutdown: SIGKILL what is due; how long poll may sleep. */
static int
shutdown_tick(void)
{
	struct proc *p;
	int64_t now = now_ms(), due = give_up_at;

	if (!shutting)
		return -1;
	LIST_FOREACH(p, &procs, link) {
		if (!p->killed && p->kill_at <= now) {
			p->killed = 1;
			if (!p->reaped && p->started)
				mon_log("%d did not end on SIGTERM within %u "
				    "ms: SIGKILL", (int)p->pid,
				    (unsigned)p->stop_ms);
			tree_signal(p, SIGKILL);
		}
		if (!p->killed && p->kill_at < due)
			due = p->kill_at;
	}
	return due <= now ? 0 : due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

/* Each child that ended: a main process without a cgroup has its group
 * killed while its zombie still holds the pid (no reuse can intervene),
 * then is reaped; an orphan is only reaped. */
static void
reap(void)
{
	struct proc *p;
	siginfo_t si;
	pid_t pid;
	int st;

	for (;;) {
		si.si_pid = 0;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    (pid = si.si_pid) == 0)
			break;
		LIST_FOREACH(p, &procs, link)
			if (p->pid == pid && !p->reaped)
				break;
		if (p != NULL && !p->contained)
			kill(-pid, SIGKILL);
		if (waitpid(pid, &st, WNOHANG) != pid)
			break;
		if (pid == server) {
			server_reaped = 1;
			server_status = st;
			shutdown_begin();
			continue;
		}
		if (p == NULL)
			continue;	/* an orphan: reaped is all */
		p->reaped = 1;
		p->status = st;
		proc_step(p);
	}
}

/* SIGTERM or SIGINT asks the server to shut us down (it answers
 * MON_SHUTDOWN); SIGHUP (reload) is the server's business too; SIGCHLD
 * means reaping.  The monitor is the pid a service manager knows. */
static void
read_signals(void)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (shutting || server <= 0)
			continue;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			kill(server, SIGTERM);
		else if (si.ssi_signo == SIGHUP)
			kill(server, SIGHUP);
	}
	reap();
}

/* Room in the poll set for N processes: made before a spawn, so that
 * building the set never fails. */
static int
poll_room(size_t n)
{
	struct pollfd *f;
	struct proc **pp;

	if (n <= pcap)
		return 0;
	n = n < 2 * pcap ? 2 * pcap : n;
	if ((f = reallocarray(pfds, n + 2, sizeof(*f))) == NULL)
		return -1;
	pfds = f;
	if ((pp = reallocarray(pprocs, n, sizeof(*pp))) == NULL)
		return -1;
	pprocs = pp;
	pcap = n;
	return 0;
}

static size_t
poll_build(void)
{
	struct proc *p;
	size_t n = 0;

	pfds[0] = (struct pollfd){ server_done && olen == 0 ? -1 : sfd,
	    (short)((server_done ? 0 : POLLIN) | (olen > 0 ? POLLOUT : 0)), 0 };
	pfds[1] = (struct pollfd){ sigfd, POLLIN, 0 };
	LIST_FOREACH(p, &procs, link) {
		if (p->statusfd != -1)
			pfds[n + 2] = (struct pollfd){ p->statusfd, POLLIN, 0 };
		else if (p->evfd != -1)
			pfds[n + 2] = (struct pollfd){ p->evfd, POLLPRI, 0 };
		else
			continue;
		pprocs[n++] = p;
	}
	return n + 2;
}

static int
on_spawn(const struct mon_hdr *h, char *body)
{
	struct spawn_req r;
	struct proc *p = NULL;
	int err = 0, contained, leaf;

	if (spawn_parse(body, h->len, &r) == -1)
		return -1;
	/* A live id again: the server has lost track; no answer would be
	 * unambiguous, so it is a protocol error. */
	if (proc_find(h->id) != NULL) {
		spawn_free(&r);
		return -1;
	}
	if (poll_room(nprocs + 1) == -1 ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		err = ENOMEM;
	else {
		p->id = h->id;
		p->stop_ms = r.s.stop_ms;
		p->statusfd = p->evfd = -1;
		leaf = cgroup_leaf(h->id);
		if ((p->pid = spawn_start(&r, leaf, &p->statusfd,
		    &contained)) == -1)
			err = errno;
		p->contained = leaf != -1 && contained && err == 0;
		if (leaf != -1 && !p->contained)
			cgroup_remove(leaf, p->id);
		else if (leaf != -1)
			close(leaf);
	}
	spawn_free(&r);
	if (err != 0) {
		send_started(h->id, 0, err, 0);
		free(p);
		return 0;
	}
	LIST_INSERT_HEAD(&procs, p, link);
	nprocs++;
	return 0;
}

static int
on_signal(const struct mon_hdr *h, const char *body)
{
	struct mon_signal s;
	struct proc *p;

	if (h->len != sizeof(s))
		return -1;
	memcpy(&s, body, sizeof(s));
	if ((s.flags & ~(MON_SIGNAL_TREE | MON_SIGNAL_KILL_TREE)) != 0 ||
	    (!(s.flags & MON_SIGNAL_KILL_TREE) &&
	    (s.signo <= 0 || s.signo >= NSIG))) {
		mon_log("MON_SIGNAL: bad signal %d or flags %#x, ignored",
		    s.signo, s.flags);
		return 0;
	}
	/* Gone already: its MON_EXITED is on the way. */
	if ((p = proc_find(h->id)) == NULL || p->reaped || p->error != 0)
		return 0;
	if (s.flags & MON_SIGNAL_KILL_TREE)
		tree_signal(p, SIGKILL);
	else if (s.flags & MON_SIGNAL_TREE)
		tree_signal(p, s.signo);
	else
		kill(p->pid, s.signo);
	return 0;
}

static int
dispatch(const struct mon_hdr *h, char *body)
{
	switch (h->type) {
	case MON_SPAWN:
		return on_spawn(h, body);
	case MON_SIGNAL:
		return on_signal(h, body);
	case MON_SHUTDOWN:
		if (h->len != 0)
			return -1;
		shutdown_begin();
		return 0;
	default:
		return -1;
	}
}

/* One read, then every whole message in the buffer. */
static void
server_read(void)
{
	struct mon_hdr h;
	size_t off = 0;
	ssize_t n;

	n = recv(sfd, rbuf + rlen, sizeof(rbuf) - rlen, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		shutdown_begin();
		return;
	}
	rlen += n;
	while (!server_done && rlen - off >= sizeof(h)) {
		memcpy(&h, rbuf + off, sizeof(h));
		if (h.len <= MON_MAX_PAYLOAD && rlen - off - sizeof(h) < h.len)
			break;		/* the rest is still on its way */
		if (h.len > MON_MAX_PAYLOAD ||
		    dispatch(&h, rbuf + off + sizeof(h)) == -1) {
			mon_log("malformed message (type %u, length %u): "
			    "shutting down", h.type, h.len);
			shutdown_begin();
			break;
		}
		off += sizeof(h) + h.len;
	}
	memmove(rbuf, rbuf + off, rlen - off);
	rlen -= off;
}

static void
setup(int fd, pid_t srv)
{
	sigset_t set;

	sfd = fd;
	server = srv;
	prctl(PR_SET_NAME, "procctld: mon");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		mon_log("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	signal(SIGCHLD, SIG_DFL);	/* ignored, children reap themselves */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    poll_room(16) == -1) {
		mon_log("cannot start: %s", strerror(errno));
		_exit(1);
	}
	cgroup_init();
	reap();		/* whatever ended before the signalfd */
}

void
monitor_main(int fd, pid_t srv)
{
	struct proc *p;
	size_t i, n;
	int timeout;
	pid_t r;

	setup(fd, srv);
	for (;;) {
		timeout = shutdown_tick();
		if (shutting && (LIST_EMPTY(&procs) || now_ms() >= give_up_at))
			break;
		n = poll_build();
		if (poll(pfds, n, timeout) == -1) {
			if (errno != EINTR)
				mon_log("poll: %s", strerror(errno));
			continue;
		}
		/* Each proc's fd first: handling one frees none other. */
		for (i = 2; i < n; i++) {
			if (pfds[i].revents == 0)
				continue;
			p = pprocs[i - 2];
			if (pfds[i].fd == p->statusfd)
				read_status(p);
			proc_step(p);
		}
		if (pfds[1].revents)
			read_signals();
		if (pfds[0].revents & POLLOUT)
			flush_server();
		if (pfds[0].revents & ~POLLOUT)
			server_read();
	}
	while ((p = LIST_FIRST(&procs)) != NULL) {
		mon_log("gave up waiting for pid %d", (int)p->pid);
		if (p->contained)
			tree_signal(p, SIGKILL);
		proc_free(p);
	}
	cgroup_fini();
	/* The server learns we are done now, not from PDEATHSIG later. */
	close(sfd);
	free(obuf);
	/* The server is ending (it closed its end): its status is ours, so
	 * a failed start-up fails procctld.  Waited for a few seconds at
	 * most, and never signalled: one that lingers gets SIGTERM from the
	 * kernel when we are gone (PR_SET_PDEATHSIG). */
	for (i = 0; !server_reaped && server > 0 && i < 500; i++) {
		r = waitpid(server, &server_status, WNOHANG);
		if (r == server)
			server_reaped = 1;
		else if (r == -1)
			break;		/* not our child (a test drives us) */
		else
			usleep(10000);
	}
	_exit(server_reaped && !(WIFEXITED(server_status) &&
	    WEXITSTATUS(server_status) == 0));
}
