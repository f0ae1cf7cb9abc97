/*
 * logq: a process's log lines on their way out, never blocking the
 * process that writes them.  procctld's monitor and its server each hold
 * one (it is in common/ because the monitor links nothing of daemon/):
 * daemon/log.c and monitor.c's mon_log() hand it lines; the owner's event
 * loop watches logq_wait_fd() for writability and calls logq_flush().
 *
 *  - One event, one line.  Whole lines are written, at most PIPE_BUF
 *    bytes at a time when they fit, so the monitor's and the server's
 *    lines on a shared stderr never cut into each other.
 *  - Every byte that a terminal or a reader of the log would take for
 *    something else is written as \xNN (escape.h).
 *  - A write that would block is not made: lines wait in a queue of at
 *    most LOGQ_MAX bytes.  Past that they are dropped and counted; once
 *    the queue has drained to half, "N log lines dropped (stderr not
 *    read)" is written before anything else.
 *  - At exit, what is queued is written for at most LOGQ_DRAIN_MS.
 *  - Under journald (JOURNAL_STREAM names stderr) every line starts with
 *    its syslog priority, <3> to <7>, in place of "procctld: ".
 *  - Or lines go to a log file (logq_open_file), which the server
 *    rotates by size.
 */
#ifndef PROCCTL_LOGQ_H
#define PROCCTL_LOGQ_H

#include <stddef.h>

/* Syslog priorities, as sd-daemon(3)'s SD_ERR...SD_DEBUG. */
#define LOGQ_ERR	3
#define LOGQ_WARNING	4
#define LOGQ_NOTICE	5
#define LOGQ_INFO	6
#define LOGQ_DEBUG	7

#define LOGQ_MAX	(256 * 1024)	/* bytes queued, at most */
#define LOGQ_DRAIN_MS	1000		/* spent writing at exit, at most */
#define LOGQ_TEXT_MAX	2048		/* bytes of one event, before escaping */

/* Take stderr as it is now: how to write to it without waiting, and
 * whether it is the journal.  Called once, early (main(), before any fd
 * is opened that must survive); logq_put() calls it if nobody did. */
void	logq_init(void);
/* The fd logq opened and holds (a private reopening of stderr, a log
 * file), or -1: code that closes every fd it does not know keeps it. */
int	logq_fd(void);
/* TAG ("monitor: ") goes before the drop count in that warning. */
void	logq_set_tag(const char *tag);
/* One event at priority PRIO (LOGQ_*): TEXT, LEN bytes of anything,
 * escaped here, becomes one line. */
void	logq_put(int prio, const char *text, size_t len);
/* Lines dropped since this process began (metrics). */
unsigned long long logq_dropped_total(void);
/* While lines wait: the fd to wait on for writability; else -1. */
int	logq_wait_fd(void);
/* It is writable: write what waits, without blocking. */
void	logq_flush(void);
/* Write what waits, giving up after MS milliseconds. */
void	logq_drain(int ms);

/* From now on lines go to PATH, appended (created mode 0640 if it is
 * not there), and no longer to stderr.  OWNER: this process rotates it
 * once it passes MAX bytes (0: never), keeping BACKUPS older files
 * (PATH.1 the newest), and creates it again when it has been moved
 * away; every process opens PATH again once it has been replaced.  0,
 * or -1 with errno (ELOOP: a symbolic link; EINVAL: not a regular file
 * with one link). */
int	logq_open_file(const char *path, size_t max, unsigned backups,
	    int owner);
/* The log file opened again by its name now if it was moved away
 * (reopen-logs, SIGUSR1), rather than at the next check. */
void	logq_reopen(void);
/* After a change of user: if this process may no longer rename in the
 * log file's directory, rotation is off, and a warning says so. */
void	logq_check_rotation(void);

#endif
