/*
 * The Unix-domain listener: created with its final mode (no window where it
 * is more open), a stale socket from a dead daemon replaced, a live one
 * never stolen.  Accept survives EMFILE without spinning.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "procctld.h"

static int lfd = -1;
static struct watch *lwatch;
static char lpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int spare_fd = -1;	/* given up to accept-and-close on EMFILE */
static uint64_t emfile_logged;

const char *
listen_path(void)
{
	return lpath;
}

static int
make_parent(const char *path)
{
	char tmp[PATH_MAX];
	char *dir;

	if (strlen(path) >= sizeof(tmp))
		return -1;
	strcpy(tmp, path);
	dir = dirname(tmp);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_error("mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* 1: a daemon answers there; 0: nothing (or a stale socket) there. */
static int
socket_alive(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) == -1)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket; not replacing it",
		    sun->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0)
		return 1;
	if (errno == ECONNREFUSED || errno == ENOENT)
		return 0;
	log_error("%s: %s", sun->sun_path, strerror(errno));
	return -1;
}

static void
on_accept(int fd, unsigned events, void *arg)
{
	int cfd;

	(void)events;
	(void)arg;
	for (;;) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			conn_new(cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if ((errno == EMFILE || errno == ENFILE) && spare_fd != -1) {
			/* Out of fds: take the peer off the queue so the
			 * listener stops firing, then get the spare back. */
			if (loop_now_ms() - emfile_logged > 10000) {
				log_warn("accept: %s; refusing new clients "
				    "until fds are freed", strerror(errno));
				emfile_logged = loop_now_ms();
			}
			close(spare_fd);
			cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd >= 0)
				close(cfd);
			spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			/* The kernel says EMFILE before it looks at the
			 * queue: stop once the queue is empty. */
			if (cfd < 0)
				return;
			continue;
		}
		log_error("accept: %s", strerror(errno));
		return;
	}
}

int
listen_unix(const char *path, mode_t mode)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, alive;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("socket path too long (max %zu bytes): %s",
		    sizeof(sun.sun_path) - 1, path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (make_parent(path) == -1)
		return -1;
	if ((alive = socket_alive(&sun)) != 0) {
		if (alive == 1)
			log_error("another procctld is listening on %s", path);
		return -1;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	/* bind() creates the file: the umask gives it its final mode. */
	old = umask(0777 & ~mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_error("bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, SOMAXCONN) == -1) {
		log_error("listen %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	if ((lwatch = loop_watch(fd, LOOP_READ, on_accept, NULL)) == NULL) {
		unlink(path);
		close(fd);
		return -1;
	}
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	lfd = fd;
	strcpy(lpath, path);
	return 0;
}

void
listen_close(void)
{
	if (lfd == -1)
		return;
	loop_unwatch(lwatch);
	close(lfd);
	unlink(lpath);
	lfd = -1;
	if (spare_fd != -1)
		close(spare_fd);
	spare_fd = -1;
}
