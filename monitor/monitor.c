/*
 * The monitor's loop: the server's messages, signals, exec results, exits
 * and cgroup events, in one thread around one epoll.  It starts the server
 * (a fresh exec of procctld, handed the listening sockets), restarts it
 * with backoff when it dies and tells each new one what runs; it
 * re-execs itself for `daemon upgrade`.  What it guarantees:
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
 *  - Nothing costs a scan of every process: each has a pidfd (its exit
 *    is one waitid on it), records are found by id in a hash, and the
 *    fds are in an epoll set.  Orphans of managed trees come to us (child
 *    subreaper) and are reaped by a scan of our children at most every
 *    SCAN_MS, after the turn's events (so it seldom meets a process a
 *    pidfd has told of): a zombie holds nothing but a pid meanwhile.
 *  - What runs is in the state file (state.c) at every moment, so a later
 *    monitor adopts what survives a crash of both processes.
 */
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logq.h"
#include "clock.h"
#include "mon.h"

#define GIVE_UP_MS	5000	/* past the longest stop_ms */
#define BACKOFF_MIN_MS	100	/* a dead server is restarted after this, */
#define BACKOFF_MAX_MS	10000	/* doubling per quick death up to this; */
#define STABLE_MS	10000	/* up this long, it died of something new */
#define SCAN_MS		100	/* orphans are reaped this often at most */
#define NBUCKETS	1024
#define STATUS_QUEUE_MAX (64 * 1024) /* queued to the server: no STATUS=
				 * forwarded past this */

#ifndef P_PIDFD
#define P_PIDFD		3
#endif

static struct proclist procs = LIST_HEAD_INITIALIZER(procs);
static struct proclist byid[NBUCKETS];
static struct proclist graveyard = LIST_HEAD_INITIALIZER(graveyard);
static size_t nprocs;

static int epfd = -1;
static char w_server, w_signals, w_srvpid, w_notify, w_log; /* what an
						 * event is about */
static int log_fd = -1;		/* logq's fd, in the set while lines wait */
static uint32_t srv_events;	/* the server's fd in the set for, or 0 */
static int srv_pidfd = -1;
static int chld_pending;	/* SIGCHLD: orphans may wait to be reaped */
static int64_t next_scan;

static const struct monitor_args *args;
static int exe_fd = -1;		/* our own binary: what servers run */
static dev_t sock_dev;		/* the socket we bound, to unlink it only */
static ino_t sock_ino;		/* if it is still ours */

static int sigfd;
static pid_t server;		/* 0: none running */
static int server_done;		/* reads have ended */
static int server_failed;	/* MON_FAILED: it could not start */
static int server_hello;	/* this server said MON_HELLO */
static int ever_ready;		/* some server did: restart, don't fail */
static int server_status;	/* the last server's wait status */
static int64_t server_since;	/* when it was started (ms) */
static int64_t restart_at;	/* a restart is due (ms), or 0 */
static unsigned fails;		/* quick deaths in a row */
static int upgrading;		/* MON_UPGRADE: re-exec once it is gone */
static int stop_asked;		/* SIGTERM or SIGINT came to us */
static int leave;		/* live_restore: exit, leave them running */
static int shutting;
static int64_t give_up_at;
static uint64_t max_id;		/* the largest id we have seen */
static size_t clients;		/* the server's, as it said (MON_CLIENTS) */


/* The monitor's lines are notices (syslog priority 5): it logs only
 * what is worth noticing.  Escaped, queued and written when stderr can
 * take them (common/logq.c): the parent of every process never waits
 * for whoever reads its log. */
void
mon_log(const char *fmt, ...)
{
	char line[LOGQ_TEXT_MAX];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "monitor: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	logq_put(LOGQ_NOTICE, line, strlen(line));
}

/* The monitor ends: what its log holds is written first (for a second
 * at most: a stderr nobody reads does not keep it). */
static void __attribute__((noreturn))
mon_exit(int code)
{
	logq_drain(LOGQ_DRAIN_MS);
	_exit(code);
}

static void shutdown_begin(void);
static void socket_again(void);

/* Queue a message for the server (see msg.c); out of memory, the
 * monitor cannot keep its word to anyone: it ends it all. */
static void
send_parts(uint32_t type, uint64_t id, const void *body, uint32_t len,
    const void *more, uint32_t morelen, const void *last, uint32_t lastlen,
    const int *fds, int nfds)
{
	struct iovec iov[3] = { { (void *)body, len }, { (void *)more,
	    morelen }, { (void *)last, lastlen } };

	if (msg_send_fds(type, id, iov, 3, fds, nfds) == -1) {
		mon_log("out of memory for messages to the server");
		shutdown_begin();
	}
}

static void
send_msg(uint32_t type, uint64_t id, const void *body, uint32_t len)
{
	send_parts(type, id, body, len, NULL, 0, NULL, 0, NULL, 0);
}

