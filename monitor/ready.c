/*
 * Readiness: how a managed process says it is up, for a supervisor that
 * must not take "exec worked" for "serving".
 *
 *  - notify: sd_notify(3)'s protocol.  One datagram socket for the whole
 *    monitor, autobound in the abstract namespace (the kernel picks a
 *    name nobody can have taken first), SO_PASSCRED so each datagram
 *    carries its sender's pid as the kernel saw it.  Its name is the
 *    NOTIFY_SOCKET of every process asked to use it; what a datagram
 *    says is taken only from a process of that record's tree (its
 *    cgroup, or its descendants without one), never from whoever
 *    claims to be it.
 *  - fd:N: s6's notification-fd.  A pipe per process, the write end its
 *    fd N; a newline on it means ready, and the read end is closed.
 *
 * Nothing here blocks or grows: datagrams are read up to a bound per
 * turn, any fds passed with them are closed, the status text is cut to
 * MON_MAX_STATUS bytes and stripped of control bytes.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "mon.h"

#define DGRAM_MAX	4096	/* sd_notify messages are a few lines */
#define PER_TURN	64	/* datagrams read per wake-up */
#define ANCESTRY_MAX	16	/* parents walked to find a tree's root */

static int	nsock = -1;
static char	nname[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];

/* The notify socket a monitor before an upgrade's re-exec had (its
 * name is in its processes' environments), if it is one. */
static int
inherited(void)
{
	const char *env = getenv(MON_ENV_READY);
	int fd, type;
	socklen_t len = sizeof(type);

	if (env == NULL || (fd = atoi(env)) < 3 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_DGRAM)
		return -1;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/* NSOCK's abstract name as NOTIFY_SOCKET says it, "@..."; -1 if none. */
static int
name_of(int fd)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &len) == -1 ||
	    len <= offsetof(struct sockaddr_un, sun_path) + 1 ||
	    sa.sun_path[0] != '\0')
		return -1;
	len -= offsetof(struct sockaddr_un, sun_path);
	nname[0] = '@';
	memcpy(nname + 1, sa.sun_path + 1, len - 1);
	nname[len] = '\0';
	return 0;
}

int
ready_init(void)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa_family_t);
	int one = 1, rcvbuf = 4 * 1024 * 1024;

	if ((nsock = inherited()) != -1 && name_of(nsock) == 0)
		return nsock;
	if (nsock != -1)
		close(nsock);

	if ((nsock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	/* An address of the family alone: autobind, a fresh abstract name. */
	if (setsockopt(nsock, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)) == -1 || bind(nsock, (struct sockaddr *)&sa,
	    len) == -1)
		goto fail;
	/* Room for a burst (anyone may write to it): a real READY=1 is not
	 * lost behind a flood as easily.  Past the limit only as root. */
	if (setsockopt(nsock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	    sizeof(rcvbuf)) == -1)
		(void)setsockopt(nsock, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
	if (name_of(nsock) == -1)
		goto fail;
	return nsock;
fail:
	mon_log("notify socket: %s (ready = notify will not be heard)",
	    strerror(errno));
	if (nsock != -1)
		close(nsock);
	nsock = -1;
	return -1;
}

/* NOTIFY_SOCKET's value, or NULL without one. */
const char *
ready_socket(void)
{
	return nsock != -1 ? nname : NULL;
}

/* The record asking for notify whose tree PID is of: the one whose
 * cgroup holds it, else the nearest of its ancestors that is a record's
 * main process (without a cgroup, a process that left its tree by
 * daemonizing is not heard).  At most one read of /proc per ancestor,
 * each a scan of the records' list. */
static struct proc *
sender(const struct proclist *procs, pid_t pid)
{
	char cg[CG_NAME_MAX];
	struct proc *p;
	pid_t ppid;
	int i;

	if (cgroup_of(pid, cg, sizeof(cg)) == 0) {
		LIST_FOREACH(p, procs, link)
			if (p->ready == MON_RDY_NOTIFY && strcmp(p->cg, cg) == 0)
				return p->reaped ? NULL : p;
		return NULL;		/* another leaf's: not a record's */
	}
	for (i = 0; i < ANCESTRY_MAX && pid > 1; i++) {
		LIST_FOREACH(p, procs, link)
			if (p->ready == MON_RDY_NOTIFY && p->pid == pid &&
			    !p->reaped && !p->cg[0])
				return p;
		if (state_stime(pid, &ppid) == 0)
			return NULL;
		pid = ppid;
	}
	return NULL;
}

/* The fds a hostile sender passed along: closed, never kept. */
static const struct ucred *
take_cmsgs(struct msghdr *mh)
{
	const struct ucred *cred = NULL;
	struct cmsghdr *c;
	int *fds;
	size_t i, n;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred)))
			cred = (const struct ucred *)CMSG_DATA(c);
		else if (c->cmsg_type == SCM_RIGHTS) {
			fds = (int *)CMSG_DATA(c);
			n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < n; i++)
				close(fds[i]);
		}
	}
	return cred;
}

/* STATUS= text as a terminal may show it: printable ASCII, anything
 * else a '?' (no C0 or C1 control, no bidi override, no broken UTF-8;
 * a status line needs none of them). */
static size_t
clean_status(const char *s, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len && n < MON_MAX_STATUS; i++)
		out[n++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	return n;
}

