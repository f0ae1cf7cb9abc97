/*
 * The Unix-domain listener: created with its final mode (no window where it
 * is more open), a stale socket from a dead daemon replaced, a live one
 * never stolen.  Accept survives EMFILE without spinning: a spare fd is
 * given up to accept the client and tell it -LIMIT before the close.
 *
 * Socket activation: the listening sockets systemd passed (sd_listen_fds)
 * are each used in place of binding the configured listener they are
 * (the Unix socket by its path, a TCP address by address and port); one
 * that is none of them is refused by name; a listener without one is
 * bound as usual.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "paths.h"
#include "procctld.h"

static int lfd = -1;
static struct watch *lwatch;
static int tcp_fds[16];
static struct watch *tcp_watches[16];
static size_t ntcp;
static int tcp_marker;		/* its address tells on_accept "TCP" */
static char lpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int spare_fd = -1;	/* given up to accept-and-close on EMFILE */
static uint64_t emfile_logged;

const char *
listen_path(void)
{
	return lpath;
}

/* ---- socket activation ---- */

#define ACT_MAX		64
static int act_fds[ACT_MAX];	/* systemd's, -1 once taken */
static size_t nact;

/* What passed socket FD is, for a person: "unix /run/x.sock", "tcp
 * 127.0.0.1:7000", ... */
static void
describe(int fd, char *out, size_t size)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[8];

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		snprintf(out, size, "not a socket");
	else if (ss.ss_family == AF_UNIX && len > offsetof(struct sockaddr_un,
	    sun_path) && sun->sun_path[0] != '\0')
		snprintf(out, size, "unix %s", sun->sun_path);
	else if (ss.ss_family == AF_UNIX)
		snprintf(out, size, "an unnamed or abstract unix socket");
	else if ((ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(out, size, ss.ss_family == AF_INET6 ? "tcp [%s]:%s" :
		    "tcp %s:%s", host, port);
	else
		snprintf(out, size, "address family %d", (int)ss.ss_family);
}

/* Why passed socket FD cannot be a listener of ours, or NULL if it can:
 * systemd hands over what the socket unit says, and a unit that says
 * ListenDatagram= or Accept=yes is not procctld's. */
static const char *
unusable(int fd)
{
	if (sd_is_socket(fd, AF_UNSPEC, 0, -1) <= 0)
		return "it is not a socket";
	if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, -1) <= 0)
		return "it is not a stream socket (ListenStream=)";
	if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
		return "it is not listening (Accept=yes passes connections, "
		    "not listeners)";
	return NULL;
}

/* The N sockets systemd passed (at SD_LISTEN_FDS_START on), each a
 * listening stream socket: 0, or -1 after logging each that is not, or
 * that there are too many (procctld does not start: the socket unit is
 * to be fixed, not half used). */
