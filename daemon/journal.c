#include <sys/uio.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-journal.h>

#include "journal.h"

int
journal_line(const char *ident, pid_t pid, int stream, const char *text,
    size_t len)
{
	char prio[16], spid[32], sident[300], *msg;
	const char *sstream;
	struct iovec iov[5];
	int r;

	if ((msg = malloc(len + 8)) == NULL)
		return -1;
	memcpy(msg, "MESSAGE=", 8);
	memcpy(msg + 8, text, len);
	/* Docker's journald driver's choice: stdout info, stderr err. */
	snprintf(prio, sizeof(prio), "PRIORITY=%d", stream == 2 ? LOG_ERR :
	    stream == 1 ? LOG_INFO : LOG_WARNING);
	snprintf(spid, sizeof(spid), "SYSLOG_PID=%d", (int)pid);
	snprintf(sident, sizeof(sident), "SYSLOG_IDENTIFIER=%s", ident);
	sstream = stream == 2 ? "PROCCTL_STREAM=stderr" : stream == 1 ?
	    "PROCCTL_STREAM=stdout" : "PROCCTL_STREAM=procctl";
	iov[0].iov_base = msg;
	iov[0].iov_len = len + 8;
	iov[1].iov_base = prio;
	iov[1].iov_len = strlen(prio);
	iov[2].iov_base = spid;
	iov[2].iov_len = strlen(spid);
	iov[3].iov_base = sident;
	iov[3].iov_len = strlen(sident);
	iov[4].iov_base = (char *)sstream;
	iov[4].iov_len = strlen(sstream);
	r = sd_journal_sendv(iov, 5);
	free(msg);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}
