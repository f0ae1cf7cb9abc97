#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "procctld.h"

static int log_level = LOG_INFO;
static char *capture;		/* log_capture()'s: the first error */
static size_t capture_size;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

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
	char msg[2048];
	size_t i;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One event, one line: logs are read by journald and by grep. */
	for (i = 0; msg[i] != '\0'; i++)
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';
	if (capture != NULL && level == LOG_ERROR && capture[0] == '\0')
		snprintf(capture, capture_size, "%s", msg);
	fprintf(stderr, "procctld: %s: %s%s%s\n", level_names[level],
	    prefix ? prefix : "", prefix ? ": " : "", msg);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
