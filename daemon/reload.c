/*
 * Reading the configuration again, with the server unprivileged.  The
 * server cannot open root's files any more, so the monitor reads them
 * for it: on SIGHUP (and PLUGIN LOAD) the server asks (MON_RELOAD), the
 * monitor opens the -c file, the drop-in files its include names (the
 * glob expanded there and then) and the files it names -- nothing the
 * server names -- checks them as at start, and sends their bytes
 * (MON_FILES), or why it could not; the server parses them and applies
 * what may change while running: the [access] policy, the TCP secrets,
 * the TLS certificate, the plugins' sections (programs).
 *
 * The monitor also keeps the configuration's bytes, drop-ins included,
 * as the server runs on them (read at start, or by the last reload the
 * server applied and confirmed with MON_KEEP), in a memfd each new
 * server inherits: a server restarted after a crash parses those, not
 * files an admin is half-way through editing, nor ones a reload refused.
 * Half of this file runs in the monitor, half in the server; they share
 * only the message.
 */
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logq.h"
#include "monitor.h"
#include "procctld.h"

/* A relative file name in the config is relative to the config. */
int
reload_beside(struct config *c, char **path)
{
	char *p;

	if (*path == NULL)
		return 0;
	if ((p = confread_beside(c->file, *path)) == NULL)
		return -1;
	free(*path);
	*path = p;
	return 0;
}

