/*
 * What the monitor tells the service manager that started procctld,
 * over sd_notify(3).  Not ready.c: that is the notify socket the monitor
 * offers the processes it manages.  This is procctld's own NOTIFY_SOCKET,
 * as systemd set it for the unit (Type=notify); the monitor is the unit's
 * main process, so NotifyAccess=main (the default) suffices.
 *
 *  - READY=1 once a server says it is up (MON_HELLO: it has its
 *    listeners and plugins), and again after RELOADING=1 (a SIGHUP
 *    reload, an upgrade's re-exec, which keeps the pid: no MAINPID=).
 *  - STATUS= with how many processes and clients, on change, at most
 *    once per STATUS_MS: a burst of `run`s is one line, not a thousand.
 *  - STOPPING=1 once a stop begins.
 *  - WATCHDOG=1 from the loop every half WATCHDOG_USEC, when systemd set
 *    it (WatchdogSec=): a monitor stuck anywhere stops saying it.
 *
 * Sent as sd_notify(3) sends them, but never waiting: libsystemd's
 * sendmsg blocks while the manager's queue is full, and a monitor
 * stuck there serves no one.  A line that finds the queue full is
 * dropped; a state (READY=, RELOADING=, STOPPING=) is sent again every
 * RETRY_MS until it goes, as the manager must hear it.
 *
 * Without NOTIFY_SOCKET each is nothing.  The variable stays in the
 * monitor's environment, so a re-exec goes on saying these; no other
 * process gets it: spawn.c gives every child a fresh environment, and
 * server.c unsets it (and the watchdog's) for the server.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "mon.h"

#define STATUS_MS	1000	/* STATUS= at most this often */
#define RETRY_MS	100	/* a state the manager's full queue refused */

static int	 nfd = -1;	/* our datagram socket, when NOTIFY_SOCKET
				 * is set and usable */
static struct sockaddr_un to;	/* NOTIFY_SOCKET */
static socklen_t tolen;
static int	 told_errno;	/* the last send error, logged when it is
				 * not the one before: a manager that stalls
				 * now and then is one line, not one a
				 * watchdog tick */
static char	 state[96];	/* a state line not sent yet, or "" */
static int64_t	 state_retry;	/* when to send it again (ms) */
static int	 ready;		/* READY=1 said since the last RELOADING=1 */
static int	 stopping;
static int64_t	 wd_every;	/* WATCHDOG=1 every this many ms, or 0 */
static int64_t	 wd_next;
static int64_t	 status_next;	/* no STATUS= before this (ms) */
static size_t	 told_procs = SIZE_MAX, told_clients;

/* LINE to the service manager, without waiting: 0, or -1 (logged unless
 * the failure before was the same). */
static int
say(const char *line)
{
	if (nfd == -1)
		return -1;
	if (sendto(nfd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&to, tolen) != -1)
		return 0;
	if (errno != told_errno) {
		told_errno = errno;
		if (errno == EAGAIN || errno == ENOBUFS)
			mon_log("sd_notify: the service manager is not reading "
			    "$NOTIFY_SOCKET: what procctld tells it is dropped "
			    "until it does (a state is sent again)");
		else
			mon_log("sd_notify to $NOTIFY_SOCKET: %s (the service "
			    "manager does not hear from procctld)",
			    strerror(errno));
	}
	return -1;
}

/* A state change: said now, or again from sdnotify_tick while the
 * manager's queue is full.  The newest state replaces one not sent. */
static void
say_state(const char *line, int64_t now)
{
	if (say(line) == 0 || (told_errno != EAGAIN &&
	    told_errno != ENOBUFS)) {
		state[0] = '\0';
		return;
	}
	if (line != state)
		snprintf(state, sizeof(state), "%s", line);
	state_retry = now + RETRY_MS;
}

/* Where NOTIFY_SOCKET (PATH) points: a path or "@" and an abstract
 * name, as sd_notify(3) takes it.  0, or -1 after logging why not. */
static int
address(const char *path)
{
	size_t len = strlen(path);

	memset(&to, 0, sizeof(to));
	to.sun_family = AF_UNIX;
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len >= sizeof(to.sun_path)) {
		mon_log("$NOTIFY_SOCKET is not a socket's path nor an "
		    "@abstract name of at most %zu bytes: the service "
		    "manager will not hear from procctld",
		    sizeof(to.sun_path) - 1);
		return -1;
	}
	memcpy(to.sun_path, path, len);
	if (path[0] == '@')
		to.sun_path[0] = '\0';
	/* An abstract name is exactly its bytes: no NUL counted. */
	tolen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '/'));
	return 0;
}

void
sdnotify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	uint64_t usec = 0;

	if (path == NULL || address(path) == -1)
		return;
	if ((nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		mon_log("sd_notify: socket: %s (the service manager will not "
		    "hear from procctld)", strerror(errno));
		return;
	}
	/* WATCHDOG_PID, if set, must be ours: an upgrade keeps the pid. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
		wd_every = (int64_t)(usec / 2000);
		wd_next = clock_ms(CLOCK_MONOTONIC);
	}
}

void
sdnotify_ready(void)
{
	if (ready || stopping)
		return;
	ready = 1;
	say_state("READY=1", clock_ms(CLOCK_MONOTONIC));
}

/* A reload or an upgrade begins: READY=1 again when a server says it is
 * up (sdnotify_ready). */
void
sdnotify_reloading(void)
{
	char line[64];
	int64_t now = clock_ms(CLOCK_MONOTONIC);

	if (stopping || !ready)
		return;
	ready = 0;
	/* MONOTONIC_USEC: systemd 253's Type=notify-reload asks for it. */
	snprintf(line, sizeof(line), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)now * 1000ULL);
	say_state(line, now);
}

void
sdnotify_stopping(void)
{
	if (stopping)
		return;
	stopping = 1;
	say_state("STOPPING=1", clock_ms(CLOCK_MONOTONIC));
}

/* The STATUS= line for PROCS processes and CLIENTS clients: kept as
 * told only once it went. */
static void
status(size_t procs, size_t clients)
{
	char line[128];

	snprintf(line, sizeof(line), "STATUS=%s%zu process%s, %zu client%s",
	    stopping ? "stopping: " : "", procs, procs == 1 ? "" : "es",
	    clients, clients == 1 ? "" : "s");
	if (say(line) == 0) {
		told_procs = procs;
		told_clients = clients;
	}
}

/* DUE (ms from now, or -1) brought forward to AT, if sooner. */
static int64_t
sooner(int64_t due, int64_t at, int64_t now)
{
	int64_t in = at > now ? at - now : 0;

	return due == -1 || in < due ? in : due;
}

/* Once a loop turn, at NOW (CLOCK_MONOTONIC ms): what is due is said.
 * How long the loop may sleep before the next is due, or -1. */
int
sdnotify_tick(int64_t now, size_t procs, size_t clients)
{
	int64_t due = -1;

	if (nfd == -1)
		return -1;
	if (state[0] != '\0' && now >= state_retry)
		say_state(state, now);
	if (state[0] != '\0')
		due = sooner(due, state_retry, now);
	if (wd_every > 0) {
		if (now >= wd_next) {
			(void)say("WATCHDOG=1");	/* the next one comes */
			wd_next = now + wd_every;
		}
		due = sooner(due, wd_next, now);
	}
	if (ready && (procs != told_procs || clients != told_clients)) {
		if (now >= status_next) {
			status(procs, clients);
			status_next = now + STATUS_MS;
		}
		if (procs != told_procs || clients != told_clients)
			due = sooner(due, status_next, now);
	}
	return due > INT32_MAX ? INT32_MAX : (int)due;
}
