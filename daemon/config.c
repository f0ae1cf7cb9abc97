/*
 * The INI file, read with inih.  [daemon] holds the daemon's own keys;
 * [plugin:NAME] one plugin each (`path` plus the plugin's own keys, handed
 * to it unread).  Unknown keys and sections are warnings naming file and
 * line; values that cannot be used are errors.
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "procctld.h"

#define DEFAULT_MAX_REQUEST	(1024 * 1024)
#define DEFAULT_MAX_ARGS	(64 * 1024)
#define DEFAULT_MAX_OUTPUT	(16 * 1024 * 1024)
#define DEFAULT_MAX_BATCH	64
#define PLUGIN_PREFIX		"plugin:"

struct parse_state {
	struct config	*c;
	FILE		*fp;
	int		 line;
	int		 errors;
};

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->socket_mode = 0660;
	c->log_level = LOG_INFO;
	c->max_request = DEFAULT_MAX_REQUEST;
	c->max_args = DEFAULT_MAX_ARGS;
	c->max_output = DEFAULT_MAX_OUTPUT;
	c->max_batch = DEFAULT_MAX_BATCH;
}

int
config_parse_size(const char *s, size_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kib") == 0)
		mul = 1024;
	else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mib") == 0)
		mul = 1024 * 1024;
	else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gib") == 0)
		mul = 1024 * 1024 * 1024;
	else if (*end != '\0')
		return -1;
	if (v > SIZE_MAX / mul)
		return -1;
	*out = (size_t)(v * mul);
	return 0;
}

static int
set_str(char **dst, const char *v)
{
	char *s;

	if ((s = strdup(v)) == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

static struct plugin_conf *
plugin_section(struct config *c, const char *name, int line)
{
	struct plugin_conf *p;
	size_t i;

	for (i = 0; i < c->nplugins; i++)
		if (strcmp(c->plugins[i].name, name) == 0)
			return &c->plugins[i];
	p = realloc(c->plugins, (c->nplugins + 1) * sizeof(*p));
	if (p == NULL)
		return NULL;
	c->plugins = p;
	p = &c->plugins[c->nplugins];
	memset(p, 0, sizeof(*p));
	if ((p->name = strdup(name)) == NULL)
		return NULL;
	p->line = line;
	c->nplugins++;
	return p;
}

static int
bad_value(struct parse_state *st, const char *sect, const char *key,
    const char *val, const char *why)
{
	log_error("%s:%d: [%s] %s = %s: %s", st->c->file, st->line, sect, key,
	    val, why);
	st->errors++;
	return 1;	/* go on: report every problem in one run */
}

