/*
 * The machine's raw limit for a request/reply server on a Unix socket:
 * one epoll thread that answers "+PONG\r\n" for every LINES newlines it
 * reads, with no parsing, no dispatch, no allocation per request.  What
 * procctld achieves is reported as a ratio to this, measured in the same
 * run with the same client.
 *
 * usage: raw_server SOCKET LINES
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct client {
	int	fd;
	long	lines;
};

int
main(int argc, char **argv)
{
	static char in[65536], out[65536 * 8];
	struct epoll_event ev, evs[256];
	struct sockaddr_un sun;
	struct rlimit rl;
	struct client *c;
	long per, replies, k;
	ssize_t n, i;
	int lfd, ep, cfd, nev, j;

	if (argc != 3)
		return 2;
	per = atol(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[1]);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, SOMAXCONN) == -1)
		return 1;
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		nev = epoll_wait(ep, evs, 256, -1);
		for (j = 0; j < nev; j++) {
			if (evs[j].data.ptr == NULL) {
				while ((cfd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) >= 0) {
					c = calloc(1, sizeof(*c));
					c->fd = cfd;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
				}
				continue;
			}
			c = evs[j].data.ptr;
			n = read(c->fd, in, sizeof(in));
			if (n <= 0) {
				if (n == -1 && errno == EAGAIN)
					continue;
				close(c->fd);
				free(c);
				continue;
			}
			replies = 0;
			for (i = 0; i < n; i++)
				if (in[i] == '\n' && ++c->lines == per) {
					c->lines = 0;
					replies++;
				}
			for (k = 0; k < replies; k++)
				memcpy(out + 7 * k, "+PONG\r\n", 7);
			if (replies > 0)
				(void)!write(c->fd, out, (size_t)(7 * replies));
		}
	}
}
