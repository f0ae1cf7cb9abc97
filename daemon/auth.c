/*
 * Secrets for TCP peers, who have no SO_PEERCRED: a file of "user:hash"
 * lines ('#' comments), each hash made by crypt(3) with a method that is
 * slow by design (yescrypt, what `procctld --hash-secret` makes, or
 * SHA-512, bcrypt, scrypt).  The file must be readable by its owner only
 * and owned by root or the daemon's user; a secret in plain text, or
 * hashed by a weak method, is refused with the line to write instead.
 * Nothing here keeps a secret: only hashes, which an attacker who read
 * the file would still have to crack one guess at a time.
 *
 * Checking a secret costs what the hash was made to cost (about 20 ms
 * for yescrypt): auth_verify is thread-safe, and authtry.c runs it off
 * the loop.
 */
#include <crypt.h>
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
	char	*hash;
};

static struct secret *secrets;
static size_t nsecrets;

/* What an unknown user is checked against: a real yescrypt setting, so
 * that the work (and the time) is the same as for a user who exists. */
static const char unknown_setting[] = "$y$j9T$procctl.unknown.user$";

/* Methods slow enough to stand a guessing attack on a stolen file. */
static const char *const strong[] = { "$y$", "$gy$", "$7$", "$2b$", "$6$" };

static void
free_all(struct secret *v, size_t n)
{
	while (n > 0) {
		n--;
		free(v[n].user);
		free(v[n].hash);
	}
	free(v);
}

void
auth_free(void)
{
	free_all(secrets, nsecrets);
	secrets = NULL;
	nsecrets = 0;
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

/*
 * Is H a hash we accept?  NULL if so, else why not.  A hash is
 * "$id$...": crypt(3)'s alphabet only, a method in strong[], a setting
 * libcrypt can use.  Whatever else is written there (plain text above
 * all) is not taken as a secret.
 */
static const char *
bad_hash(const char *h)
{
	size_t i;

	if (h[0] != '$' || h[strspn(h, "$./0123456789ABCDEFGHIJKLMNOPQRSTU"
	    "VWXYZabcdefghijklmnopqrstuvwxyz")] != '\0')
		return "is not a crypt(3) hash; a secret in plain text is "
		    "refused";
	for (i = 0; i < sizeof(strong) / sizeof(strong[0]); i++)
		if (strncmp(h, strong[i], strlen(strong[i])) == 0)
			break;
	if (i == sizeof(strong) / sizeof(strong[0]))
		return "is hashed by a method too fast to resist guessing "
		    "(use yescrypt $y$, or SHA-512 $6$, bcrypt $2b$, scrypt "
		    "$7$)";
	if (crypt_checksalt(h) != CRYPT_SALT_OK)
		return "is not a hash this libcrypt can check";
	return NULL;
}

/* One "user:hash" line, LINE of FILE: 0, or -1 having said why. */
static int
add_line(const char *file, size_t lineno, char *line)
{
	struct secret *s;
	const char *why;
	char *colon;

	if ((colon = strchr(line, ':')) == NULL || colon == line ||
	    colon[1] == '\0') {
		log_error("%s:%zu: expected user:hash", file, lineno);
		return -1;
	}
	*colon = '\0';
	if ((why = bad_hash(colon + 1)) != NULL) {
		/* Never the secret itself: the log is no place for it. */
		log_error("%s:%zu: the secret of '%.64s' %s: write the line "
		    "that `procctld --hash-secret=%.64s` prints (it reads the "
		    "secret from standard input)", file, lineno, line, why,
		    line);
		return -1;
	}
	if ((s = realloc(secrets, (nsecrets + 1) * sizeof(*s))) == NULL)
		return -1;
	secrets = s;
	s = &secrets[nsecrets];
	s->user = strdup(line);
	s->hash = strdup(colon + 1);
	if (s->user == NULL || s->hash == NULL) {
		free(s->user);
		free(s->hash);
		return -1;
	}
	nsecrets++;
	return 0;
}

/* user:hash lines from FP (closed here), read as FILE. */
static int
parse(const char *file, FILE *fp)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (add_line(file, lineno, line) == -1) {
			rc = -1;
			break;
		}
	}
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	if (rc == -1) {
		auth_free();
		return -1;
	}
	log_info("secrets file %s: %zu user(s)", file, nsecrets);
	return 0;
}

int
auth_lookup(const char *user, char *hash, size_t size)
{
	size_t i;

	for (i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i].user, user) == 0) {
			snprintf(hash, size, "%s", secrets[i].hash);
			return 1;
		}
	snprintf(hash, size, "%s", nsecrets > 0 ? secrets[0].hash :
	    unknown_setting);
	return 0;
}

/* Compare without a timing difference that depends on where they differ. */
static int
same(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b), i;
	unsigned char d = alen != blen;

	for (i = 0; i < alen; i++)
		d |= (unsigned char)(a[i] ^ b[i % (blen ? blen : 1)]);
	return d == 0;
}

int
auth_verify(const char *hash, const char *secret, void *scratch)
{
	struct crypt_data *cd = scratch;
	const char *out;

	memset(cd, 0, sizeof(*cd));
	out = crypt_rn(secret, hash, cd, (int)sizeof(*cd));
	/* A failure is NULL or a "*0"-like token, which no hash equals. */
	return out != NULL && out[0] == '$' && same(out, hash) ? 0 : -1;
}

size_t
auth_scratch_size(void)
{
	return sizeof(struct crypt_data);
}

int
auth_hash(const char *secret, char *out, size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	int rc = -1;

	/* The default cost; random bytes from the kernel. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting,
	    sizeof(setting)) == NULL || (cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	h = crypt_rn(secret, setting, cd, (int)sizeof(*cd));
	if (h != NULL && h[0] == '$' && bad_hash(h) == NULL &&
	    (size_t)snprintf(out, size, "%s", h) < size)
		rc = 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

/* SIGHUP: the new secrets replace the old only if they load. */
int
auth_reload_mem(const char *file, const char *text, size_t len)
{
	struct secret *old = secrets;
	size_t nold = nsecrets;

	secrets = NULL;
	nsecrets = 0;
	if (auth_load_mem(file, text, len) == -1) {
		secrets = old;
		nsecrets = nold;
		return -1;
	}
	free_all(old, nold);
	return 0;
}
