/*
 * Secrets for TCP peers, who have no SO_PEERCRED: a file of "user:secret"
 * lines ('#' comments), which must be readable by its owner only and owned
 * by root or the daemon's user; the daemon refuses to start otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procctld.h"

struct secret {
	char	*user;
	char	*secret;
	size_t	 len;
};

static struct secret *secrets;
static size_t nsecrets;
static int enabled;

int
auth_enabled(void)
{
	return enabled;
}

void
auth_free(void)
{
	size_t i;

	for (i = 0; i < nsecrets; i++) {
		explicit_bzero(secrets[i].secret, secrets[i].len);
		free(secrets[i].user);
		free(secrets[i].secret);
	}
	free(secrets);
	secrets = NULL;
	nsecrets = 0;
	enabled = 0;
}

static int parse(const char *, FILE *);

int
auth_load(const char *file)
{
	struct stat st;
	FILE *fp;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		log_error("secrets file %s: %s", file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_error("secrets file %s: not a regular file", file);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		log_error("secrets file %s: mode %04o lets others read or "
		    "change it; chmod 600 it", file,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_error("secrets file %s: owned by uid %u, not by root or "
		    "the daemon's user", file, (unsigned)st.st_uid);
		close(fd);
		return -1;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	return parse(file, fp);
}

int
auth_load_mem(const char *file, const char *text, size_t len)
{
	FILE *fp;

	if ((fp = len > 0 ? fmemopen((void *)text, len, "r") :
	    fopen("/dev/null", "re")) == NULL)
		return -1;
	return parse(file, fp);
}

/* user:secret lines from FP (closed here), read as FILE. */
static int
parse(const char *file, FILE *fp)
{
	struct secret *s;
	char *line = NULL, *colon;
	size_t cap = 0, lineno = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    colon[1] == '\0') {
			log_error("%s:%zu: expected user:secret", file, lineno);
			goto fail;
		}
		*colon = '\0';
		s = realloc(secrets, (nsecrets + 1) * sizeof(*s));
		if (s == NULL)
			goto fail;
		secrets = s;
		s = &secrets[nsecrets];
		s->user = strdup(line);
		s->secret = strdup(colon + 1);
		s->len = strlen(colon + 1);
		if (s->user == NULL || s->secret == NULL) {
			free(s->user);
			free(s->secret);
			goto fail;
		}
		nsecrets++;
	}
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	enabled = 1;
	log_info("secrets file %s: %zu user(s)", file, nsecrets);
	return 0;
fail:
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	auth_free();
	return -1;
}

/* Compare without a timing difference that depends on where they differ. */
static int
same(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;
	size_t i;

	for (i = 0; i < alen; i++)
		d |= (unsigned char)(a[i] ^ b[i % (blen ? blen : 1)]);
	return d == 0;
}

int
auth_check(const char *user, const char *secret, size_t len)
{
	static const char dummy[] = "procctl-no-such-user";
	size_t i;
	int ok = 0, found = 0;

	for (i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i].user, user) == 0) {
			found = 1;
			ok = same(secrets[i].secret, secrets[i].len, secret,
			    len);
		}
	if (!found)	/* the same work for unknown users */
		(void)same(dummy, sizeof(dummy) - 1, secret, len);
	return ok ? 0 : -1;
}

/* SIGHUP: the new secrets replace the old only if they load. */
int
auth_reload_mem(const char *file, const char *text, size_t len)
{
	struct secret *old = secrets;
	size_t nold = nsecrets;
	int was = enabled;

	secrets = NULL;
	nsecrets = 0;
	if (auth_load_mem(file, text, len) == -1) {
		secrets = old;
		nsecrets = nold;
		enabled = was;
		return -1;
	}
	while (nold > 0) {
		nold--;
		explicit_bzero(old[nold].secret, old[nold].len);
		free(old[nold].user);
		free(old[nold].secret);
	}
	free(old);
	return 0;
}