static void
send_started(const struct proc *p, pid_t pid, int error)
{
	struct mon_started m;
	struct iovec iov = { &m, sizeof(m) };

	memset(&m, 0, sizeof(m));
	m.pid = pid;
	m.error = error;
	if (error == 0) {
		m.contained = p->cg[0] != '\0';
		m.limits = p->limits;
		m.nfds = p->outfd[0] != -1 ? 2 : 0;
	}
	if (msg_send_fds(MON_STARTED, p->id, &iov, 1, p->outfd,
	    (int)m.nfds) == -1) {
		mon_log("out of memory for messages to the server");
		shutdown_begin();
	}
}

/* A refused MON_SPAWN: no record was made. */
static void
send_refused(uint64_t id, int error)
{
	struct mon_started m;

	memset(&m, 0, sizeof(m));
	m.error = error;
	send_msg(MON_STARTED, id, &m, sizeof(m));
}

static void
send_notify(const struct proc *p, const struct mon_notify *n,
    const char *status)
{
	send_parts(MON_NOTIFY, p->id, n, sizeof(*n), status, n->status_len,
	    NULL, 0, NULL, 0);
}

static void
send_exited(const struct proc *p)
{
	struct mon_exited m = { p->pid, -1, 0, 0, p->foreign, p->oom };

	if (p->foreign)
		;		/* not our child: nobody can say how */
	else if (WIFEXITED(p->status))
		m.code = WEXITSTATUS(p->status);
	else if (WIFSIGNALED(p->status)) {
		m.signo = WTERMSIG(p->status);
		m.core_dumped = WCOREDUMP(p->status) != 0;
	}
	send_msg(MON_EXITED, p->id, &m, sizeof(m));
}

static void
send_adopt(const struct proc *p)
{
	struct mon_adopt m;

	memset(&m, 0, sizeof(m));
	m.pid = p->pid;
	m.contained = p->cg[0] != '\0';
	m.foreign = p->foreign;
	m.owner_len = (uint32_t)strlen(p->owner) + 1;
	m.tag_len = p->tag_len;
	m.nfds = p->outfd[0] != -1 ? 2 : 0;
	m.started_ms = p->started_ms;
	send_parts(MON_ADOPT, p->id, &m, sizeof(m), p->owner, m.owner_len,
	    p->tag, p->tag_len, p->outfd, (int)m.nfds);
}

/* A server is there to hear of a process: it said MON_HELLO and its end
 * still takes our writes. */
static int
can_tell(void)
{
	return server_hello && msg_writable();
}

static struct proc *
proc_find(uint64_t id)
{
	struct proc *p;

	LIST_FOREACH(p, &byid[id % NBUCKETS], hlink)
		if (p->id == id)
			return p;
	return NULL;
}

