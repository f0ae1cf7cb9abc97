/*
 * The plain transport: a non-blocking socket, read(2) and send(2) with
 * MSG_NOSIGNAL.  TLS is the other transport (tls.c); the connection code
 * sees only struct transport.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "procctld.h"

/* The plain transport keeps no state; any non-NULL pointer will do. */
static int plain_state;

static void *
plain_open(int fd)
{
	(void)fd;
	return &plain_state;
}

static ssize_t
plain_read(void *state, int fd, void *p, size_t n)
{
	ssize_t r;

	(void)state;
	do
		r = read(fd, p, n);
	while (r == -1 && errno == EINTR);
	if (r >= 0)
		return r;
	return errno == EAGAIN || errno == EWOULDBLOCK ? TR_WANT_READ :
	    TR_ERROR;
}

static ssize_t
plain_write(void *state, int fd, const void *p, size_t n)
{
	ssize_t r;

	(void)state;
	do
		r = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r == -1 && errno == EINTR);
	if (r > 0)
		return r;
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return TR_WANT_WRITE;
	if (r == 0)
		errno = EPIPE;
	return TR_ERROR;
}

static size_t
plain_pending(void *state)
{
	(void)state;
	return 0;
}

static int
plain_peer_user(void *state, char *out, size_t size)
{
	(void)state;
	(void)out;
	(void)size;
	return 0;
}

static const char *
plain_error(void *state)
{
	(void)state;
	return strerror(errno);
}

static const char *
plain_describe(void *state)
{
	(void)state;
	return "plaintext";
}

static void
plain_close(void *state)
{
	(void)state;
}

const struct transport transport_plain = {
	.name = "plain",
	.open = plain_open,
	.handshake = NULL,
	.read = plain_read,
	.write = plain_write,
	.pending = plain_pending,
	.peer_user = plain_peer_user,
	.error = plain_error,
	.describe = plain_describe,
	.close = plain_close,
};
