#ifndef PROCCTL_JOURNAL_H
#define PROCCTL_JOURNAL_H

#include <stddef.h>
#include <sys/types.h>

/* One line process PID (SYSLOG_IDENTIFIER IDENT) wrote on STREAM (1
 * stdout, 2 stderr; 0: procctld's own note about it) to journald.  0, or
 * -1 with errno.  Apart from procctld.h: <syslog.h>, which sd-journal.h
 * brings, names LOG_INFO and its kin too. */
int	journal_line(const char *ident, pid_t pid, int stream, const char *text,
	    size_t len);

#endif
