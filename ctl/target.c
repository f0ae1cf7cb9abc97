/* Where procctl connects, and with which credentials. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "paths.h"

static int
unix_path(const char *p, struct target *t)
{
	if (*p == '\0' || strlen(p) >= sizeof(t->path)) {
		fprintf(stderr, "procctl: bad socket path '%s'\n", p);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "%s", p);
	return 0;
}

static void
default_user(struct target *t)
{
	const char *u = getenv("PROCCTL_USER");
	struct passwd *pw;

	if (u != NULL && *u != '\0')
		snprintf(t->user, sizeof(t->user), "%s", u);
	else if ((pw = getpwuid(getuid())) != NULL)
		snprintf(t->user, sizeof(t->user), "%s", pw->pw_name);
}

int
target_host_port(const char *host, const char *port, struct target *t)
{
	char *end;
	long n;

	n = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || n < 1 || n > 65535) {
		fprintf(stderr, "procctl: bad port '%s'\n", port);
		return -1;
	}
	if (*host == '\0' || strlen(host) >= sizeof(t->host)) {
		fprintf(stderr, "procctl: bad host '%s'\n", host);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	t->tcp = 1;
	snprintf(t->host, sizeof(t->host), "%s", host);
	snprintf(t->port, sizeof(t->port), "%ld", n);
	default_user(t);
	return 0;
}

int
target_parse(const char *s, struct target *t)
{
	char host[256], user[64] = "";
	const char *p, *at, *colon;
	size_t n;

	if (strncmp(s, "unix://", 7) == 0)
		return unix_path(s + 7, t);
	if (strncmp(s, "unix:", 5) == 0)
		return unix_path(s + 5, t);
	if (strncmp(s, "tcp://", 6) != 0) {
		if (strstr(s, "://") != NULL) {
			fprintf(stderr, "procctl: %s: unsupported address; use "
			    "unix:///path, a socket path or "
			    "tcp://[user@]host:port\n", s);
			return -1;
		}
		return unix_path(s, t);
	}
	p = s + 6;
	if ((at = strchr(p, '@')) != NULL) {
		n = (size_t)(at - p);
		if (n == 0 || n >= sizeof(user))
			goto bad;
		memcpy(user, p, n);
		user[n] = '\0';
		p = at + 1;
	}
	if ((colon = strrchr(p, ':')) == NULL)
		goto bad;
	n = (size_t)(colon - p);
	if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
		p++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		goto bad;
	memcpy(host, p, n);
	host[n] = '\0';
	if (target_host_port(host, colon + 1, t) == -1)
		return -1;
	if (user[0] != '\0')
		snprintf(t->user, sizeof(t->user), "%s", user);
	return 0;
bad:
	fprintf(stderr, "procctl: %s: expected tcp://[user@]host:port\n", s);
	return -1;
}

int
target_default(struct target *t)
{
	char path[sizeof(t->path)];
	const char *env;

	if ((env = getenv("PROCCTL_HOST")) != NULL && *env != '\0')
		return target_parse(env, t);
	if ((env = getenv("PROCCTL_SOCKET")) != NULL && *env != '\0')
		return target_parse(env, t);
	if (paths_default_socket(path, sizeof(path)) == -1)
		return -1;
	/* A user without a daemon of their own talks to the system one. */
	if (access(path, F_OK) == -1)
		snprintf(path, sizeof(path), "%s", PROCCTL_SYSTEM_SOCKET);
	return unix_path(path, t);
}

char *
target_secret(const struct target *t)
{
	struct termios old, quiet;
	const char *env = getenv("PROCCTL_SECRET");
	char buf[256];
	size_t n;
	FILE *tty;

	if (env != NULL)
		return strdup(env);
	if ((tty = fopen("/dev/tty", "r+e")) == NULL) {
		fprintf(stderr, "procctl: %s:%s needs a secret for user '%s': "
		    "set PROCCTL_SECRET\n", t->host, t->port, t->user);
		return NULL;
	}
	fprintf(tty, "secret for %s@%s:%s: ", t->user, t->host, t->port);
	fflush(tty);
	tcgetattr(fileno(tty), &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	if (fgets(buf, sizeof(buf), tty) == NULL)
		buf[0] = '\0';
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return strdup(buf);
}