/* One datagram's lines: READY=1 and STATUS=... */
static void
parse(char *buf, size_t len, struct mon_notify *n, char *status)
{
	char *line = buf, *end = buf + len, *nl;

	while (line < end) {
		if ((nl = memchr(line, '\n', end - line)) == NULL)
			nl = end;
		if (nl - line == 7 && memcmp(line, "READY=1", 7) == 0)
			n->ready = 1;
		else if (nl - line >= 7 && memcmp(line, "STATUS=", 7) == 0)
			n->status_len = (uint32_t)clean_status(line + 7,
			    nl - line - 7, status);
		line = nl + 1;
	}
}

/* Datagrams waiting on the notify socket: SAY gets each one that a
 * record's tree sent and that says something. */
void
ready_read(const struct proclist *procs,
    void (*say)(struct proc *, const struct mon_notify *, const char *))
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(struct ucred)) +
				    CMSG_SPACE(16 * sizeof(int))];
	} cm;
	char buf[DGRAM_MAX], status[MON_MAX_STATUS];
	const struct ucred *cred;
	struct mon_notify n;
	struct msghdr mh;
	struct iovec iov;
	struct proc *p;
	ssize_t len;
	int i;

	for (i = 0; i < PER_TURN; i++) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		if ((len = recvmsg(nsock, &mh, MSG_DONTWAIT |
		    MSG_CMSG_CLOEXEC)) == -1)
			return;		/* EAGAIN: all read */
		cred = take_cmsgs(&mh);
		if (cred == NULL || (mh.msg_flags & MSG_TRUNC) ||
		    (p = sender(procs, cred->pid)) == NULL)
			continue;
		memset(&n, 0, sizeof(n));
		parse(buf, (size_t)len, &n, status);
		if (n.ready || n.status_len > 0)
			say(p, &n, status);
	}
}

/* fd:N's pipe: a newline means ready.  1 when it came (the pipe is done
 * with), 0 to keep reading, -1 at EOF without one. */
int
ready_pipe(int fd)
{
	char buf[512];
	ssize_t n;
	int i;

	for (i = 0; i < 8; i++) {
		if ((n = read(fd, buf, sizeof(buf))) == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0)
			return -1;
		if (memchr(buf, '\n', (size_t)n) != NULL)
			return 1;
	}
	return 0;
}

/*
 * An upgrade re-executes the monitor: what readiness still waits for
 * goes through the exec (MON_ENV_READY), the notify socket with it, so
 * a process that says READY=1 or writes its newline afterwards is heard
 * (a closed fd:N pipe would kill it with SIGPIPE).  Open across the
 * exec only for it; ready_uncarry() when the exec failed.
 */
static void
open_across(int fd, int yes)
{
	if (fd != -1)
		fcntl(fd, F_SETFD, yes ? 0 : FD_CLOEXEC);
}

/* FD as the re-exec'd monitor got it: its own again (close-on-exec), or
 * -1 for none. */
static int
claimed(int fd)
{
	if (fd < 3 || fd == nsock || fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	return spawn_lift(fd);	/* kept: out of what spawns copy */
}

void
ready_carry(const struct proclist *procs)
{
	struct buf b = { 0 };
	struct proc *p;

	if (nsock == -1)
		return;
	buf_printf(&b, "%d", nsock);
	fcntl(nsock, F_SETFD, 0);
	LIST_FOREACH(p, procs, link) {
		if ((p->ready == MON_RDY_NONE || p->said_ready) &&
		    p->outfd[0] == -1)
			continue;
		buf_printf(&b, ";%llu:%u:%d:%d:%d", (unsigned long long)p->id,
		    p->said_ready ? MON_RDY_NONE : p->ready, p->rdyfd,
		    p->outfd[0], p->outfd[1]);
		open_across(p->rdyfd, 1);
		open_across(p->outfd[0], 1);
		open_across(p->outfd[1], 1);
	}
	buf_append(&b, "", 1);
	if (!b.failed)
		setenv(MON_ENV_READY, b.data, 1);
	buf_free(&b);
}

void
ready_uncarry(const struct proclist *procs)
{
	struct proc *p;

	unsetenv(MON_ENV_READY);
	if (nsock != -1)
		fcntl(nsock, F_SETFD, FD_CLOEXEC);
	LIST_FOREACH(p, procs, link) {
		open_across(p->rdyfd, 0);
		open_across(p->outfd[0], 0);
		open_across(p->outfd[1], 0);
	}
}

/* After the re-exec: the adopted records FIND gives by id wait again as
 * before (their fd:N pipes the caller watches); an fd nobody claims is
 * closed. */
void
ready_resume(struct proc *(*find)(uint64_t))
{
	const char *env = getenv(MON_ENV_READY), *e;
	unsigned long long id;
	unsigned kind;
	struct proc *p;
	int fd[3], i;

	for (e = env != NULL ? strchr(env, ';') : NULL; e != NULL;
	    e = strchr(e + 1, ';')) {
		if (sscanf(e + 1, "%llu:%u:%d:%d:%d", &id, &kind, &fd[0],
		    &fd[1], &fd[2]) != 5 || kind > MON_RDY_FD)
			continue;
		for (i = 0; i < 3; i++)
			fd[i] = claimed(fd[i]);
		if ((p = find((uint64_t)id)) == NULL || p->rdyfd != -1 ||
		    p->outfd[0] != -1 || (fd[1] == -1) != (fd[2] == -1)) {
			for (i = 0; i < 3; i++)
				if (fd[i] != -1)
					close(fd[i]);
			continue;
		}
		p->ready = kind;
		p->rdyfd = kind == MON_RDY_FD ? fd[0] : -1;
		if (kind != MON_RDY_FD && fd[0] != -1)
			close(fd[0]);
		p->outfd[0] = fd[1];
		p->outfd[1] = fd[2];
	}
	unsetenv(MON_ENV_READY);
}
