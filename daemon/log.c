/*
 * The server's log (and the monitor's, for the daemon code it runs):
 * levels, the plugin's name before its lines, the first error kept for
 * a reply (log_capture).  Writing is logq's (common/logq.c): a line is
 * escaped, queued and written when stderr can take it, never waited for.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logq.h"
#include "procctld.h"

static int log_level = LOG_INFO;
static char *capture;		/* log_capture()'s: the first error */
static size_t capture_size;
static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int level_prio[] = { LOGQ_ERR, LOGQ_WARNING, LOGQ_INFO,
	LOGQ_DEBUG };

void
log_init(int level)
{
	log_level = level;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_WARN;
	return -1;
}

void
log_capture(char *buf, size_t size)
{
	capture = size > 0 ? buf : NULL;
	capture_size = size;
	if (capture != NULL)
		capture[0] = '\0';
}

void
log_vmsg(int level, const char *prefix, const char *fmt, va_list ap)
{
	char msg[LOGQ_TEXT_MAX], line[LOGQ_TEXT_MAX];
	int n;
	size_t i;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (capture != NULL && level == LOG_ERROR && capture[0] == '\0') {
		/* A reply is one line too. */
		snprintf(capture, capture_size, "%s", msg);
		for (i = 0; capture[i] != '\0'; i++)
			if (capture[i] == '\n' || capture[i] == '\r')
				capture[i] = ' ';
	}
	/* Newlines and every other control byte are escaped by logq: one
	 * event stays one line, as journald and grep read it. */
	n = snprintf(line, sizeof(line), "%s: %s%s%s", level_names[level],
	    prefix ? prefix : "", prefix ? ": " : "", msg);
	if (n > 0)
		logq_put(level_prio[level], line, (size_t)n < sizeof(line) ?
		    (size_t)n : sizeof(line) - 1);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}

/* A line process WHO wrote on STREAM (output = inherit): whatever the
 * level, as "info: output: WHO STREAM: <line>", its bytes escaped as
 * any log line's: the level and "output:" come before anything the
 * process chose (its name included), so that it can never pass for
 * procctld's own. */
void
log_output(const char *who, const char *stream, const char *text, size_t len)
{
	char line[LOGQ_TEXT_MAX];
	int n;

	n = snprintf(line, sizeof(line), "%s: output: %s %s: ",
	    level_names[LOG_INFO], who, stream);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	if (len > sizeof(line) - (size_t)n)
		len = sizeof(line) - (size_t)n;
	memcpy(line + n, text, len);
	logq_put(LOGQ_INFO, line, (size_t)n + len);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);	/* logq drains what waits, for a second at most */
}