/* FD in the epoll set, its events pointing to TAG. */
static void
watch(int fd, uint32_t events, void *tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = tag;
	if (fd != -1 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		mon_log("epoll_ctl: %s", strerror(errno));
}

/* Out of the set (explicitly: a child not yet exec'd may hold a copy of
 * the fd, which would keep it in), then closed. */
static void
unwatch(int *fd)
{
	if (*fd == -1)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

/* A pipe for a captured stream: *READ (ours and the server's, not
 * blocking, kept: lifted) and *WRITE (the process's, blocking as any
 * stdout is). */
static int
output_pipe(int *read_end, int *write_end)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	*read_end = spawn_lift(fds[0]);
	*write_end = fds[1];
	return 0;
}

static void
close_output(struct proc *p)
{
	int i;

	for (i = 0; i < 2; i++)
		if (p->outfd[i] != -1) {
			close(p->outfd[i]);
			p->outfd[i] = -1;
		}
}

/* A new record is known by id and its fds are watched. */
static void
proc_add(struct proc *p)
{
	int k;

	for (k = 0; k < W_MAX; k++) {
		p->w[k].p = p;
		p->w[k].kind = k;
	}
	LIST_INSERT_HEAD(&procs, p, link);
	LIST_INSERT_HEAD(&byid[p->id % NBUCKETS], p, hlink);
	nprocs++;
	watch(p->statusfd, EPOLLIN, &p->w[W_STATUS]);
	watch(p->pidfd, EPOLLIN, &p->w[W_PID]);
	watch(p->evfd, EPOLLPRI, &p->w[W_EV]);
	watch(p->rdyfd, EPOLLIN, &p->w[W_RDY]);
}

/* Done with P: its memory waits for the end of this turn, where an event
 * about it may still be in hand (p->gone says to skip it). */
static void
proc_free(struct proc *p)
{
	unwatch(&p->statusfd);
	unwatch(&p->evfd);
	unwatch(&p->pidfd);
	unwatch(&p->rdyfd);
	close_output(p);
	if (p->cg[0])
		cgroup_remove(-1, p->cg);
	LIST_REMOVE(p, link);
	LIST_REMOVE(p, hlink);
	nprocs--;
	if (p->pid > 0)		/* journaled when it was forked */
		state_del(p->id, &procs);
	p->gone = 1;
	LIST_INSERT_HEAD(&graveyard, p, link);
}

static void
bury(void)
{
	struct proc *p;

	while ((p = LIST_FIRST(&graveyard)) != NULL) {
		LIST_REMOVE(p, link);
		free(p->tag);
		free(p);
	}
}

/* SIGNO to P's whole tree: its cgroup's members, or without one its
 * process group (the child made its own session) and P itself. */
static void
tree_signal(struct proc *p, int signo)
{
	int leaf;

	if (p->cg[0]) {
		if ((leaf = cgroup_open(p->cg)) == -1)
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
	if (p->foreign) {	/* not our zombie to hold the pid: its pidfd */
		if (p->pidfd != -1)
			syscall(SYS_pidfd_send_signal, p->pidfd, signo, NULL, 0);
		return;
	}
	kill(-p->pid, signo);
	kill(p->pid, signo);
}

/*
 * Move P on after anything about it changed; frees it once done and
 * told.  The exec result comes first (the pipe may report after the
 * reap); a child that failed is killed, which a stopped one would
 * otherwise not do; a main process reaped leaves its tree to be killed
 * and drained.  With no server to tell, an ended process waits for the
 * next one.
 */
static void
proc_step(struct proc *p)
{
	int leaf;

	if (p->statusfd != -1)
		return;
	if (p->error != 0 && !p->started) {
		if (can_tell())
			send_started(p, 0, p->error);
		if (can_tell() || shutting)
			p->started = 1;	/* told, or nobody ever will be */
		if (!p->reaped && p->pid > 1)
			kill(p->pid, SIGKILL);
		if (p->reaped && p->started)
			proc_free(p);
		return;
	}
	if (!p->started && (can_tell() || shutting)) {
		if (can_tell()) {
			send_started(p, p->pid, 0);
			if (p->said_ready)	/* before we could say it ran */
				send_notify(p, &(struct mon_notify){ 1, 0 },
				    "");
		}
		p->started = 1;
	}
	if (!p->reaped)
		return;
	if (!p->done) {
		if (p->cg[0] && p->evfd == -1 &&
		    (leaf = cgroup_open(p->cg)) != -1) {
			if ((p->evfd = spawn_lift(cgroup_events(leaf))) != -1) {
				watch(p->evfd, EPOLLPRI, &p->w[W_EV]);
				if (cgroup_populated(p->evfd) == 1)
					cgroup_kill(leaf);
			}
			close(leaf);
		}
		if (p->evfd != -1 && cgroup_populated(p->evfd) == 1)
			return;		/* EPOLLPRI on cgroup.events says when */
		unwatch(&p->evfd);
		if (p->cg[0]) {	/* gone before the server hears of it */
			p->oom = cgroup_oom_killed(p->cg);
			cgroup_remove(-1, p->cg);
			p->cg[0] = '\0';
		}
		p->done = 1;
	}
	if (!p->started || (!can_tell() && !shutting))
		return;		/* the next server hears of it */
	if (can_tell()) {
		send_exited(p);
		if (!can_tell() && !shutting)
			return;	/* it died under us: the next one */
	}
	proc_free(p);
}

/* What P's tree said on the notify socket (ready.c): passed on, or kept
 * until the server has heard that it started. */
static void
said(struct proc *p, const struct mon_notify *n, const char *status)
{
	if (n->ready && p->said_ready && n->status_len == 0)
		return;
	/* A status line is a courtesy: with a server that reads slower
	 * than a process talks, dropped rather than queued without end
	 * (READY=1 is sent once a process, and always). */
	if ((!n->ready || p->said_ready) && msg_queued() > STATUS_QUEUE_MAX)
		return;
	p->said_ready |= n->ready;
	if (p->started && can_tell())
		send_notify(p, n, status);
}

/* fd:N's pipe: a newline is READY=1; then (or at EOF) it is done. */
static void
read_ready(struct proc *p)
{
	int r;

	if ((r = ready_pipe(p->rdyfd)) == 0)
		return;
	unwatch(&p->rdyfd);
	if (r == 1)
		said(p, &(struct mon_notify){ 1, 0 }, "");
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
	unwatch(&p->statusfd);
}

/* What waitpid would have said, from what waitid did. */
static int
wait_status(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return (si->si_status & 0xff) << 8;
	return (si->si_status & 0x7f) | (si->si_code == CLD_DUMPED ? 0x80 : 0);
}

/*
 * P's pidfd is readable: its main process has ended.  Ours: one without
 * a cgroup has its group killed while its zombie still holds the pid (no
 * reuse can intervene), then it is reaped.  A foreign one is not ours to
 * reap: how it ended only its real parent knows.
 */
static void
reap_pidfd(struct proc *p)
{
	siginfo_t si;

	if (p->foreign) {
		unwatch(&p->pidfd);
		p->reaped = 1;
		return;
	}
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG |
	    WNOWAIT) == -1 || si.si_pid == 0)
		return;		/* reaped by a scan already, or not yet */
	if (!p->cg[0])
		kill(-p->pid, SIGKILL);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) == -1 ||
	    si.si_pid == 0)
		return;
	p->status = wait_status(&si);
	p->reaped = 1;
	unwatch(&p->pidfd);
}

/* End every tree: SIGTERM now (and SIGCONT, for a stopped one), SIGKILL
 * after its stop_ms, and give up on stragglers after the longest. */
