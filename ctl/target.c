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
	if (strncmp(s, "tls://", 6) == 0) {
		char tcp[sizeof(host) + 80];

		snprintf(tcp, sizeof(tcp), "tcp://%s", s + 6);
		if (target_parse(tcp, t) == -1)
			return -1;
		t->tls.on = 1;
		return 0;
	}
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
	if (paths_default_socket(path, sizeof(path)) == -1) {
		fprintf(stderr, "procctl: no default socket fits here; name "
		    "one: -s PATH\n");
		return -1;
	}
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

static int
set_file(char *dst, size_t size, const char *opt, const char *val)
{
	if (val == NULL || *val == '\0' || strlen(val) >= size) {
		fprintf(stderr, "procctl: %s needs a file name\n", opt);
		return -1;
	}
	snprintf(dst, size, "%s", val);
	return 0;
}

void
target_tls_env(struct tls_opts *o)
{
	const char *v;

	memset(o, 0, sizeof(*o));
	if ((v = getenv("PROCCTL_TLS")) != NULL && strcmp(v, "1") == 0)
		o->on = 1;
	if ((v = getenv("PROCCTL_CACERT")) != NULL && *v != '\0' &&
	    set_file(o->cacert, sizeof(o->cacert), "PROCCTL_CACERT", v) == 0)
		o->on = 1;
	if ((v = getenv("PROCCTL_CERT")) != NULL && *v != '\0' &&
	    set_file(o->cert, sizeof(o->cert), "PROCCTL_CERT", v) == 0)
		o->on = 1;
	if ((v = getenv("PROCCTL_KEY")) != NULL && *v != '\0' &&
	    set_file(o->key, sizeof(o->key), "PROCCTL_KEY", v) == 0)
		o->on = 1;
}

int
target_tls_option(struct tls_opts *o, int argc, const char *const *argv,
    int *i)
{
	const char *a = argv[*i], *val;
	char *dst;
	size_t n;

	if (strcmp(a, "--tls") == 0) {
		o->on = 1;
		(*i)++;
		return 1;
	}
	if (strncmp(a, "--cacert", 8) == 0 && (a[8] == '\0' || a[8] == '='))
		dst = o->cacert, n = 8;
	else if (strncmp(a, "--cert", 6) == 0 && (a[6] == '\0' || a[6] == '='))
		dst = o->cert, n = 6;
	else if (strncmp(a, "--key", 5) == 0 && (a[5] == '\0' || a[5] == '='))
		dst = o->key, n = 5;
	else
		return 0;
	if (a[n] == '=')
		val = a + n + 1;
	else if (*i + 1 < argc)
		val = argv[++(*i)];
	else
		val = NULL;
	if (set_file(dst, sizeof(o->cacert), a, val) == -1)
		return -1;
	o->on = 1;
	(*i)++;
	return 1;
}

void
target_apply_tls(struct target *t, const struct tls_opts *o)
{
	int on = t->tls.on || o->on;

	t->tls = *o;
	t->tls.on = on;
}
