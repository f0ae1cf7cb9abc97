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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mon.h"

static int	 sfd = -1;
static int	 broken;		/* a write failed: nobody to tell */
static char	*obuf;
static size_t	 olen, ocap;

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
}

/* Done with this server: nothing more either way. */
void
msg_close(void)
{
	if (sfd != -1)
		close(sfd);
	sfd = -1;
	olen = rlen = 0;
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

void
msg_flush(void)
{
	ssize_t w;

	while (olen > 0 && msg_writable()) {
		w = send(sfd, obuf, olen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			memmove(obuf, obuf + w, olen - (size_t)w);
			olen -= (size_t)w;
		} else if (w == -1 && errno == EINTR)
			continue;
		else if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		else {
			broken = 1;
			olen = 0;
		}
	}
}

/* Queue one message of up to three parts: 0, or -1 out of memory.  No
 * server to write to is no error: the next one is told from the
 * records. */
int
msg_send(uint32_t type, uint64_t id, const struct iovec *iov, int n)
{
	struct mon_hdr h = { type, 0, id };
	size_t need, cap;
	char *grown;
	int i;

	if (!msg_writable())
		return 0;
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
	free(obuf);
	obuf = NULL;
	ocap = 0;
}