static void
shutdown_begin(void)
{
	struct proc *p, *next;
	int64_t now = clock_ms(CLOCK_MONOTONIC), last = now;

	if (shutting)
		return;
	shutting = 1;
	sdnotify_stopping();
	server_done = 1;	/* nothing more is read */
	restart_at = 0;
	give_up_at = now + GIVE_UP_MS;
	if (leave)
		return;		/* live_restore: they go on without us */
	LIST_FOREACH(p, &procs, link) {
		p->killed = p->reaped || (p->error != 0 && !p->started);
		p->kill_at = now + p->stop_ms;
		if (p->kill_at > last)
			last = p->kill_at;
		if (!p->killed) {
			tree_signal(p, SIGTERM);
			tree_signal(p, SIGCONT);
		}
	}
	give_up_at = last + GIVE_UP_MS;
	/* Those that ended while nobody could be told: nobody will be. */
	for (p = LIST_FIRST(&procs); p != NULL; p = next) {
		next = LIST_NEXT(p, link);
		if (p->reaped)
			proc_step(p);
	}
}

/* Shutdown: SIGKILL what is due; how long poll may sleep. */
static int
shutdown_tick(void)
{
	struct proc *p;
	int64_t now = clock_ms(CLOCK_MONOTONIC), due = give_up_at;

	if (!shutting)
		return -1;
	LIST_FOREACH(p, &procs, link) {
		if (leave)
			break;
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

/* The server's end is closed: nothing more to or from this one. */
static void
server_close(void)
{
	if (msg_fd() != -1 && srv_events != 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, msg_fd(), NULL);
	srv_events = 0;
	msg_close();
	server_done = 1;
	server_hello = 0;
}

/* The server's fd in the set for what we want of it now: reading until
 * we are done with it, writing while something is queued.  Out of the
 * set when neither (a closed peer would wake us for nothing). */
static void
server_watch(void)
{
	struct epoll_event ev;
	uint32_t want;

	if (msg_fd() == -1)
		return;
	want = (server_done ? 0 : EPOLLIN) | (msg_queued() > 0 ? EPOLLOUT : 0);
	if (want == srv_events)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = &w_server;
	epoll_ctl(epfd, srv_events == 0 ? EPOLL_CTL_ADD : want == 0 ?
	    EPOLL_CTL_DEL : EPOLL_CTL_MOD, msg_fd(), &ev);
	srv_events = want;
}

static void do_upgrade(void);
static int server_read(void);

/* The server has been reaped.  Its end is the end of the monitor when it
 * asked for it (or never got going: a start-up failure fails procctld);
 * else a new one is started after a backoff, and told what runs. */
static void
server_died(int st)
{
	int64_t up = clock_ms(CLOCK_MONOTONIC) - server_since, delay;

	/* Its last words first (MON_SHUTDOWN, MON_UPGRADE): the exit may
	 * be seen before them. */
	while (msg_fd() != -1 && server_read())
		;
	server = 0;
	server_status = st;
	server_close();
	clients = 0;		/* their connections died with it */
	if (upgrading) {
		do_upgrade();
		return;
	}
	if (shutting)
		return;
	if (stop_asked) {	/* it died before it could stop us */
		shutdown_begin();
		return;
	}
	if (!ever_ready) {	/* start-up failed: procctld fails, and
				 * what an earlier one left runs on */
		leave = 1;
		shutdown_begin();
		return;
	}
	if (up >= STABLE_MS)
		fails = 0;
	delay = (int64_t)BACKOFF_MIN_MS << (fails < 7 ? fails : 7);
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	fails++;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 78) {
		/* It will not start until an admin acts: no hurry. */
		delay = BACKOFF_MAX_MS;
		mon_log("the server cannot start: a file it needs is unusable "
		    "(the lines above say which); retrying every %lld ms, its "
		    "processes run on", (long long)delay);
	} else if (WIFSIGNALED(st))
		mon_log("the server was killed by signal %d; restarting it in "
		    "%lld ms (its processes run on)", WTERMSIG(st),
		    (long long)delay);
	else
		mon_log("the server exited with status %d; restarting it in "
		    "%lld ms (its processes run on)", WEXITSTATUS(st),
		    (long long)delay);
	restart_at = clock_ms(CLOCK_MONOTONIC) + delay;
}

/* The server's pidfd is readable: it has exited. */
static void
reap_server(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (srv_pidfd == -1 || waitid(P_PIDFD, (id_t)srv_pidfd, &si,
	    WEXITED | WNOHANG) == -1 || si.si_pid == 0)
		return;
	unwatch(&srv_pidfd);
	server_died(wait_status(&si));
}

/* Every child that has ended, found by a scan: the orphans of managed
 * trees (ours as subreaper), and any process or server whose pidfd has
 * not been heard yet (handled the same way). */
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
		LIST_FOREACH(p, &procs, link)	/* rare: a pidfd is faster */
			if (p->pid == pid && !p->reaped && !p->foreign)
				break;
		if (p != NULL && !p->cg[0])
			kill(-pid, SIGKILL);
		if (waitpid(pid, &st, WNOHANG) != pid)
			break;
		if (pid == server && server > 0) {
			unwatch(&srv_pidfd);
			server_died(st);
			continue;
		}
		if (p == NULL)
			continue;	/* an orphan: reaped is all */
		unwatch(&p->pidfd);
		p->reaped = 1;
		p->status = st;
		proc_step(p);
	}
}