static int
daemon_key(struct parse_state *st, const char *key, const char *val)
{
	struct config *c = st->c;
	char *end;
	unsigned long m;
	int lvl;

	if (strcmp(key, "socket") == 0) {
		if (val[0] == '\0')
			return bad_value(st, "daemon", key, val, "empty path");
		return set_str(&c->socket, val) == 0;
	}
	if (strcmp(key, "socket_mode") == 0) {
		errno = 0;
		m = strtoul(val, &end, 8);
		if (errno != 0 || *end != '\0' || val[0] == '\0' || m > 0777)
			return bad_value(st, "daemon", key, val,
			    "expected an octal mode such as 0660");
		c->socket_mode = (mode_t)m;
		return 1;
	}
	if (strcmp(key, "socket_group") == 0)
		return set_str(&c->socket_group, val) == 0;
	if (strcmp(key, "server_user") == 0) {
		if (val[0] == '\0')
			return bad_value(st, "daemon", key, val, "empty name");
		return set_str(&c->server_user, val) == 0;
	}
	if (strcmp(key, "live_restore") == 0) {
		if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
			return bad_value(st, "daemon", key, val,
			    "expected yes or no");
		c->live_restore = strcmp(val, "yes") == 0;
		return 1;
	}
	if (strcmp(key, "plugin_dir") == 0)
		return set_str(&c->plugin_dir, val) == 0;
	if (strcmp(key, "log_level") == 0) {
		if ((lvl = log_level_parse(val)) < 0)
			return bad_value(st, "daemon", key, val,
			    "expected error, warn, info or debug");
		c->log_level = lvl;
		return 1;
	}
	if (strcmp(key, "max_clients") == 0 || strcmp(key, "max_request") == 0
	    || strcmp(key, "max_output") == 0 || strcmp(key, "max_args") == 0 ||
	    strcmp(key, "max_batch") == 0) {
		size_t v;

		if (config_parse_size(val, &v) == -1)
			return bad_value(st, "daemon", key, val,
			    "expected a number (suffixes k, M, G allowed)");
		if (strcmp(key, "max_clients") == 0)
			c->max_clients = v;
		else if (v == 0)
			return bad_value(st, "daemon", key, val,
			    "must be greater than 0");
		else if (strcmp(key, "max_request") == 0)
			c->max_request = v;
		else if (strcmp(key, "max_args") == 0)
			c->max_args = v;
		else if (strcmp(key, "max_batch") == 0)
			c->max_batch = v;
		else
			c->max_output = v;
		return 1;
	}
	log_warn("%s:%d: unknown key '%s' in [daemon], ignored", c->file,
	    st->line, key);
	return 1;
}

static int
tcp_key(struct parse_state *st, const char *key, const char *val)
{
	struct config *c = st->c;
	char **l;

	if (c->tcp_line == 0)
		c->tcp_line = st->line;
	if (strcmp(key, "listen") == 0) {
		if (strrchr(val, ':') == NULL)
			return bad_value(st, "tcp", key, val,
			    "expected HOST:PORT (IPv6: [ADDR]:PORT)");
		if ((l = realloc(c->tcp_listen, (c->ntcp + 1) *
		    sizeof(*l))) == NULL)
			return 0;
		c->tcp_listen = l;
		if ((l[c->ntcp] = strdup(val)) == NULL)
			return 0;
		c->ntcp++;
		return 1;
	}
	if (strcmp(key, "secrets") == 0)
		return set_str(&c->tcp_secrets, val) == 0;
	if (strcmp(key, "tls_cert") == 0)
		return set_str(&c->tls_cert, val) == 0;
	if (strcmp(key, "tls_key") == 0)
		return set_str(&c->tls_key, val) == 0;
	if (strcmp(key, "tls_client_ca") == 0)
		return set_str(&c->tls_client_ca, val) == 0;
	log_warn("%s:%d: unknown key '%s' in [tcp], ignored", c->file,
	    st->line, key);
	return 1;
}

static int
access_key(struct parse_state *st, const char *key, const char *val)
{
	struct config *c = st->c;

	if (strcmp(key, "allow_users") == 0)
		return set_str(&c->allow_users, val) == 0;
	if (strcmp(key, "allow_groups") == 0)
		return set_str(&c->allow_groups, val) == 0;
	if (strcmp(key, "admin_users") == 0)
		return set_str(&c->admin_users, val) == 0;
	if (strcmp(key, "admin_groups") == 0)
		return set_str(&c->admin_groups, val) == 0;
	log_warn("%s:%d: unknown key '%s' in [access], ignored", c->file,
	    st->line, key);
	return 1;
}

/* The [KIND:NAME] section FULL ("program:web"), made on first sight. */
static struct plugin_conf *
typed_section(struct config *c, const char *full, int line)
{
	struct plugin_conf *t;
	size_t i;

	for (i = 0; i < c->nsections; i++)
		if (strcmp(c->sections[i].name, full) == 0)
			return &c->sections[i];
	if ((t = realloc(c->sections, (c->nsections + 1) * sizeof(*t))) ==
	    NULL)
		return NULL;
	c->sections = t;
	t = &c->sections[c->nsections];
	memset(t, 0, sizeof(*t));
	if ((t->name = strdup(full)) == NULL)
		return NULL;
	t->line = line;
	c->nsections++;
	return t;
}