int
listen_activated(int n)
{
	char what[sizeof(lpath) + 64];
	const char *why;
	int i, rc = 0;

	if (n > ACT_MAX) {
		log_error("socket activation: %d sockets passed; procctld "
		    "takes at most %d", n, ACT_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		act_fds[nact++] = SD_LISTEN_FDS_START + i;
		if ((why = unusable(SD_LISTEN_FDS_START + i)) == NULL)
			continue;
		describe(SD_LISTEN_FDS_START + i, what, sizeof(what));
		log_error("socket activation: fd %d (%s) cannot be listened "
		    "on: %s", SD_LISTEN_FDS_START + i, what, why);
		rc = -1;
	}
	return rc;
}

/* The passed socket listening on the Unix socket PATH (taken: a second
 * call does not find it), or -1. */
int
listen_take_unix(const char *path)
{
	size_t i;
	int fd;

	for (i = 0; i < nact; i++)
		if ((fd = act_fds[i]) != -1 &&
		    sd_is_socket_unix(fd, SOCK_STREAM, 1, path, 0) > 0) {
			act_fds[i] = -1;
			log_info("socket activation: accepting on %s, passed "
			    "by the service manager", path);
			return fd;
		}
	return -1;
}

/* The passed socket listening on SA (address and port), or -1. */
static int
take_tcp(const struct sockaddr *sa, socklen_t len)
{
	size_t i;
	int fd;

	for (i = 0; i < nact; i++)
		if ((fd = act_fds[i]) != -1 && sd_is_socket_sockaddr(fd,
		    SOCK_STREAM, sa, len, 1) > 0) {
			act_fds[i] = -1;
			return fd;
		}
	return -1;
}

/* After every listener took its socket: each passed one left over is
 * an error, logged with what it is.  How many. */
int
listen_activated_unused(const char *socket)
{
	char what[sizeof(lpath) + 64];
	size_t i;
	int n = 0;

	for (i = 0; i < nact; i++) {
		if (act_fds[i] == -1)
			continue;
		describe(act_fds[i], what, sizeof(what));
		log_error("socket activation: fd %d (%s) is none of the "
		    "configured listeners (the Unix socket %s, [tcp] listen); "
		    "make ListenStream= in procctld.socket and the "
		    "configuration agree", act_fds[i], what, socket);
		close(act_fds[i]);
		act_fds[i] = -1;
		n++;
	}
	return n;
}

/* After "bind PATH: Permission denied": what to do about it, for the
 * first start of a user's daemon most of all (-s, or the default under
 * their own runtime or home directory: paths.c). */
static const char *
denied_hint(int err)
{
	if (err != EACCES && err != EPERM && err != EROFS)
		return "";
	if (geteuid() != 0)
		return "; choose a socket you may create: procctld -s PATH, or "
		    "socket = PATH in [daemon] (a user's default is "
		    "$XDG_RUNTIME_DIR/procctl.sock, else "
		    "~/" PROCCTL_HOME_DIR "/" PROCCTL_SOCKET_NAME ")";
	return "; choose another socket: procctld -s PATH, or socket = PATH "
	    "in [daemon]";
}

/*
 * The socket's directory, made if it is not there: it must be root's or
 * procctld's user's, and writable by nobody else unless it is sticky
 * (/tmp): whoever may rename in it could put something else where the
 * socket is between its bind and its chmod, or take its place later.
 */
static int
make_parent(const char *path)
{
	char tmp[PATH_MAX];
	struct stat st;
	char *dir;

	if (strlen(path) >= sizeof(tmp))
		return -1;
	strcpy(tmp, path);
	dir = dirname(tmp);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_error("mkdir %s: %s%s", dir, strerror(errno),
		    denied_hint(errno));
		return -1;
	}
	if (stat(dir, &st) == -1) {
		log_error("socket directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_error("socket directory %s is owned by uid %u, not by root "
		    "or procctld's user (uid %u): its owner could replace the "
		    "socket; choose another directory", dir,
		    (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
		log_error("socket directory %s is writable by %s (mode %04o) "
		    "and not sticky: they could replace the socket; choose "
		    "another directory", dir, st.st_mode & 002 ? "others" :
		    "its group", (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Group GROUP (-1: unchanged) and MODE on the socket file PATH just
 * bound: on the file itself, never through a link put in its place. */
static int
set_owner_mode(const char *path, mode_t mode, gid_t group)
{
	char proc[64];
	struct stat st;
	int fd, rc = -1;

	if ((fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    st.st_uid != geteuid()) {
		errno = EPERM;		/* not the socket we made */
		goto done;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((group == (gid_t)-1 || fchownat(fd, "", (uid_t)-1, group,
	    AT_EMPTY_PATH) == 0) && chmod(proc, mode) == 0)
		rc = 0;
done:
	close(fd);
	return rc;
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
	for (;;) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			if (arg == &tcp_marker) {
				int one = 1;

				setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
			}
			conn_new(cfd, arg == &tcp_marker,
			    arg == &tcp_marker && tls_enabled() ?
			    &transport_tls : &transport_plain);
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
				conn_refuse(cfd, arg == &tcp_marker &&
				    tls_enabled() ? &transport_tls :
				    &transport_plain, "-LIMIT too many clients: "
				    "procctld is out of file descriptors\r\n");
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

/* Bind PATH (the daemon's start, before the split): the fd, or -1. */
int
listen_bind_unix(const char *path, mode_t mode, gid_t group)
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
	/* bind() creates the file owner-only; then it gets its group, then
	 * its mode: at no moment is it more open than configured. */
	old = umask(0077 | (0777 & ~mode));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_error("bind %s: %s%s", path, strerror(errno),
		    denied_hint(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (set_owner_mode(path, mode, group) == -1) {
		log_error("%s: setting group %d and mode %04o: %s", path,
		    (int)group, (unsigned)mode, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		log_error("listen %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Split "host:port" / "[v6]:port" into HOST and PORT. */
static int
split_spec(const char *spec, char *host, size_t hsize, char *port,
    size_t psize)
{
	const char *colon, *h = spec;
	char *end;
	size_t hlen;
	long n;

	if ((colon = strrchr(spec, ':')) == NULL || colon[1] == '\0')
		return -1;
	hlen = (size_t)(colon - spec);
	if (h[0] == '[') {
		if (hlen < 2 || spec[hlen - 1] != ']')
			return -1;
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= hsize || strlen(colon + 1) >= psize)
		return -1;
	/* A number in 1..65535: getaddrinfo would wrap 70000 silently. */
	n = strtol(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || *end != '\0' || n < 1 ||
	    n > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

/* SPEC's addresses, or NULL with why in ERR ("" when NUMERIC, only
 * numeric hosts taken, and SPEC names a host: no lookup was made). */
static struct addrinfo *
resolve(const char *spec, int numeric, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char host[256], port[32];
	int rc;

	if (split_spec(spec, host, sizeof(host), port, sizeof(port)) == -1) {
		snprintf(err, errlen, "expected HOST:PORT or [IPV6]:PORT, "
		    "PORT a number from 1 to 65535");
		return NULL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV |
	    (numeric ? AI_NUMERICHOST : 0);
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s", numeric && rc == EAI_NONAME ? "" :
		    gai_strerror(rc));
		return NULL;
	}
	return res;
}

static int
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6;

	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr)
		    >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)sa;
		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	}
	return 0;
}

/* 1 if every address of SPEC is loopback, 0 if not, -1 with why in
 * ERR (ERR "": NUMERIC and SPEC names a host, not looked up). */
static int
all_loopback(const char *spec, int numeric, char *err, size_t errlen)
{
	struct addrinfo *res, *ai;
	int all = 1;

	if ((res = resolve(spec, numeric, err, errlen)) == NULL)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		all &= is_loopback(ai->ai_addr);
	freeaddrinfo(res);
	return all;
}

/*
 * SPEC, the listen address of [SECTION] (WHERE: "file:line: " or ""),
 * may carry PLAIN (plaintext TCP, plain HTTP) only on loopback: 0 if it
 * is loopback or TLS is set, -1 after logging why.  At start, and at
 * reload (RELOAD) so that it tells now what the next start would
 * refuse; there, in the server's loop, a host name is not looked up
 * (a resolver can take seconds): the start judges it.
 */
int
listen_check_plain(const char *where, const char *section, const char *spec,
    int tls, const char *plain, int reload)
{
	char err[128];
	int lo;

	if ((lo = all_loopback(spec, reload, err, sizeof(err))) == -1) {
		if (err[0] == '\0')
			return 0;
		log_error("%s[%s] listen = %s: %s", where, section, spec, err);
		return -1;
	}
	if (lo == 0 && !tls) {
		log_error("%s[%s] listen = %s: not a loopback address; %s is "
		    "allowed only on loopback: set tls_cert and tls_key, or "
		    "listen on 127.0.0.1 or [::1]", where, section, spec,
		    plain);
		return -1;
	}
	return 0;
}

/* Bind SPEC's addresses into FDS (at most MAX): how many, or -1. */
int
listen_bind_tcp(const char *spec, int *fds, size_t max)
{
	struct addrinfo *res, *ai;
	char err[128];
	int fd, one = 1, bound = 0;

	if ((res = resolve(spec, 0, err, sizeof(err))) == NULL) {
		log_error("listen %s: %s", spec, err);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((size_t)bound == max) {
			log_error("listen %s: too many TCP listeners", spec);
			break;
		}
		if ((fd = take_tcp(ai->ai_addr, ai->ai_addrlen)) != -1) {
			log_info("socket activation: accepting on tcp %s "
			    "(fd %d), passed by the service manager", spec, fd);
			fds[bound++] = fd;
			continue;
		}
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, SOMAXCONN) == -1) {
			log_error("listen %s: %s", spec, strerror(errno));
			close(fd);
			continue;
		}
		fds[bound++] = fd;
	}
	freeaddrinfo(res);
	if (bound == 0)
		return -1;
	log_info("listening on tcp %s", spec);
	return bound;
}

/* Accept on FD, a listener the monitor handed us: TCP or the Unix
 * socket, as its address says. */
int
listen_adopt(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		log_error("listener fd %d: %s", fd, strerror(errno));
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (ss.ss_family == AF_UNIX) {
		if (lfd != -1)
			return -1;
		if ((lwatch = loop_watch(fd, LOOP_READ, on_accept, NULL)) ==
		    NULL)
			return -1;
		lfd = fd;
		if (len > offsetof(struct sockaddr_un, sun_path))
			snprintf(lpath, sizeof(lpath), "%.*s", (int)(len -
			    offsetof(struct sockaddr_un, sun_path)),
			    sun->sun_path);
		if (spare_fd == -1)
			spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return 0;
	}
	if (ntcp == sizeof(tcp_fds) / sizeof(tcp_fds[0]))
		return -1;
	if ((tcp_watches[ntcp] = loop_watch(fd, LOOP_READ, on_accept,
	    &tcp_marker)) == NULL)
		return -1;
	tcp_fds[ntcp++] = fd;
	if (spare_fd == -1)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

/* FD, the Unix socket made again (it had been deleted), in place of
 * the one we accepted on. */
void
listen_replace_unix(int fd)
{
	if (lfd != -1) {
		loop_unwatch(lwatch);
		close(lfd);
		lfd = -1;
	}
	if (listen_adopt(fd) == -1) {
		log_error("the socket made again cannot be used: %s",
		    strerror(errno));
		close(fd);
		return;
	}
	log_info("SIGHUP: accepting on the socket made again");
}

void
listen_close(void)
{
	while (ntcp > 0) {
		ntcp--;
		loop_unwatch(tcp_watches[ntcp]);
		close(tcp_fds[ntcp]);
	}
	if (lfd == -1)
		return;
	/* The socket file is the monitor's to remove: it outlives us. */
	loop_unwatch(lwatch);
	close(lfd);
	lfd = -1;
	if (spare_fd != -1)
		close(spare_fd);
	spare_fd = -1;
}