/* SIGTERM or SIGINT asks the server to shut us down (it answers
 * MON_SHUTDOWN), or with no server running ends it all here; SIGHUP
 * (reload) is the server's business; SIGCHLD means reaping.  The
 * monitor is the pid a service manager knows. */
static void
read_signals(void)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			chld_pending = 1;
		if (shutting)
			continue;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			stop_asked = 1;
			sdnotify_stopping();
			if (server > 0)
				kill(server, SIGTERM);
			else {
				mon_log("%s with no server running: stopping",
				    si.ssi_signo == SIGTERM ? "SIGTERM" :
				    "SIGINT");
				leave = args->live_restore;
				shutdown_begin();
			}
		} else if ((si.ssi_signo == SIGHUP ||
		    si.ssi_signo == SIGUSR1) && server > 0) {
			if (si.ssi_signo == SIGUSR1)
				logq_reopen();
			else {
				socket_again();
				/* READY=1 when the server says MON_RELOADED
				 * (or a new one MON_HELLO). */
				sdnotify_reloading();
			}
			kill(server, (int)si.ssi_signo);
		}
		else if (si.ssi_signo == SIGCHLD)
			chld_pending = 1;
	}
}

static int
on_spawn(const struct mon_hdr *h, char *body)
{
	struct spawn_req r;
	struct proc *p = NULL;
	int err = 0, contained = 0, leaf, rdy[2] = { -1, -1 };
	int out[2] = { -1, -1 };

	if (spawn_parse(body, h->len, &r) == -1)
		return -1;
	/* A live id again: the server has lost track; no answer would be
	 * unambiguous, so it is a protocol error. */
	if (proc_find(h->id) != NULL) {
		spawn_free(&r);
		return -1;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (r.s.tag_len > 0 && (p->tag = malloc(r.s.tag_len)) == NULL))
		err = ENOMEM;
	else {
		p->id = h->id;
		p->stop_ms = r.s.stop_ms;
		p->statusfd = p->evfd = p->pidfd = p->rdyfd = -1;
		p->outfd[0] = p->outfd[1] = -1;
		p->ready = r.s.ready;
		snprintf(p->owner, sizeof(p->owner), "%s", r.owner);
		if ((p->tag_len = r.s.tag_len) > 0)
			memcpy(p->tag, r.tag, r.s.tag_len);
		leaf = cgroup_leaf(h->id, p->cg, sizeof(p->cg));
		r.cg_limits = p->limits = cgroup_limit(leaf, r.s.memory_max,
		    r.s.pids_max);
		if (r.s.ready == MON_RDY_FD &&
		    pipe2(rdy, O_CLOEXEC | O_NONBLOCK) == -1)
			err = errno;
		r.readyw = rdy[1];
		rdy[0] = spawn_lift(rdy[0]);
		if (err == 0 && (r.s.flags & MON_SPAWN_CAPTURE) &&
		    (output_pipe(&p->outfd[0], &r.outw[0]) == -1 ||
		    output_pipe(&p->outfd[1], &r.outw[1]) == -1))
			err = errno;
		if (err == 0 && (p->pid = spawn_start(&r, leaf, &p->statusfd,
		    &contained, &p->pidfd)) == -1)
			err = errno;
		if (rdy[1] != -1)
			close(rdy[1]);
		for (out[0] = 0; out[0] < 2; out[0]++)
			if (r.outw[out[0]] != -1)
				close(r.outw[out[0]]);
		p->rdyfd = rdy[0];
		if (!contained)
			p->limits = 0;
		if (leaf != -1 && (!contained || err != 0)) {
			cgroup_remove(leaf, p->cg);
			p->cg[0] = '\0';
		} else if (leaf != -1)
			close(leaf);
	}
	spawn_free(&r);
	if (err != 0) {
		send_refused(h->id, err);
		if (p != NULL) {
			if (p->rdyfd != -1)
				close(p->rdyfd);
			close_output(p);
			free(p->tag);
		}
		free(p);
		return 0;
	}
	if (h->id > max_id)
		max_id = h->id;
	p->started_ms = clock_ms(CLOCK_REALTIME);
	p->stime = state_stime(p->pid, NULL);
	proc_add(p);
	state_add(p);
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
	if ((p = proc_find(h->id)) == NULL || p->reaped ||
	    (p->error != 0 && !p->started))
		return 0;
	if (s.flags & MON_SIGNAL_KILL_TREE)
		tree_signal(p, SIGKILL);
	else if (s.flags & MON_SIGNAL_TREE)
		tree_signal(p, s.signo);
	else if (p->foreign)
		tree_signal(p, s.signo);	/* by pidfd: the same one */
	else
		kill(p->pid, s.signo);
	return 0;
}

/* A new server: tell it every process (those that ended while no server
 * was there, with how), then that it knows all. */
static int
on_hello(const struct mon_hdr *h)
{
	struct mon_ready r;
	struct proc *p, *next;

	if (h->len != 0 || server_hello)
		return -1;
	server_hello = ever_ready = 1;
	sdnotify_ready();
	for (p = LIST_FIRST(&procs); p != NULL; p = next) {
		next = LIST_NEXT(p, link);
		if (p->error != 0 && !p->started) {
			p->started = 1;	/* its asker is gone */
			if (p->reaped)
				proc_free(p);
			continue;
		}
		p->started = 1;	/* adoption stands for MON_STARTED */
		send_adopt(p);
		if (p->done) {
			send_exited(p);
			proc_free(p);
		}
	}
	r.next_id = max_id + 1;
	send_msg(MON_READY, 0, &r, sizeof(r));
	return 0;
}

