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
 * Without NOTIFY_SOCKET each is nothing.  The variable stays in the
 * monitor's environment, so a re-exec goes on saying these; no other
 * process gets it: spawn.c gives every child a fresh environment, and
 * server.c unsets it (and the watchdog's) for the server.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "mon.h"

#define STATUS_MS	1000	/* STATUS= at most this often */

static int	 enabled;	/* NOTIFY_SOCKET is set */
static int	 failed;	/* a send failed: said once in the log */
static int	 ready;		/* READY=1 said since the last RELOADING=1 */
static int	 stopping;
static int64_t	 wd_every;	/* WATCHDOG=1 every this many ms, or 0 */
static int64_t	 wd_next;
static int64_t	 status_next;	/* no STATUS= before this (ms) */
static size_t	 told_procs = SIZE_MAX, told_clients;

static void
say(const char *what)
{
	int r;

	if (!enabled)
		return;
	/* 0 unset_environment: the monitor keeps it for later lines, and
	 * across an upgrade's exec. */
	if ((r = sd_notify(0, what)) < 0 && !failed) {
		failed = 1;
		mon_log("sd_notify to $NOTIFY_SOCKET: %s (the service manager "
		    "will not hear from procctld)", strerror(-r));
	}
}

void
sdnotify_init(void)
{
	uint64_t usec = 0;

	enabled = getenv("NOTIFY_SOCKET") != NULL;
	/* WATCHDOG_PID, if set, must be ours: an upgrade keeps the pid. */
	if (enabled && sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
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
	say("READY=1");
}

/* A reload or an upgrade begins: READY=1 again when a server says it is
 * up (sdnotify_ready). */
void
sdnotify_reloading(void)
{
	char line[64];

	if (stopping || !ready)
		return;
	ready = 0;
	/* MONOTONIC_USEC: systemd 253's Type=notify-reload asks for it. */
	snprintf(line, sizeof(line), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)clock_ms(CLOCK_MONOTONIC) * 1000ULL);
	say(line);
}

void
sdnotify_stopping(void)
{
	if (stopping)
		return;
	stopping = 1;
	say("STOPPING=1");
}

/* The STATUS= line for PROCS processes and CLIENTS clients. */
static void
status(size_t procs, size_t clients)
{
	char line[128];

	snprintf(line, sizeof(line), "STATUS=%s%zu process%s, %zu client%s",
	    stopping ? "stopping: " : "", procs, procs == 1 ? "" : "es",
	    clients, clients == 1 ? "" : "s");
	say(line);
	told_procs = procs;
	told_clients = clients;
}

/* Once a loop turn, at NOW (CLOCK_MONOTONIC ms): what is due is said.
 * How long the loop may sleep before the next is due, or -1. */
int
sdnotify_tick(int64_t now, size_t procs, size_t clients)
{
	int64_t due = -1;

	if (!enabled)
		return -1;
	if (wd_every > 0) {
		if (now >= wd_next) {
			say("WATCHDOG=1");
			wd_next = now + wd_every;
		}
		due = wd_next - now;
	}
	if (ready && (procs != told_procs || clients != told_clients)) {
		if (now >= status_next) {
			status(procs, clients);
			status_next = now + STATUS_MS;
		} else if (due == -1 || status_next - now < due)
			due = status_next - now;
	}
	return due > INT32_MAX ? INT32_MAX : (int)due;
}
