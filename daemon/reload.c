/*
 * Reading the configuration again, with the server unprivileged.  The
 * server cannot open root's files any more, so the monitor reads them
 * for it: on SIGHUP (and PLUGIN LOAD) the server asks (MON_RELOAD), the
 * monitor opens the -c file and the files it names -- nothing the server
 * names -- checks them as at start, and sends their bytes (MON_FILES);
 * the server parses them and applies what may change while running: the
 * [access] policy, the TCP secrets, the TLS certificate.
 *
 * The monitor also keeps the configuration's bytes as it last found them
 * usable, in a memfd each new server inherits: a server restarted after
 * a crash parses those, not a file an admin is half-way through editing.
 * Half of this file runs in the monitor, half in the server; they share
 * only the message.
 */
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor.h"
#include "procctld.h"

/* PATH as written in the config file: relative to the file's directory. */
static char *
beside_config(const struct config *c, const char *path)
{
	char tmp[PATH_MAX], out[PATH_MAX + 1];

	if (path[0] == '/' || c->file == NULL)
		return strdup(path);
	snprintf(tmp, sizeof(tmp), "%s", c->file);
	snprintf(out, sizeof(out), "%s/%s", dirname(tmp), path);
	return strdup(out);
}

/* A relative file name in the config is relative to the config. */
int
reload_beside(struct config *c, char **path)
{
	char *p;

	if (*path == NULL)
		return 0;
	if ((p = beside_config(c, *path)) == NULL)
		return -1;
	free(*path);
	*path = p;
	return 0;
}

#define COOKIE_RELOAD	1	/* children_reload()'s for SIGHUP */