/* The server cannot read root's files any more: we read them for it
 * (the configuration and what it names, nothing the server chooses). */
static void
on_reload(uint64_t cookie)
{
	char *payload = NULL;
	size_t len = 0;

	if (args->read_files == NULL ||
	    args->read_files(cookie, &payload, &len) == -1 ||
	    len > MON_MAX_PAYLOAD) {
		free(payload);
		payload = NULL;
		len = 0;
	}
	send_msg(MON_FILES, cookie, payload, (uint32_t)len);
	free(payload);
}

static int
dispatch(const struct mon_hdr *h, char *body)
{
	struct mon_shutdown sd;
	struct mon_clients mc;

	if (!server_hello && h->type != MON_HELLO &&
	    h->type != MON_SHUTDOWN && h->type != MON_FAILED)
		return -1;
	switch (h->type) {
	case MON_HELLO:
		return on_hello(h);
	case MON_SPAWN:
		return on_spawn(h, body);
	case MON_SIGNAL:
		return on_signal(h, body);
	case MON_SHUTDOWN:
		if (h->len != sizeof(sd))
			return -1;
		memcpy(&sd, body, sizeof(sd));
		leave = (sd.flags & MON_SHUTDOWN_LEAVE) != 0;
		shutdown_begin();
		return 0;
	case MON_RELOAD:
		if (h->len != 0)
			return -1;
		on_reload(h->id);
		return 0;
	case MON_KEEP:
		if (h->len != 0)
			return -1;
		if (args->keep_files != NULL)
			args->keep_files(h->id);
		return 0;
	case MON_UPGRADE:
		if (h->len != 0)
			return -1;
		upgrading = 1;
		server_done = 1;	/* it exits now; nothing more */
		return 0;
	case MON_FAILED:
		if (h->len != 0)
			return -1;
		server_failed = 1;	/* its exit is not a breach */
		server_done = 1;
		return 0;
	case MON_CLIENTS:
		if (h->len != sizeof(struct mon_clients))
			return -1;
		memcpy(&mc, body, sizeof(mc));
		clients = mc.clients;
		return 0;
	case MON_RELOADED:
		if (h->len != 0)
			return -1;
		sdnotify_ready();
		return 0;
	default:
		return -1;
	}
}

/* A server that breaks the protocol is not trusted with more: it is
 * killed and replaced; the processes go on. */
static void
server_broken(const char *why)
{
	mon_log("the server %s: killing it", why);
	server_close();
	if (server > 0)
		kill(server, SIGKILL);
}

/* What the server sent: 1 if more may come, else 0.  A server that
 * closes its end unasked, or breaks the protocol, is killed and
 * replaced (a test's, which cannot be, ends it all). */
static int
server_read(void)
{
	int rc = msg_read(dispatch, &server_done);

	if (rc >= 0)
		return rc == 1 && !server_done;
	if (rc == -1 && (shutting || upgrading || server_failed))
		server_close();		/* asked to end, or could not start:
					 * it exits now */
	else if (args->server_fd >= 0) {
		if (rc == -1)
			server_close();
		shutdown_begin();	/* told of every end, if it reads */
	} else
		server_broken(rc == -1 ? "closed its end" :
		    "broke the protocol");
	return 0;
}

static int
server_start(void)
{
	int fd;

	restart_at = 0;
	if (ever_ready)
		setenv(MON_ENV_RESTARTED, "1", 1);
	else
		unsetenv(MON_ENV_RESTARTED);
	if ((server = server_spawn(args, exe_fd, &fd)) == -1) {
		server = 0;
		return -1;
	}
	msg_attach(fd);
	server_done = server_hello = server_failed = 0;
	server_since = clock_ms(CLOCK_MONOTONIC);
	server_watch();
	srv_pidfd = (int)syscall(SYS_pidfd_open, server, 0);
	watch(srv_pidfd, EPOLLIN, &w_srvpid);
	return 0;
}

/*
 * `daemon upgrade`: the server has gone; the state file says everything
 * (an exec not yet confirmed counts as running), then the binary on disk
 * becomes the monitor (server.c).  If it cannot, this monitor goes on
 * with a new server.
 */
static void
do_upgrade(void)
{
	struct proc *p;

	upgrading = 0;
	if (stop_asked) {	/* SIGTERM came while it was going away */
		mon_log("upgrade: a stop was asked meanwhile: stopping");
		leave = args->live_restore;
		shutdown_begin();
		return;
	}
	LIST_FOREACH(p, &procs, link) {
		if (p->statusfd != -1) {
			close(p->statusfd);
			p->statusfd = -1;
		}
		if (p->error != 0 && !p->started)
			p->started = 1;		/* its asker is gone */
	}
	if (state_write_all(&procs) == -1)
		mon_log("upgrade: the state file cannot be written: not "
		    "upgrading (the processes would be lost)");
	else {
		ready_carry(&procs);
		sdnotify_reloading();	/* READY=1 from the new image */
		upgrade_exec(args);
		ready_uncarry(&procs);	/* the exec failed */
	}
	if (server_start() == -1)
		restart_at = clock_ms(CLOCK_MONOTONIC) + BACKOFF_MAX_MS;
}