static int
add_kv(struct plugin_conf *p, const char *key, const char *val, int line)
{
	struct kv *kv;

	if ((kv = realloc(p->kv, (p->nkv + 1) * sizeof(*kv))) == NULL)
		return 0;
	p->kv = kv;
	kv = &p->kv[p->nkv];
	kv->key = strdup(key);
	kv->value = strdup(val);
	kv->line = line;
	if (kv->key == NULL || kv->value == NULL) {
		free(kv->key);
		free(kv->value);
		return 0;
	}
	p->nkv++;
	return 1;
}

static int
plugin_key(struct parse_state *st, const char *name, const char *key,
    const char *val)
{
	struct plugin_conf *p;

	if (name[0] == '\0') {
		log_error("%s:%d: [plugin:] needs a name", st->c->file,
		    st->line);
		st->errors++;
		return 1;
	}
	if ((p = plugin_section(st->c, name, st->line)) == NULL)
		return 0;
	if (strcmp(key, "path") == 0)
		return set_str(&p->path, val) == 0;
	return add_kv(p, key, val, st->line);
}

static int
handler(void *user, const char *section, const char *key, const char *val)
{
	struct parse_state *st = user;
	struct plugin_conf *t;

	if (key == NULL) {
		/* A new section (INI_CALL_HANDLER_ON_NEW_SECTION builds). */
		return 1;
	}
	if (strcmp(section, "daemon") == 0)
		return daemon_key(st, key, val);
	if (strncmp(section, PLUGIN_PREFIX, strlen(PLUGIN_PREFIX)) == 0)
		return plugin_key(st, section + strlen(PLUGIN_PREFIX), key,
		    val);
	if (strcmp(section, "tcp") == 0)
		return tcp_key(st, key, val);
	if (strcmp(section, "access") == 0)
		return access_key(st, key, val);
	/* [kind:name]: a plugin's to read (host->section); whether the kind
	 * and its keys mean anything, that plugin says. */
	if (strchr(section, ':') != NULL && section[0] != ':' &&
	    (t = typed_section(st->c, section, st->line)) != NULL)
		return add_kv(t, key, val, st->line);
	if (section[0] == '\0')
		log_warn("%s:%d: key '%s' outside any section, ignored",
		    st->c->file, st->line, key);
	else
		log_warn("%s:%d: unknown section [%s], ignored", st->c->file,
		    st->line, section);
	return 1;
}

/* inih reads through us so that we know the line each key is on. */
static char *
reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	char *s;

	const char *p, *end;
	char name[256];

	if ((s = fgets(str, num, st->fp)) == NULL)
		return NULL;
	st->line++;
	/* inih reports keys, not sections: a [plugin:NAME] with no keys
	 * at all (path defaults to NAME.so) must still be seen. */
	for (p = s; *p == ' ' || *p == '\t'; p++)
		;
	if (strncmp(p, "[" PLUGIN_PREFIX, strlen(PLUGIN_PREFIX) + 1) == 0 &&
	    (end = strchr(p, ']')) != NULL) {
		p += strlen(PLUGIN_PREFIX) + 1;
		if (end > p && (size_t)(end - p) < sizeof(name)) {
			memcpy(name, p, (size_t)(end - p));
			name[end - p] = '\0';
			plugin_section(st->c, name, st->line);
		}
	} else if (*p == '[' && (end = strchr(p, ']')) != NULL &&
	    memchr(p, ':', (size_t)(end - p)) != NULL && p[1] != ':' &&
	    (size_t)(end - p - 1) < sizeof(name)) {
		/* A [kind:name] with no keys is still a section. */
		memcpy(name, p + 1, (size_t)(end - p - 1));
		name[end - p - 1] = '\0';
		typed_section(st->c, name, st->line);
	}
	return s;
}