#define COOKIE_PLUGIN_LOAD	2	/* children_reload()'s: PLUGIN LOAD
					 * (plugin.c's); */
#define COOKIE_FIRST		16	/* each SIGHUP and RELOAD command has
					 * its own from here on */

/* A MON_FILES record: ROLE, then NAME with its NUL (if not NULL), then
 * N bytes of DATA. */
static int
put_record(char **payload, size_t *len, uint32_t role, const char *name,
    const char *data, size_t n)
{
	size_t nn = name != NULL ? strlen(name) + 1 : 0;
	struct mon_file f = { role, (uint32_t)(nn + n) };
	char *grown;

	if (nn + n > MON_MAX_PAYLOAD || (grown = realloc(*payload, *len +
	    sizeof(f) + nn + n)) == NULL)
		return -1;
	memcpy(grown + *len, &f, sizeof(f));
	if (nn > 0)
		memcpy(grown + *len + sizeof(f), name, nn);
	if (n > 0)
		memcpy(grown + *len + sizeof(f) + nn, data, n);
	*payload = grown;
	*len += sizeof(f) + nn + n;
	return 0;
}

/* T as MON_FILES records: the -c file, then each drop-in, named. */
static int
put_text(char **payload, size_t *len, const struct config_text *t)
{
	size_t i;

	if (t->n == 0 || put_record(payload, len, MON_FILE_CONFIG, NULL,
	    t->v[0].text, t->v[0].len) == -1)
		return -1;
	for (i = 1; i < t->n; i++)
		if (put_record(payload, len, MON_FILE_INCLUDE, t->v[i].name,
		    t->v[i].text, t->v[i].len) == -1)
			return -1;
	return 0;
}

/* The configuration's files in F (the -c file named FILE) into T. */
static int
files_text(const struct mon_files *f, const char *file,
    struct config_text *t)
{
	size_t i;

	confread_text_free(t);
	if (f->data[MON_FILE_CONFIG] == NULL)
		return -1;
	if (confread_text_add(t, file, f->data[MON_FILE_CONFIG],
	    f->len[MON_FILE_CONFIG]) == -1)
		goto fail;
	for (i = 0; i < f->ninc; i++)
		if (confread_text_add(t, f->inc[i].name, f->inc[i].data,
		    f->inc[i].len) == -1)
			goto fail;
	return 0;
fail:
	log_error("%s: out of memory", file);
	confread_text_free(t);
	return -1;
}

static uint64_t next_cookie = COOKIE_FIRST;	/* a server's */
static const char *config_path;	/* -c, for the monitor's reloads */
static int config_memfd = -1;	/* its bytes, as the server runs on them */
/* As the last MON_RELOADs read them, by id: a dry run or a `plugin load`
 * may read between a reload's read and its MON_KEEP. */
#define READS_KEPT	4
static struct {
	uint64_t	 id;
	int		 memfd;
} reads[READS_KEPT] = { { 0, -1 }, { 0, -1 }, { 0, -1 }, { 0, -1 } };
static size_t next_read;
static const struct config *active_config;	/* a server's */

/* In the monitor: T in a memfd (of MON_FILES records), for a next
 * server to inherit; or -1. */
static int
memfd_of(const struct config_text *t)
{
	char *buf = NULL;
	size_t len = 0;
	int fd = -1;

	if (put_text(&buf, &len, t) == -1 ||
	    (fd = memfd_create("procctld.ini", MFD_CLOEXEC)) == -1 ||
	    write(fd, buf, len) != (ssize_t)len) {
		log_warn("memfd for the configuration: %s (a restarted server "
		    "reads %s and its drop-ins itself)", strerror(errno),
		    config_path);
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	free(buf);
	return fd;
}

/* FD (or -1) replaces *KEPT. */
static void
replace_fd(int *kept, int fd)
{
	if (*kept != -1)
		close(*kept);
	*kept = fd;
}

/* In the monitor, for MON_KEEP: the server applied what MON_RELOAD ID
 * read; a restarted server parses that from now on.  (One the server
 * refused, or read for a dry run, is never kept.) */
void
reload_keep_files(uint64_t id)
{
	size_t i;

	for (i = 0; i < READS_KEPT; i++)
		if (reads[i].memfd != -1 && reads[i].id == id) {
			replace_fd(&config_memfd, reads[i].memfd);
			reads[i].memfd = -1;
		}
}

/* In a server: the configuration's bytes the monitor handed over, the
 * -c file (named FILE) and its drop-ins, into T; or -1 (read them). */
int
reload_handed_config(const char *file, struct config_text *t)
{
	const char *v = getenv(MON_ENV_CONFIG);
	struct mon_files f;
	char path[64], *buf;
	size_t len;
	int rc;

	if (v == NULL)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", atoi(v));
	rc = confread_slurp(path, 1, &buf, &len);
	close(atoi(v));
	unsetenv(MON_ENV_CONFIG);
	if (rc == -1)
		return -1;
	if ((rc = children_files_parse(buf, len, &f)) == 0)
		rc = files_text(&f, file, t);
	if (rc == -1)
		log_error("the configuration the monitor handed over cannot "
		    "be used; reading %s", file);
	children_files_free(&f);
	free(buf);
	return rc;
}

/* The files NC names (secrets, TLS) into PATHS by role, beside the -c
 * file, checked as at start: a secrets file or key others may read is
 * refused here, before a byte of it leaves the monitor. */
static int
named_files(struct config *nc, const char **paths)
{
	if (reload_beside(nc, &nc->tcp_secrets) == -1 ||
	    reload_beside(nc, &nc->tls_cert) == -1 ||
	    reload_beside(nc, &nc->tls_key) == -1 ||
	    reload_beside(nc, &nc->tls_client_ca) == -1)
		return -1;
	if (nc->tcp_secrets != NULL) {
		if (auth_load(nc->tcp_secrets) == -1)
			return -1;
		auth_free();
	}
	paths[MON_FILE_SECRETS] = nc->tcp_secrets;
	paths[MON_FILE_TLS_CERT] = nc->tls_cert;
	paths[MON_FILE_TLS_KEY] = nc->tls_key;
	paths[MON_FILE_TLS_CA] = nc->tls_client_ca;
	return 0;
}

/* The payload becomes only why the files could not be read. */
static int
error_payload(char **payload, size_t *len, const char *why)
{
	free(*payload);
	*payload = NULL;
	*len = 0;
	if (why[0] == '\0')
		why = "the monitor could not read them (its log says why)";
	return put_record(payload, len, MON_FILE_ERROR, NULL, why,
	    strnlen(why, MON_MAX_ERROR));
}

/*
 * In the monitor, as root, for MON_RELOAD ID: the configuration file,
 * its drop-ins and the secrets and TLS files it names, checked as at
 * start, as one MON_FILES payload; or why not (the first error), having
 * logged every problem.  The server, which may not read them itself,
 * parses them; nothing the server names is opened.  The configuration
 * is kept for a restarted server once this one says it applied it
 * (MON_KEEP).
 */
int
reload_read_files(uint64_t id, char **payload, size_t *len)
{
	struct config nc;
	struct config_text t = { NULL, 0 };
	const char *paths[MON_FILE_MAX] = { NULL };
	char *data[MON_FILE_MAX] = { NULL }, why[MON_MAX_ERROR];
	size_t n[MON_FILE_MAX] = { 0 }, i;
	int rc = -1;

	*payload = NULL;
	*len = 0;
	if (config_path == NULL) {
		log_warn("SIGHUP: no configuration file to reload");
		return error_payload(payload, len, "no configuration file");
	}
	log_capture(why, sizeof(why));
	config_defaults(&nc);
	if (confread_load(&nc, config_path, &t) == -1 ||
	    named_files(&nc, paths) == -1 || put_text(payload, len, &t) == -1)
		goto done;
	for (i = MON_FILE_SECRETS; i <= MON_FILE_TLS_CA; i++)
		if (paths[i] != NULL && ((i == MON_FILE_TLS_KEY ?
		    tls_key_read(paths[i], &data[i], &n[i]) :
		    confread_slurp(paths[i], 0, &data[i], &n[i])) == -1 ||
		    put_record(payload, len, (uint32_t)i, NULL,
		    data[i], n[i]) == -1))
			goto done;
	if (*len > MON_MAX_PAYLOAD) {
		log_error("%s: the configuration and the files it names are "
		    "too big to send together (%zu bytes; at most %d)",
		    config_path, *len, MON_MAX_PAYLOAD);
		goto done;
	}
	replace_fd(&reads[next_read].memfd, memfd_of(&t));
	reads[next_read].id = id;
	next_read = (next_read + 1) % READS_KEPT;
	rc = 0;
done:
	log_capture(NULL, 0);
	for (i = 1; i < MON_FILE_MAX; i++) {
		if (data[i] != NULL)
			explicit_bzero(data[i], n[i]);
		free(data[i]);
	}
	config_free(&nc);
	confread_text_free(&t);
	if (rc == 0)
		return 0;
	log_error("SIGHUP: %s not reloaded: the running configuration stays",
	    config_path);
	return error_payload(payload, len, why);
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
		children_reloaded();
		return;
	}
	if (children_reload(next_cookie++) == -1)
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

/* What only the next start applies must still be what it accepts: a
 * reload that says nothing of it would leave a daemon that cannot start
 * again (the next reboot's surprise). */
static int
check_later(const struct config *nc)
{
	char where[PATH_MAX + 32];
	size_t i;
	int rc = 0;

	for (i = 0; i < nc->ntcp; i++)
		if (listen_check_plain("", "tcp", nc->tcp_listen[i],
		    nc->tls_cert != NULL, "plaintext TCP", 1) == -1)
			rc = -1;
	snprintf(where, sizeof(where), "%s:%d: ", nc->file ? nc->file :
	    active_config->file, nc->metrics_line);
	if (nc->metrics_listen != NULL && listen_check_plain(where,
	    "metrics", nc->metrics_listen, nc->metrics_tls_cert != NULL,
	    "plain HTTP", 1) == -1)
		rc = -1;
	return rc;
}

static int
same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
same_tcp(const struct config *a, const struct config *b)
{
	size_t i;

	if (a->ntcp != b->ntcp)
		return 0;
	for (i = 0; i < a->ntcp; i++)
		if (strcmp(a->tcp_listen[i], b->tcp_listen[i]) != 0)
			return 0;
	return 1;
}

/* TCP and HTTP listeners changed in NC: said in R, as they wait for a
 * start.  (Not the socket: -s gives it at start, whatever the file.) */
static void
note_later(const struct config *nc, struct procctl_report *r)
{
	static const char restart[] = "at the next start (procctl daemon "
	    "upgrade keeps every process)";

	if (!same_tcp(nc, active_config))
		plugin_report_note(r, "[tcp] listen changed: %s", restart);
	if (!same_str(nc->metrics_listen, active_config->metrics_listen))
		plugin_report_note(r, "[metrics] listen changed (%s -> %s): %s",
		    active_config->metrics_listen ?
		    active_config->metrics_listen : "off", nc->metrics_listen ?
		    nc->metrics_listen : "off", restart);
}

/*
 * The files F parsed into NC (their bytes into T), and asked of the
 * plugins (they accept their parts without changing anything) and, but
 * for DRY, of the [access] policy.  0, or -1 after logging every
 * problem, with WHY the first.
 */
static int
check_files(const struct mon_files *f, int dry, struct procctl_report *r,
    struct config *nc, struct config_text *t, char *why, size_t size)
{
	const char *file = active_config->file;
	int rc = 0;

	if (f->data[MON_FILE_CONFIG] == NULL) {
		snprintf(why, size, "%.*s", f->data[MON_FILE_ERROR] ?
		    (int)f->len[MON_FILE_ERROR] : 0, f->data[MON_FILE_ERROR] ?
		    f->data[MON_FILE_ERROR] : "");
		log_error("%s could not be read (the monitor's log says why)",
		    file);
		return -1;
	}
	log_capture(why, size);
	if (files_text(f, file, t) == -1 ||
	    config_load_text(nc, t, 0) == -1 || check_later(nc) == -1 ||
	    plugin_host_reload(nc, 1, dry ? r : NULL) == -1 ||
	    (!dry && access_load(nc) == -1))
		rc = -1;
	log_capture(NULL, 0);
	return rc;
}

/*
 * Apply the files F (DRY: only say what would change), all or nothing:
 * the files must parse, the plugins must accept their parts (asked
 * first, without changing anything), the [access] policy must be
 * usable.  0 with what changed in R, or -1 after logging why, with WHY
 * the first error.
 */
static int
apply(uint64_t cookie, const struct mon_files *f, int dry,
    struct procctl_report *r, const char *who, char *why, size_t size)
{
	struct config_text t = { NULL, 0 };
	struct config nc;
	int sec = f->data[MON_FILE_SECRETS] != NULL, rc = -1;

	config_defaults(&nc);
	if (check_files(f, dry, r, &nc, &t, why, size) == -1) {
		log_error("%s: %s not reloaded: nothing changes", who,
		    active_config->file);
		goto done;
	}
	rc = 0;
	note_later(&nc, r);
	if (dry)
		goto done;
	plugin_host_config(&t);
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
	session_policy_changed();
	/* A server restarted after a crash is to see what this one runs. */
	(void)children_keep(cookie);
done:
	config_free(&nc);
	confread_text_free(&t);
	return rc;
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
	struct config_text t = { NULL, 0 };
	struct pending **pp, *p;
	const char *const *v;
	char why[MON_MAX_ERROR];
	size_t n, i;

	if (cookie == COOKIE_PLUGIN_LOAD) {
		(void)files_text(f, active_config->file, &t);
		plugin_host_config_arrived(&t);
		confread_text_free(&t);
		plugin_report_free(r);
		return;
	}
	for (pp = &pending; (p = *pp) != NULL && p->cookie != cookie;
	    pp = &p->next)
		;
	if (p == NULL) {		/* SIGHUP */
		if (apply(cookie, f, 0, r, "SIGHUP", why, sizeof(why)) == 0)
			for (n = plugin_report_lines(r, &v), i = 0; i < n; i++)
				log_info("SIGHUP: %s", v[i]);
		plugin_report_free(r);
		children_reloaded();
		return;
	}
	*pp = p->next;
	if (apply(cookie, f, p->dry, r, "reload", why, sizeof(why)) == -1)
		reply_error(p->ctx, "CONFIG", "%s was not reloaded: it has "
		    "errors (%s%s); nothing changes", active_config->file,
		    why[0] != '\0' ? why : "the log says where",
		    why[0] != '\0' ? "; the log has every one" : "");
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
	reload_options, reload_params, "daemon"
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

/* In the monitor, at start: FILE's bytes, and its drop-ins' (T), for
 * the first server. */
const int *
reload_monitor_init(const char *file, const struct config_text *t)
{
	config_path = file;
	if (file != NULL)
		config_memfd = memfd_of(t);
	return &config_memfd;
}

/* SIGUSR1, reopen-logs: every log file (processes' output files,
 * procctld's own) closed and opened again by its name, for an external
 * logrotate that moved them.  How many output files. */
size_t
reopen_logs(const char *why)
{
	size_t n = logfile_reopen_all();

	logq_reopen();
	log_info("%s: %zu output file%s and procctld's log opened again", why,
	    n, n == 1 ? "" : "s");
	return n;
}

/* REOPEN-LOGS (admins). */
static void
cmd_reopen_logs(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	size_t n;

	(void)argc;
	(void)argv;
	if (!ctx->caller->admin) {
		reply_error(ctx, "NOPERM", "reopen-logs is for admins only");
		return;
	}
	n = reopen_logs("reopen-logs");
	reply_map(ctx, 1);
	reply_str(ctx, "files");
	reply_int(ctx, (long long)n);
}

static const struct procctl_option reopen_options[] = {
	{ NULL, 0, NULL, NULL },
};
static const struct procctl_command reopen_command = {
	"reopen-logs", cmd_reopen_logs, 0, "reopen-logs",
	"Admins: open every log file again by its name (after logrotate "
	"moved them; as SIGUSR1)", 0, reopen_options, reload_params, "daemon"
};

/* In a server: what SIGHUP changes is measured against ACTIVE; the
 * reload and reopen-logs commands. */
int
reload_server_init(const struct config *active)
{
	active_config = active;
	if (command_add(&reopen_command, PROCCTL_ABI_MINOR, 0, NULL,
	    "core") == -1)
		return -1;
	return command_add(&reload_command, PROCCTL_ABI_MINOR, 0, NULL, "core");
}