/* Is the leaf NAME an adopted process's? */
static int
named(const char *name)
{
	struct proc *p;

	LIST_FOREACH(p, &procs, link)
		if (strcmp(p->cg, name) == 0)
			return 1;
	return 0;
}

/* What an earlier monitor left running (a crash of both, an upgrade, a
 * stop with live_restore), from the state file at PATH, which is then
 * rewritten to say only what is true now.  Our own children (after an
 * upgrade) get a pidfd here; foreign ones got theirs when checked. */
static void
adopt(const char *path)
{
	struct proclist loaded = LIST_HEAD_INITIALIZER(loaded);
	char prev[CG_NAME_MAX] = "";
	struct proc *p;
	int n;

	if ((n = state_load(&loaded, &max_id, prev, sizeof(prev))) == -1) {
		/* The file stays as it is for a monitor that can check it:
		 * nothing in it is adopted, dropped or killed. */
		mon_log("cannot start: the processes in %s could not be "
		    "checked", path);
		mon_exit(1);
	}
	while ((p = LIST_FIRST(&loaded)) != NULL) {
		LIST_REMOVE(p, link);
		if (!p->foreign && !p->done)
			p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
		p->pidfd = spawn_lift(p->pidfd);
		proc_add(p);
	}
	if (n > 0)
		mon_log("adopted %d process%s from %s", n, n == 1 ? "" : "es",
		    path);
	state_write_all(&procs);
	cgroup_sweep(named, prev);
}

static void
setup(const struct monitor_args *a)
{
	struct stat st;
	struct proc *p;
	sigset_t set;
	char path[PATH_MAX];

	args = a;
	/* Re-exec'd for an upgrade: a server has run here before, so one
	 * that fails now is restarted, not taken for a failed start. */
	ever_ready = getenv(MON_ENV_UPGRADE) != NULL;
	unsetenv(MON_ENV_UPGRADE);
	prctl(PR_SET_NAME, "procctld-mon");
	logq_set_tag("monitor: ");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		mon_log("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	signal(SIGCHLD, SIG_DFL);	/* ignored, children reap themselves */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    (exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		mon_log("cannot start: %s", strerror(errno));
		mon_exit(1);
	}
	watch(sigfd, EPOLLIN, &w_signals);
	watch(ready_init(), EPOLLIN, &w_notify);
	sdnotify_init();
	/* Systemd's socket (activation) is never ours to remove. */
	if (a->socket != NULL && !a->socket_activated &&
	    lstat(a->socket, &st) == 0) {
		sock_dev = st.st_dev;
		sock_ino = st.st_ino;
	}
	cgroup_init();
	/* What an earlier monitor left running (a crash of both, an
	 * upgrade, a stop with live_restore): adopted, then the file is
	 * rewritten to say only what is true now. */
	if (a->state != NULL) {
		snprintf(path, sizeof(path), "%s", a->state);
		state_open(path);
		adopt(path);
	}
	ready_resume(proc_find);
	LIST_FOREACH(p, &procs, link)
		watch(p->rdyfd, EPOLLIN, &p->w[W_RDY]);
	reap();		/* whatever ended before the signalfd */
}

/* At the very end: the socket goes if it is still the one we bound (not
 * one a newer procctld made in its place). */
static void
remove_socket(void)
{
	struct stat st;

	if (args->socket != NULL && sock_ino != 0 &&
	    lstat(args->socket, &st) == 0 && st.st_dev == sock_dev &&
	    st.st_ino == sock_ino)
		unlink(args->socket);
}

/* SIGHUP: a socket someone deleted under us is made again, and the
 * server (and every later one, and an upgrade) accepts on the new one;
 * clients could not reach the old one anyway.  Not one systemd passed:
 * that is its to make (procctld.socket). */
static void
socket_again(void)
{
	struct sockaddr_un sun;
	socklen_t len;
	struct stat st;
	size_t i;
	int fd;

	if (args->socket == NULL || args->rebind == NULL ||
	    lstat(args->socket, &st) == 0 || errno != ENOENT)
		return;
	if (args->socket_activated) {
		mon_log("SIGHUP: the socket %s was deleted; it is the service "
		    "manager's (socket activation), not made again here: "
		    "restart procctld.socket, then procctld", args->socket);
		return;
	}
	if ((fd = args->rebind()) == -1) {
		mon_log("SIGHUP: the socket %s was deleted and cannot be made "
		    "again", args->socket);
		return;
	}
	for (i = 0; i < args->nlfds; i++) {
		len = sizeof(sun);
		if (getsockname(args->lfds[i], (struct sockaddr *)&sun,
		    &len) == 0 && sun.sun_family == AF_UNIX) {
			close(args->lfds[i]);
			args->lfds[i] = fd;
			break;
		}
	}
	if (i == args->nlfds) {
		close(fd);
		return;
	}
	if (lstat(args->socket, &st) == 0) {
		sock_dev = st.st_dev;
		sock_ino = st.st_ino;
	}
	send_parts(MON_LISTEN, 0, NULL, 0, NULL, 0, NULL, 0, &fd, 1);
	mon_log("SIGHUP: the socket %s had been deleted: made again",
	    args->socket);
}