/* The whole of PATH, malloc'd, into *OUT; -1 after logging. */
int
reload_slurp(const char *path, char **out, size_t *len)
{
	char *buf = NULL, *grown;
	size_t cap = 0, n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_error("%s: %s", path, strerror(errno));
		return -1;
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

static int
put_file(char **payload, size_t *len, uint32_t role, const char *data,
    size_t n)
{
	struct mon_file f = { role, (uint32_t)n };
	char *grown;

	if ((grown = realloc(*payload, *len + sizeof(f) + n)) == NULL)
		return -1;
	memcpy(grown + *len, &f, sizeof(f));
	if (n > 0)
		memcpy(grown + *len + sizeof(f), data, n);
	*payload = grown;
	*len += sizeof(f) + n;
	return 0;
}

static const char *config_path;	/* -c, for the monitor's reloads */
static int config_memfd = -1;	/* its bytes, as last found usable */
static const struct config *active_config;	/* a server's */

/* In the monitor: TEXT (or, NULL, the file at PATH) becomes what the
 * next server parses (a memfd it inherits). */
static void
keep_config(const char *path, const char *text, size_t len)
{
	char *own = NULL;
	int fd;

	if (text == NULL) {
		if (reload_slurp(path, &own, &len) == -1)
			return;
		text = own;
	}
	if ((fd = memfd_create("procctld.ini", MFD_CLOEXEC)) == -1 ||
	    write(fd, text, len) != (ssize_t)len) {
		log_warn("memfd for the configuration: %s (a restarted server "
		    "reads %s itself)", strerror(errno), path);
		if (fd != -1)
			close(fd);
	} else {
		if (config_memfd != -1)
			close(config_memfd);
		config_memfd = fd;
	}
	free(own);
}

/* In a server: the configuration's bytes the monitor handed over, or
 * -1 (read the file). */
int
reload_handed_config(char **text, size_t *len)
{
	const char *v = getenv(MON_ENV_CONFIG);
	char path[64];

	if (v == NULL)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", atoi(v));
	if (reload_slurp(path, text, len) == -1)
		return -1;
	close(atoi(v));
	unsetenv(MON_ENV_CONFIG);
	return 0;
}

/*
 * In the monitor, as root: the configuration file and the secrets file
 * it names, checked as at start (a file others may read is refused), as
 * one MON_FILES payload.  The server, which may not read them itself,
 * parses them; nothing the server names is opened.
 */
int
reload_read_files(char **payload, size_t *len)
{
	struct config nc;
	const char *paths[MON_FILE_MAX] = { NULL };
	char *data[MON_FILE_MAX] = { NULL };
	size_t n[MON_FILE_MAX] = { 0 }, i;
	int rc = -1;

	*payload = NULL;
	*len = 0;
	if (config_path == NULL) {
		log_warn("SIGHUP: no configuration file to reload");
		return -1;
	}
	config_defaults(&nc);
	if (config_load(&nc, config_path) == -1 ||
	    reload_beside(&nc, &nc.tcp_secrets) == -1 ||
	    reload_beside(&nc, &nc.tls_cert) == -1 ||
	    reload_beside(&nc, &nc.tls_key) == -1 ||
	    reload_beside(&nc, &nc.tls_client_ca) == -1)
		goto done;
	/* Checked as at start: a secrets file or key others may read is
	 * refused here, before a byte of it leaves the monitor. */
	if (nc.tcp_secrets != NULL) {
		if (auth_load(nc.tcp_secrets) == -1)
			goto done;
		auth_free();
	}
	if (nc.tls_key != NULL && !tls_key_file_ok(nc.tls_key))
		goto done;
	paths[MON_FILE_CONFIG] = config_path;
	paths[MON_FILE_SECRETS] = nc.tcp_secrets;
	paths[MON_FILE_TLS_CERT] = nc.tls_cert;
	paths[MON_FILE_TLS_KEY] = nc.tls_key;
	paths[MON_FILE_TLS_CA] = nc.tls_client_ca;
	for (i = 1; i < MON_FILE_MAX; i++)
		if (paths[i] != NULL && (reload_slurp(paths[i], &data[i], &n[i]) == -1
		    || put_file(payload, len, (uint32_t)i, data[i], n[i]) == -1))
			goto done;
	keep_config(config_path, data[MON_FILE_CONFIG], n[MON_FILE_CONFIG]);
	rc = 0;
done:
	for (i = 1; i < MON_FILE_MAX; i++) {
		if (data[i] != NULL)
			explicit_bzero(data[i], n[i]);
		free(data[i]);
	}
	config_free(&nc);
	if (rc == -1) {
		free(*payload);
		*payload = NULL;
		*len = 0;
		log_error("SIGHUP: %s not reloaded: the running configuration "
		    "stays", config_path);
	}
	return rc;
}

/*
 * SIGHUP: the monitor reads the file again (and the secrets file it
 * names) for us; then its [access] policy applies (connections are
 * checked against it on their next command) and TCP users authenticate
 * against the new secrets.  Everything else (socket, listeners,
 * plugins) keeps its start-up value until a restart.
 */
void
reload_ask(void)
{
	if (active_config == NULL || active_config->file == NULL) {
		log_warn("SIGHUP: no configuration file to reload");
		return;
	}
	if (children_reload(COOKIE_RELOAD) == -1)
		log_error("SIGHUP: the monitor cannot be reached; nothing "
		    "reloaded");
}

void
reload_on_files(uint64_t cookie, const struct mon_files *f)
{
	const char *text = f->data[MON_FILE_CONFIG];
	size_t len = f->len[MON_FILE_CONFIG];
	struct config nc;
	int sec = f->data[MON_FILE_SECRETS] != NULL;

	if (cookie != COOKIE_RELOAD) {
		plugin_host_config_arrived(text, len);
		return;
	}
	if (text == NULL) {
		log_error("SIGHUP: %s could not be read (the monitor's log "
		    "says why): the running configuration stays",
		    active_config->file);
		return;
	}
	config_defaults(&nc);
	if (config_load_mem(&nc, active_config->file, text, len) == -1 ||
	    access_load(&nc) == -1) {
		log_error("SIGHUP: %s not reloaded: the running policy stays",
		    active_config->file);
		config_free(&nc);
		return;
	}
	plugin_host_config(text, len);
	if (sec && auth_reload_mem(nc.tcp_secrets ? nc.tcp_secrets :
	    "secrets", f->data[MON_FILE_SECRETS],
	    f->len[MON_FILE_SECRETS]) == -1)
		log_error("SIGHUP: the secrets file was not reloaded: the "
		    "running secrets stay");
	(void)tls_reload_pem(f, &nc);
	log_info("SIGHUP: [access] policy%s reloaded from %s (other changes "
	    "take effect at restart)", sec ? " and secrets" : "",
	    active_config->file);
	config_free(&nc);
	session_policy_changed();
}


/* In the monitor, at start: FILE's bytes for the first server. */
const int *
reload_monitor_init(const char *file)
{
	config_path = file;
	if (file != NULL)
		keep_config(file, NULL, 0);
	return &config_memfd;
}

/* In a server: what SIGHUP changes is measured against ACTIVE. */
void
reload_server_init(const struct config *active)
{
	active_config = active;
}