static int parse_fp(struct config *c, const char *file, FILE *fp);

int
config_load(struct config *c, const char *file)
{
	FILE *fp;

	if ((fp = fopen(file, "re")) == NULL) {
		log_error("%s: %s", file, strerror(errno));
		return -1;
	}
	return parse_fp(c, file, fp);
}

int
config_load_mem(struct config *c, const char *file, const char *text,
    size_t len)
{
	FILE *fp;

	/* fmemopen of 0 bytes fails: an empty file is an empty stream. */
	if ((fp = len > 0 ? fmemopen((void *)text, len, "r") :
	    fopen("/dev/null", "re")) == NULL) {
		log_error("%s: %s", file, strerror(errno));
		return -1;
	}
	return parse_fp(c, file, fp);
}

/* Parse FP (closed here) as FILE. */
static int
parse_fp(struct config *c, const char *file, FILE *fp)
{
	struct parse_state st;
	size_t i;
	int rc;

	if (set_str(&c->file, file) == -1) {
		fclose(fp);
		return -1;
	}
	memset(&st, 0, sizeof(st));
	st.c = c;
	st.fp = fp;
	rc = ini_parse_stream(reader, &st, handler, &st);
	fclose(st.fp);
	if (rc > 0) {
		log_error("%s:%d: syntax error", file, rc);
		return -1;
	}
	if (rc < 0) {
		log_error("%s: cannot be parsed (out of memory)", file);
		return -1;
	}
	for (i = 0; i < c->nplugins; i++)
		if (c->plugins[i].path == NULL)
			log_debug("%s:%d: [plugin:%s] has no path; looking for "
			    "%s.so in the plugin directory", file,
			    c->plugins[i].line, c->plugins[i].name,
			    c->plugins[i].name);
	if (c->ntcp > 0 && c->tcp_secrets == NULL &&
	    c->tls_client_ca == NULL) {
		log_error("%s:%d: [tcp] listen needs secrets = FILE (or "
		    "tls_client_ca): TCP peers must authenticate", file,
		    c->tcp_line);
		st.errors++;
	}
	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		log_error("%s:%d: [tcp] tls_cert and tls_key go together",
		    file, c->tcp_line);
		st.errors++;
	}
	if (c->tls_client_ca != NULL && c->tls_cert == NULL) {
		log_error("%s:%d: [tcp] tls_client_ca needs tls_cert and "
		    "tls_key", file, c->tcp_line);
		st.errors++;
	}
	return st.errors > 0 ? -1 : 0;
}

void
config_free(struct config *c)
{
	size_t i, j;

	for (i = 0; i < c->nplugins; i++) {
		for (j = 0; j < c->plugins[i].nkv; j++) {
			free(c->plugins[i].kv[j].key);
			free(c->plugins[i].kv[j].value);
		}
		free(c->plugins[i].kv);
		free(c->plugins[i].name);
		free(c->plugins[i].path);
	}
	free(c->plugins);
	for (i = 0; i < c->nsections; i++) {
		for (j = 0; j < c->sections[i].nkv; j++) {
			free(c->sections[i].kv[j].key);
			free(c->sections[i].kv[j].value);
		}
		free(c->sections[i].kv);
		free(c->sections[i].name);
		free(c->sections[i].file);
	}
	free(c->sections);
	for (i = 0; i < c->ntcp; i++)
		free(c->tcp_listen[i]);
	free(c->tcp_listen);
	free(c->tcp_secrets);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_client_ca);
	free(c->socket_group);
	free(c->server_user);
	free(c->allow_users);
	free(c->allow_groups);
	free(c->admin_users);
	free(c->admin_groups);
	free(c->file);
	free(c->socket);
	free(c->plugin_dir);
	memset(c, 0, sizeof(*c));
}