/* One event: about a process's fd, the server, its exit, or signals. */
static void
handle(const struct epoll_event *ev)
{
	struct pwatch *w;
	struct proc *p;

	if (ev->data.ptr == &w_signals)
		read_signals();
	else if (ev->data.ptr == &w_notify)
		ready_read(&procs, said);
	else if (ev->data.ptr == &w_log)
		logq_flush();
	else if (ev->data.ptr == &w_srvpid)
		reap_server();
	else if (ev->data.ptr == &w_server) {
		if (msg_fd() != -1 && (ev->events & EPOLLOUT))
			msg_flush();
		if (msg_fd() != -1 && (ev->events & ~EPOLLOUT))
			(void)server_read();
	} else {
		w = ev->data.ptr;
		if ((p = w->p)->gone)
			return;		/* freed by an earlier event */
		if (w->kind == W_STATUS)
			read_status(p);
		else if (w->kind == W_PID)
			reap_pidfd(p);
		else if (w->kind == W_RDY)
			read_ready(p);
		proc_step(p);
	}
}

/* While log lines wait, their fd is watched for room (and only then:
 * stderr is writable nearly always). */
static void
log_watch(void)
{
	struct epoll_event ev;
	int fd = logq_wait_fd();

	if (fd == log_fd)
		return;
	if (log_fd != -1)
		epoll_ctl(epfd, EPOLL_CTL_DEL, log_fd, NULL);
	log_fd = -1;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLOUT;
	ev.data.ptr = &w_log;
	/* Refused (not a pollable fd): the next line tries again. */
	if (fd != -1 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		log_fd = fd;
}

/* How long epoll may sleep: until a SIGKILL is due, a restart, the
 * next scan for orphans, or what the service manager is due to hear
 * (sdnotify.c); -1: until something happens. */
static int
next_timeout(int64_t now)
{
	int timeout = shutdown_tick(), sd = sdnotify_tick(now, nprocs,
	    clients);

	if (sd != -1 && (timeout == -1 || sd < timeout))
		timeout = sd;
	if (restart_at != 0 && (timeout == -1 || restart_at - now < timeout))
		timeout = restart_at > now ? (int)(restart_at - now) : 0;
	if (chld_pending && (timeout == -1 || next_scan - now < timeout))
		timeout = next_scan > now ? (int)(next_scan - now) : 0;
	return timeout;
}

void
monitor_main(const struct monitor_args *a)
{
	struct epoll_event evs[64];
	struct proc *p;
	int i, n, timeout;
	int64_t now;

	setup(a);
	if (a->server_fd >= 0) {
		msg_attach(a->server_fd);
		server_done = server_hello = server_failed = 0;
	} else if (server_start() == -1)
		mon_exit(1);
	for (;;) {
		now = clock_ms(CLOCK_MONOTONIC);
		if (restart_at != 0 && now >= restart_at &&
		    server_start() == -1)
			restart_at = now + BACKOFF_MAX_MS;
		timeout = next_timeout(now);
		/* Done once every tree is gone (or left running) and the
		 * server has exited; stragglers are given up on.  The server
		 * is never signalled: it was asked, and the kernel sends it
		 * SIGTERM when we are gone. */
		if (shutting && (now >= give_up_at || (server == 0 &&
		    (leave || LIST_EMPTY(&procs)))))
			break;
		server_watch();
		log_watch();
		if ((n = epoll_wait(epfd, evs, 64, timeout)) == -1) {
			if (errno != EINTR)
				mon_log("epoll_wait: %s", strerror(errno));
			continue;
		}
		for (i = 0; i < n; i++)
			handle(&evs[i]);
		/* After the turn's pidfd events: each waitid of the scan
		 * walks every child we have, so it should find only what no
		 * pidfd has told us of (an orphan), not the processes whose
		 * exit is waiting in this batch. */
		now = clock_ms(CLOCK_MONOTONIC);
		if (chld_pending && now >= next_scan) {
			chld_pending = 0;
			next_scan = now + SCAN_MS;
			reap();
		}
		bury();
	}
	if (leave) {
		state_write_all(&procs);
		mon_log("live_restore: leaving %zu process%s running for the "
		    "next procctld", nprocs, nprocs == 1 ? "" : "es");
	} else {
		while ((p = LIST_FIRST(&procs)) != NULL) {
			mon_log("gave up waiting for pid %d", (int)p->pid);
			if (p->cg[0])
				tree_signal(p, SIGKILL);
			proc_free(p);
		}
		bury();
		state_remove();
		cgroup_fini();
	}
	remove_socket();
	msg_free();
	/* A stop we were asked for is a success; else the server's status
	 * is ours: a failed start-up fails procctld. */
	if (stop_asked || server != 0)
		mon_exit(0);
	mon_exit(WIFEXITED(server_status) ? WEXITSTATUS(server_status) : 1);
}
