/*
 * The configuration's files read from disk: the -c file, then the
 * drop-in files its [daemon] include names (a glob(3) pattern, relative
 * to the -c file's directory), in name order.  The glob is expanded here,
 * where the files are read: by procctld at start (and -t), and by the
 * monitor, as root, at each reload.  What is read is kept as bytes
 * (struct config_text) so that what is parsed, sent to the server and
 * kept for a restarted one is the same.
 *
 * No file matching is no file (a conf.d that does not exist is empty);
 * a match that cannot be read, or is not a regular file, is an error
 * naming it.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procctld.h"

/* The bytes of a configuration, its records' headers and names counted:
 * less than what one read of the memfd a restarted server gets takes. */
#define CONFIG_MAX_BYTES	(MON_MAX_PAYLOAD / 2)

int
confread_slurp(const char *path, int regular, char **out, size_t *len)
{
	struct stat sb;
	char *buf = NULL, *grown;
	size_t cap = 0, n = 0;
	ssize_t r;
	int fd;

	/* Not blocking: a FIFO where a file was expected holds nobody. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | (regular ? O_NONBLOCK :
	    0))) == -1) {
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (regular && (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode))) {
		log_error("%s: not a regular file", path);
		goto fail;
	}
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			if (cap > MON_MAX_PAYLOAD / 2 ||
			    (grown = realloc(buf, cap)) == NULL) {
				log_error("%s: too big", path);
				goto fail;
			}
			buf = grown;
		}
		if ((r = read(fd, buf + n, cap - n)) == 0)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			log_error("%s: %s", path, strerror(errno));
			goto fail;
		}
		n += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

int
confread_text_add(struct config_text *t, const char *name, const char *text,
    size_t len)
{
	struct config_file *v, *f;

	if ((v = realloc(t->v, (t->n + 1) * sizeof(*v))) == NULL)
		return -1;
	t->v = v;
	f = &v[t->n];
	f->len = len;
	if ((f->name = strdup(name)) == NULL ||
	    (f->text = malloc(len + 1)) == NULL) {
		free(f->name);
		return -1;
	}
	if (len > 0)
		memcpy(f->text, text, len);
	f->text[len] = '\0';
	t->n++;
	return 0;
}

void
confread_text_free(struct config_text *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].name);
		free(t->v[i].text);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

char *
confread_beside(const char *file, const char *path)
{
	char tmp[PATH_MAX], out[PATH_MAX + 1];

	if (path[0] == '/' || file == NULL)
		return strdup(path);
	snprintf(tmp, sizeof(tmp), "%s", file);
	snprintf(out, sizeof(out), "%s/%s", dirname(tmp), path);
	return strdup(out);
}


/* PATH (REGULAR: a regular file) read into T. */
static int
read_into(struct config_text *t, const char *path, int regular)
{
	char *text;
	size_t len;
	int rc;

	if (confread_slurp(path, regular, &text, &len) == -1)
		return -1;
	if ((rc = confread_text_add(t, path, text, len)) == -1)
		log_error("%s: out of memory", path);
	free(text);
	return rc;
}

/* The include pattern, relative to FILE's directory, whose own glob
 * characters are escaped: only the pattern's are. */
static char *
glob_beside(const char *file, const char *pattern)
{
	char tmp[PATH_MAX], out[2 * PATH_MAX + 2];
	const char *d;
	size_t n = 0;

	snprintf(tmp, sizeof(tmp), "%s", file);
	if (pattern[0] == '/' || strcmp(d = dirname(tmp), ".") == 0)
		return strdup(pattern);
	for (; *d != '\0' && n < sizeof(out) - 2; d++) {
		if (strchr("*?[\\", *d) != NULL)
			out[n++] = '\\';
		out[n++] = *d;
	}
	snprintf(out + n, sizeof(out) - n, "/%s", pattern);
	return strdup(out);
}

/* A directory glob could not read: none there is no file; else an error. */
static int
glob_error(const char *path, int err)
{
	if (err == ENOENT || err == ENOTDIR)
		return 0;
	log_error("%s: %s", path, strerror(err));
	return 1;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The same file as the -c file (include = *.ini beside it): skipped. */
static int
is_main(const struct stat *main_st, const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && sb.st_dev == main_st->st_dev &&
	    sb.st_ino == main_st->st_ino;
}

/* A drop-in says what the monitor runs, as whom: like a plugin, it may
 * not be one that anyone but root or procctld's user could write (a
 * team's directory is theirs to fill only through such a user). */
static int
dropin_safe(const char *path)
{
	char real[PATH_MAX], why[PATH_MAX + 160];

	if (realpath(path, real) == NULL)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	else if (access_unsafe_path(real, why, sizeof(why)) == 0)
		return 1;
	log_error("%s: refusing this drop-in file: %s; only root or the "
	    "daemon's user may be able to change one", path, why);
	return 0;
}

/* The drop-in files C's include names, read into T in name order: 0, or
 * -1 after logging every one that could not be. */
static int
read_dropins(const struct config *c, struct config_text *t)
{
	struct stat main_st;
	glob_t g;
	char *pattern;
	size_t i;
	int rc;

	if ((pattern = glob_beside(c->file, c->include)) == NULL)
		return -1;
	memset(&g, 0, sizeof(g));
	rc = glob(pattern, GLOB_NOSORT, glob_error, &g);
	free(pattern);
	if (rc == GLOB_NOMATCH) {
		log_debug("%s:%d: include = %s: no file matches", c->file,
		    c->include_line, c->include);
		globfree(&g);
		return 0;
	}
	if (rc == 0 && g.gl_pathc > MON_MAX_INCLUDES)
		log_error("%s:%d: include = %s: more than %d files match",
		    c->file, c->include_line, c->include, MON_MAX_INCLUDES);
	else if (rc != 0)
		log_error("%s:%d: include = %s: %s", c->file, c->include_line,
		    c->include, rc == GLOB_ABORTED ? "a directory cannot be "
		    "read" : "out of memory");
	if (rc != 0 || g.gl_pathc > MON_MAX_INCLUDES) {
		globfree(&g);
		return -1;
	}
	qsort(g.gl_pathv, g.gl_pathc, sizeof(*g.gl_pathv), by_name);
	if (stat(c->file, &main_st) == -1)
		memset(&main_st, 0, sizeof(main_st));
	for (i = 0; i < g.gl_pathc; i++)
		if (is_main(&main_st, g.gl_pathv[i]))
			log_debug("%s: the main file, not read again as a "
			    "drop-in", g.gl_pathv[i]);
		else if (read_into(t, g.gl_pathv[i], 1) == -1 ||
		    !dropin_safe(g.gl_pathv[i]))
			rc = -1;
	globfree(&g);
	return rc;
}

/* T whole fits what the monitor sends and a new server reads. */
static int
fits(const struct config_text *t)
{
	size_t i, sum = 0;

	for (i = 0; i < t->n; i++)
		sum += sizeof(struct mon_file) + strlen(t->v[i].name) + 1 +
		    t->v[i].len;
	if (sum < CONFIG_MAX_BYTES)
		return 1;
	log_error("%s: the configuration and its drop-in files are too big "
	    "together (%zu bytes; at most %d)", t->v[0].name, sum,
	    CONFIG_MAX_BYTES - 1);
	return 0;
}

int
confread_load(struct config *c, const char *file, struct config_text *t)
{
	int rc;

	confread_text_free(t);
	if (read_into(t, file, 1) == -1)
		return -1;
	rc = config_parse(c, &t->v[0], 0);
	if (c->include != NULL && read_dropins(c, t) == -1)
		rc = -1;
	if (!fits(t))
		rc = -1;
	if (config_load_text(c, t, 1) == -1)
		rc = -1;
	return rc;
}
