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

#define COOKIE_RELOAD		1	/* children_reload()'s: SIGHUP, */
#define COOKIE_PLUGIN_LOAD	2	/* PLUGIN LOAD (plugin.c's), */
#define COOKIE_FIRST_CMD	16	/* and each RELOAD command */

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

/* `reload` requests waiting for the monitor's read of the files. */
struct pending {
	uint64_t		 cookie;
	int			 dry;
	struct procctl_ctx	*ctx;		/* deferred */
	struct pending		*next;
};
static struct pending *pending;
static uint64_t next_cookie = COOKIE_FIRST_CMD;

/*
 * Apply the files F (DRY: only say what would change), all or nothing:
 * the file must parse, the plugins must accept their parts (asked
 * first, without changing anything), the [access] policy must be
 * usable.  0 with what changed in R, or -1 after logging why.
 */
static int
apply(const struct mon_files *f, int dry, struct procctl_report *r,
    const char *who)
{
	const char *text = f->data[MON_FILE_CONFIG];
	size_t len = f->len[MON_FILE_CONFIG];
	struct config nc;
	int sec = f->data[MON_FILE_SECRETS] != NULL;

	if (text == NULL) {
		log_error("%s: %s could not be read (the monitor's log "
		    "says why): nothing changes", who, active_config->file);
		return -1;
	}
	config_defaults(&nc);
	if (config_load_mem(&nc, active_config->file, text, len) == -1 ||
	    plugin_host_reload(&nc, 1, dry ? r : NULL) == -1 ||
	    (!dry && access_load(&nc) == -1)) {
		log_error("%s: %s not reloaded: nothing changes", who,
		    active_config->file);
		config_free(&nc);
		return -1;
	}
	if (dry) {
		config_free(&nc);
		return 0;
	}
	plugin_host_config(text, len);
	if (sec && auth_reload_mem(nc.tcp_secrets ? nc.tcp_secrets :
	    "secrets", f->data[MON_FILE_SECRETS],
	    f->len[MON_FILE_SECRETS]) == -1)
		log_error("%s: the secrets file was not reloaded: the "
		    "running secrets stay", who);
	(void)tls_reload_pem(f, &nc);
	if (plugin_host_reload(&nc, 0, r) == -1)
		log_error("%s: a plugin refused what it accepted a moment "
		    "ago; its part stays as it was", who);
	log_info("%s: [access] policy%s reloaded from %s, and the programs "
	    "(listeners and plugins take effect at restart)", who, sec ?
	    " and secrets" : "", active_config->file);
	config_free(&nc);
	session_policy_changed();
	return 0;
}

static void
reply_report(struct procctl_ctx *ctx, const struct procctl_report *r)
{
	const char *const *v;
	size_t n, i;

	n = plugin_report_lines(r, &v);
	reply_array(ctx, n > 0 ? n : 1);
	if (n == 0)
		reply_str(ctx, "nothing changes");
	for (i = 0; i < n; i++)
		reply_str(ctx, v[i]);
}

void
reload_on_files(uint64_t cookie, const struct mon_files *f)
{
	struct procctl_report *r = plugin_report_new();
	struct pending **pp, *p;
	const char *const *v;
	size_t n, i;

	if (cookie == COOKIE_PLUGIN_LOAD) {
		plugin_host_config_arrived(f->data[MON_FILE_CONFIG],
		    f->len[MON_FILE_CONFIG]);
		plugin_report_free(r);
		return;
	}
	for (pp = &pending; (p = *pp) != NULL && p->cookie != cookie;
	    pp = &p->next)
		;
	if (p == NULL) {		/* SIGHUP */
		if (apply(f, 0, r, "SIGHUP") == 0)
			for (n = plugin_report_lines(r, &v), i = 0; i < n; i++)
				log_info("SIGHUP: %s", v[i]);
		plugin_report_free(r);
		return;
	}
	*pp = p->next;
	if (apply(f, p->dry, r, "reload") == -1)
		reply_error(p->ctx, "CONFIG", "%s was not reloaded: it has "
		    "errors (the log says where); nothing changes",
		    active_config->file);
	else
		reply_report(p->ctx, r);
	reply_finish(p->ctx);
	plugin_report_free(r);
	free(p);
}

/* RELOAD [--dry-run] (admins): SIGHUP, answered with what changed. */
static void
cmd_reload(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = ctx->caller;
	struct pending *p;

	(void)argc;
	(void)argv;
	if (!who->admin) {
		reply_error(ctx, "NOPERM", "reload is for admins only");
		return;
	}
	if (active_config == NULL || active_config->file == NULL) {
		reply_error(ctx, "CONFIG", "procctld runs without a "
		    "configuration file: nothing to reload");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->ctx = reply_defer(ctx)) == NULL) {
		free(p);
		reply_error(ctx, "ERR", "out of memory");
		return;
	}
	p->dry = args_option(ctx->cmd, ctx->args, "dry-run") != NULL;
	p->cookie = next_cookie++;
	if (children_reload(p->cookie) == -1) {
		reply_error(p->ctx, "ERR", "the monitor cannot be reached");
		reply_finish(p->ctx);
		free(p);
		return;
	}
	p->next = pending;
	pending = p;
}

static const struct procctl_option reload_options[] = {
	{ "dry-run", 'n', NULL, "say what would change; change nothing" },
	{ NULL, 0, NULL, NULL },
};
static const struct procctl_param reload_params[] = {
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_command reload_command = {
	"reload", cmd_reload, 0, "reload [--dry-run]",
	"Admins: read the configuration again (as SIGHUP): the [access] "
	"policy, secrets, TLS certificate, programs; says what changed", 0,
	reload_options, reload_params, "server"
};

void
reload_fini(void)
{
	struct pending *p;

	while ((p = pending) != NULL) {	/* their clients are gone */
		pending = p->next;
		reply_finish(p->ctx);
		free(p);
	}
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

/* In a server: what SIGHUP changes is measured against ACTIVE; the
 * reload command. */
int
reload_server_init(const struct config *active)
{
	active_config = active;
	return command_add(&reload_command, PROCCTL_ABI_MINOR, 0, NULL, "core");
}
