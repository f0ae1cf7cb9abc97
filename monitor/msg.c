/*
 * The monitor's side of the socketpair: messages queued for the server
 * and written when its socket takes them, and whole messages read back.
 *
 *  - A write never waits: a server that does not read (stopped, busy, or
 *    itself writing to us) must not freeze reaping and signalling.  What
 *    is queued stays bounded by the processes (at most two messages each,
 *    a few per server).
 *  - A read takes what has come and hands over each whole message, its
 *    size checked before it is looked at.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mon.h"

static int	 sfd = -1;
static int	 broken;		/* a write failed: nobody to tell */
static char	*obuf;
static size_t	 olen, ocap;
static uint64_t	 osent;			/* bytes the kernel has taken */

/* Fds to go with the message that starts at byte AT of the stream (our
 * own copies, closed once sent): SCM_RIGHTS on that first byte, which a
 * recvmsg() on the other end returns with the fds (a stream socket does
 * not read past a batch of fds in one call). */
struct fdbatch {
	uint64_t	 at;
	int		 fds[MON_MAX_FDS];
	int		 n;
	struct fdbatch	*next;
};
static struct fdbatch *fdq, **fdq_tail = &fdq;

static void
fdq_free(void)
{
	struct fdbatch *b;
	int i;

	while ((b = fdq) != NULL) {
		fdq = b->next;
		for (i = 0; i < b->n; i++)
			close(b->fds[i]);
		free(b);
	}
	fdq_tail = &fdq;
}

/* Room for the largest message whole, whatever part of one a stream
 * left behind. */
static char	 rbuf[2 * (sizeof(struct mon_hdr) + MON_MAX_PAYLOAD)];
static size_t	 rlen;

void
msg_attach(int fd)
{
	sfd = fd;
	broken = 0;
	olen = rlen = 0;
	osent = 0;
	fdq_free();
}

/* Done with this server: nothing more either way. */
void
msg_close(void)
{
	if (sfd != -1)
		close(sfd);
	sfd = -1;
	olen = rlen = 0;
	fdq_free();
}

int
msg_fd(void)
{
	return sfd;
}

/* A server is attached and its end still takes our writes. */
int
msg_writable(void)
{
	return sfd != -1 && !broken;
}

size_t
msg_queued(void)
{
	return olen;
}

/* One write of what is queued, up to the next batch of fds, or from a
 * batch's byte with its fds: what the kernel took, or -1. */
static ssize_t
write_some(void)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(MON_MAX_FDS * sizeof(int))];
	} cm;
	struct fdbatch *b = fdq;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	size_t len = olen;
	ssize_t w;

	if (b != NULL && b->at > osent)
		len = (size_t)(b->at - osent);	/* plain bytes first */
	else if (b != NULL && b->next != NULL && b->next->at - osent < len)
		len = (size_t)(b->next->at - osent);
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = obuf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (b != NULL && b->at == osent) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(b->n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(b->n * sizeof(int));
		memcpy(CMSG_DATA(c), b->fds, b->n * sizeof(int));
	}
	if ((w = sendmsg(sfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT)) > 0 &&
	    mh.msg_control != NULL) {	/* they went with its first byte */
		fdq = b->next;
		if (fdq == NULL)
			fdq_tail = &fdq;
		while (b->n > 0)
			close(b->fds[--b->n]);
		free(b);
	}
	return w;
}

void
msg_flush(void)
{
	ssize_t w;

	while (olen > 0 && msg_writable()) {
		w = write_some();
		if (w > 0) {
			memmove(obuf, obuf + w, olen - (size_t)w);
			olen -= (size_t)w;
			osent += (uint64_t)w;
		} else if (w == -1 && errno == EINTR)
			continue;
		else if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		else {
			broken = 1;
			olen = 0;
			fdq_free();
		}
	}
}

/* Queue one message of up to three parts: 0, or -1 out of memory.  No
 * server to write to is no error: the next one is told from the
 * records. */
int
msg_send(uint32_t type, uint64_t id, const struct iovec *iov, int n)
{
	return msg_send_fds(type, id, iov, n, NULL, 0);
}

/* As msg_send, with NFDS fds (copies go; ours stay ours). */
int
msg_send_fds(uint32_t type, uint64_t id, const struct iovec *iov, int n,
    const int *fds, int nfds)
{
	struct mon_hdr h = { type, 0, id };
	struct fdbatch *b = NULL;
	size_t need, cap;
	char *grown;
	int i;

	if (!msg_writable())
		return 0;
	if (nfds > 0) {
		if (nfds > MON_MAX_FDS || (b = calloc(1, sizeof(*b))) == NULL)
			return -1;
		for (i = 0; i < nfds; i++)
			if ((b->fds[b->n] = fcntl(fds[i], F_DUPFD_CLOEXEC,
			    3)) != -1)
				b->n++;
		if (b->n != nfds) {
			while (b->n > 0)
				close(b->fds[--b->n]);
			free(b);
			return -1;
		}
		b->at = osent + olen;
	}
	for (i = 0; i < n; i++)
		h.len += (uint32_t)iov[i].iov_len;
	need = olen + sizeof(h) + h.len;
	if (need > ocap) {
		for (cap = ocap ? ocap : 4096; cap < need; cap *= 2)
			;
		if ((grown = realloc(obuf, cap)) == NULL)
			return -1;
		obuf = grown;
		ocap = cap;
	}
	memcpy(obuf + olen, &h, sizeof(h));
	olen += sizeof(h);
	for (i = 0; i < n; i++) {
		if (iov[i].iov_len > 0)
			memcpy(obuf + olen, iov[i].iov_base, iov[i].iov_len);
		olen += iov[i].iov_len;
	}
	if (b != NULL) {
		*fdq_tail = b;
		fdq_tail = &b->next;
	}
	msg_flush();
	return 0;
}

/*
 * One read, then FN for every whole message while it returns 0 and
 * *STOP stays 0.  1: read something; 0: nothing yet; -1: the server
 * closed its end; -2: a message outside the set (FN said -1, or an
 * impossible size).
 */
int
msg_read(int (*fn)(const struct mon_hdr *, char *), const int *stop)
{
	struct mon_hdr h;
	size_t off = 0;
	ssize_t n;
	int rc = 1;

	n = recv(sfd, rbuf + rlen, sizeof(rbuf) - rlen, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	rlen += (size_t)n;
	while (!*stop && rlen - off >= sizeof(h)) {
		memcpy(&h, rbuf + off, sizeof(h));
		if (h.len <= MON_MAX_PAYLOAD && rlen - off - sizeof(h) < h.len)
			break;		/* the rest is still on its way */
		if (h.len > MON_MAX_PAYLOAD ||
		    fn(&h, rbuf + off + sizeof(h)) == -1) {
			mon_log("malformed message (type %u, length %u)",
			    h.type, h.len);
			rc = -2;
			break;
		}
		off += sizeof(h) + h.len;
	}
	if (sfd == -1)
		return rc;	/* FN closed us */
	memmove(rbuf, rbuf + off, rlen - off);
	rlen -= off;
	return rc;
}

void
msg_free(void)
{
	msg_close();
	fdq_free();
	free(obuf);
	obuf = NULL;
	ocap = 0;
}
