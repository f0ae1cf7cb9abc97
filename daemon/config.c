/*
 * The INI file, read with inih.  [daemon] holds the daemon's own keys;
 * [plugin:NAME] one plugin each (`path` plus the plugin's own keys, handed
 * to it unread); [kind:name] sections are the plugins' to read.  Unknown
 * keys and sections are warnings naming file and line; values that cannot
 * be used are errors.
 *
 * A configuration is the -c file and the drop-in files its [daemon]
 * include names (confread.c reads them), parsed here from their bytes in
 * that order into one struct config.  A drop-in may hold [plugin:NAME]
 * and [kind:name] sections only: [daemon], [tcp], [access] and [metrics]
 * stay in the -c file, and include is not recursive.  A section is defined once
 * in the whole configuration; a second one is refused, naming both.
 */
#include <ctype.h>
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
#define DEFAULT_LOG_MAX		(10 * 1024 * 1024)
#define DEFAULT_LOG_BACKUPS	5
#define DEFAULT_PER_USER	64	/* connections of one user */
#define DEFAULT_TCP_CLIENTS	128	/* the TCP pool, apart from local */
#define DEFAULT_PER_ADDRESS	16	/* TCP connections of one address */
#define DEFAULT_AUTH_TIMEOUT_MS	10000
#define PLUGIN_PREFIX		"plugin:"

/* What the keys after the last header are for. */
enum sect {
	SEC_NONE,			/* no header yet */
	SEC_DAEMON, SEC_TCP, SEC_ACCESS, SEC_METRICS,	/* in this order */
	SEC_PLUGIN,			/* c->plugins[index] */
	SEC_TYPED,			/* c->sections[index] */
	SEC_UNKNOWN,			/* warned about: its keys ignored */
	SEC_SKIP			/* refused: its keys ignored */
};

struct parse_state {
	struct config		*c;
	const struct config_file *f;	/* the file being parsed */
	size_t			 off;	/* of its bytes, read so far */
	int			 dropin;
	int			 line;
	int			 errors;
	int			 keyed;	/* a key in this section: an indented
					 * line continues its value */
	enum sect		 sect;
	size_t			 index;
	char			 name[256];	/* the section's */
	int			 core_line[4];	/* where [daemon], [tcp],
						 * [access] and [metrics]
						 * began */
	int			 cont;	/* this line continues a value */
	struct kv		*seen;	/* the section's keys so far */
	size_t			 nseen;
	char			*value;	/* the last key's, whole so far */
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
	c->log_max = DEFAULT_LOG_MAX;
	c->log_backups = DEFAULT_LOG_BACKUPS;
	c->max_clients_per_user = DEFAULT_PER_USER;
	c->tcp_max_clients = DEFAULT_TCP_CLIENTS;
	c->tcp_max_per_address = DEFAULT_PER_ADDRESS;
	c->auth_timeout_ms = DEFAULT_AUTH_TIMEOUT_MS;
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

static int
bad_value(struct parse_state *st, const char *sect, const char *key,
    const char *val, const char *why)
{
	log_error("%s:%d: [%s] %s = %s: %s", st->f->name, st->line, sect, key,
	    val, why);
	st->errors++;
	return 1;	/* go on: report every problem in one run */
}

static int
include_key(struct parse_state *st, const char *val)
{
	struct config *c = st->c;

	if (val[0] == '\0')
		return bad_value(st, "daemon", "include", val, "empty pattern");
	if (c->include != NULL) {
		log_error("%s:%d: [daemon] include is given twice (first on "
		    "line %d): one glob, such as conf.d/*.ini", st->f->name,
		    st->line, c->include_line);
		st->errors++;
		return 1;
	}
	c->include_line = st->line;
	return set_str(&c->include, val) == 0;
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
	if (strcmp(key, "include") == 0)
		return include_key(st, val);
	if (strcmp(key, "log_level") == 0) {
		if ((lvl = log_level_parse(val)) < 0)
			return bad_value(st, "daemon", key, val,
			    "expected error, warn, info or debug");
		c->log_level = lvl;
		return 1;
	}
	if (strcmp(key, "log_file") == 0) {
		if (val[0] == '\0')
			return bad_value(st, "daemon", key, val, "empty path");
		return set_str(&c->log_file, val) == 0;
	}
	if (strcmp(key, "log_max") == 0) {
		if (config_parse_size(val, &c->log_max) == -1)
			return bad_value(st, "daemon", key, val, "expected a "
			    "size (suffixes k, M, G allowed), 0 for never");
		return 1;
	}
	if (strcmp(key, "log_backups") == 0) {
		errno = 0;
		m = strtoul(val, &end, 10);
		if (errno != 0 || *end != '\0' || val[0] < '0' ||
		    val[0] > '9' || m > 1000)
			return bad_value(st, "daemon", key, val,
			    "expected a count from 0 to 1000");
		c->log_backups = (unsigned)m;
		return 1;
	}
	if (strcmp(key, "max_clients") == 0 || strcmp(key, "max_request") == 0
	    || strcmp(key, "max_output") == 0 || strcmp(key, "max_args") == 0 ||
	    strcmp(key, "max_batch") == 0 ||
	    strcmp(key, "max_clients_per_user") == 0) {
		size_t v;

		if (config_parse_size(val, &v) == -1)
			return bad_value(st, "daemon", key, val,
			    "expected a number (suffixes k, M, G allowed)");
		if (strcmp(key, "max_clients") == 0)
			c->max_clients = v;
		else if (strcmp(key, "max_clients_per_user") == 0)
			c->max_clients_per_user = v;
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
	log_warn("%s:%d: unknown key '%s' in [daemon], ignored", st->f->name,
	    st->line, key);
	return 1;
}

/* Seconds, as "10" or "0.5": more than 0, at most an hour. */
static int
parse_seconds(const char *s, uint64_t *ms)
{
	char *end;
	double v;

	if ((s[0] < '0' || s[0] > '9') && s[0] != '.')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v > 0) || v > 3600)
		return -1;
	*ms = (uint64_t)(v * 1000 + 0.5);
	return *ms > 0 ? 0 : -1;
}

/* [tcp]'s numbers; 1 when KEY is not one of them. */
static int
tcp_number(struct parse_state *st, const char *key, const char *val)
{
	struct config *c = st->c;
	size_t v;

	if (strcmp(key, "auth_timeout") == 0) {
		if (parse_seconds(val, &c->auth_timeout_ms) == -1)
			bad_value(st, "tcp", key, val, "expected seconds, more "
			    "than 0 and at most 3600 (such as 10 or 0.5)");
		return 0;
	}
	if (strcmp(key, "max_clients") != 0 &&
	    strcmp(key, "max_clients_per_address") != 0)
		return 1;
	if (config_parse_size(val, &v) == -1)
		bad_value(st, "tcp", key, val,
		    "expected a number (suffixes k, M, G allowed)");
	else if (strcmp(key, "max_clients") == 0 && v == 0)
		bad_value(st, "tcp", key, val, "must be greater than 0: TCP "
		    "peers have a pool of their own");
	else if (strcmp(key, "max_clients") == 0)
		c->tcp_max_clients = v;
	else
		c->tcp_max_per_address = v;
	return 0;
}

static int
tcp_key(struct parse_state *st, const char *key, const char *val)
{
	struct config *c = st->c;
	char **l;

	if (tcp_number(st, key, val) == 0)
		return 1;

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
	log_warn("%s:%d: unknown key '%s' in [tcp], ignored", st->f->name,
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
	log_warn("%s:%d: unknown key '%s' in [access], ignored",
	    st->f->name, st->line, key);
	return 1;
}

static int
metrics_key(struct parse_state *st, const char *key, const char *val)
{
	struct config *c = st->c;

	if (strcmp(key, "listen") == 0) {
		if (strrchr(val, ':') == NULL)
			return bad_value(st, "metrics", key, val,
			    "expected HOST:PORT (IPv6: [ADDR]:PORT)");
		return set_str(&c->metrics_listen, val) == 0;
	}
	if (strcmp(key, "tls_cert") == 0)
		return set_str(&c->metrics_tls_cert, val) == 0;
	if (strcmp(key, "tls_key") == 0)
		return set_str(&c->metrics_tls_key, val) == 0;
	log_warn("%s:%d: unknown key '%s' in [metrics], ignored",
	    st->f->name, st->line, key);
	return 1;
}

/* The section NAME in V, or -1. */
static ssize_t
conf_find(const struct plugin_conf *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* A new section NAME at the end of *V, begun on LINE of FILE (NULL: the
 * -c file): its index, or -1. */
static ssize_t
conf_new(struct plugin_conf **v, size_t *n, const char *name,
    const char *file, int line)
{
	struct plugin_conf *p;

	if ((p = realloc(*v, (*n + 1) * sizeof(*p))) == NULL)
		return -1;
	*v = p;
	p = &p[*n];
	memset(p, 0, sizeof(*p));
	p->line = line;
	if ((p->name = strdup(name)) == NULL ||
	    (file != NULL && (p->file = strdup(file)) == NULL)) {
		free(p->name);
		return -1;
	}
	return (ssize_t)(*n)++;
}

void
config_sections_free(struct plugin_conf *v, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < v[i].nkv; j++) {
			free(v[i].kv[j].key);
			free(v[i].kv[j].value);
		}
		free(v[i].kv);
		free(v[i].name);
		free(v[i].path);
		free(v[i].file);
	}
	free(v);
}

/* KEY = VAL into P: a key given again replaces its value (the parser
 * has warned). */
static int
add_kv(struct plugin_conf *p, const char *key, const char *val, int line)
{
	struct kv *kv;
	size_t i;
	char *v;

	for (i = 0; i < p->nkv; i++)
		if (strcmp(p->kv[i].key, key) == 0) {
			if ((v = strdup(val)) == NULL)
				return 0;
			free(p->kv[i].value);
			p->kv[i].value = v;
			p->kv[i].line = line;
			return 1;
		}
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

/* KEY before any section header, or in a refused section (already
 * reported): ignored, but for an include where it cannot be. */
static int
stray_key(struct parse_state *st, const char *key)
{
	if (strcmp(key, "include") == 0 && (st->dropin ||
	    st->sect == SEC_NONE)) {
		log_error("%s:%d: include %s", st->f->name, st->line,
		    st->dropin ? "is not recursive: a drop-in file cannot "
		    "include others" : "belongs in [daemon]");
		st->errors++;
	} else if (st->sect == SEC_NONE)
		log_warn("%s:%d: key '%s' outside any section, ignored",
		    st->f->name, st->line, key);
	return 1;
}

static void
seen_free(struct parse_state *st)
{
	size_t i;

	for (i = 0; i < st->nseen; i++)
		free(st->seen[i].key);
	free(st->seen);
	st->seen = NULL;
	st->nseen = 0;
	free(st->value);
	st->value = NULL;
}

/*
 * One rule for a key given twice in a section, whatever the section:
 * the last one is used, with a warning naming both lines -- but for
 * [tcp] listen, a list, where each adds an address.  An indented line
 * after a key continues its value (inih gives it as the same key
 * again): the parts are joined with a space.  *VAL: the value to use.
 * -1: out of memory.
 */
static int
key_seen(struct parse_state *st, const char *key, const char **val)
{
	struct kv *grown;
	char *joined;
	size_t i;

	if (st->cont && st->value != NULL) {
		if (asprintf(&joined, "%s%s%s", st->value, st->value[0] != '\0' ?
		    " " : "", *val) == -1)
			return -1;
		free(st->value);
		*val = st->value = joined;
		return 0;
	}
	free(st->value);
	if ((st->value = strdup(*val)) == NULL)
		return -1;
	for (i = 0; i < st->nseen; i++)
		if (strcmp(st->seen[i].key, key) == 0) {
			if (!(st->sect == SEC_TCP && strcmp(key, "listen") == 0))
				log_warn("%s:%d: %s is given twice in [%s] "
				    "(first on line %d): the last one is used",
				    st->f->name, st->line, key, st->name,
				    st->seen[i].line);
			st->seen[i].line = st->line;
			return 0;
		}
	if ((grown = realloc(st->seen, (st->nseen + 1) *
	    sizeof(*grown))) == NULL)
		return -1;
	st->seen = grown;
	if ((grown[st->nseen].key = strdup(key)) == NULL)
		return -1;
	grown[st->nseen++].line = st->line;
	return 0;
}

static int
handler(void *user, const char *section, const char *key, const char *val)
{
	struct parse_state *st = user;
	struct config *c = st->c;

	/* The section is the reader's: inih's own copy of its name is cut
	 * at 50 bytes. */
	(void)section;
	if (key == NULL)	/* a new section (INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;
	if (st->sect != SEC_UNKNOWN && st->sect != SEC_SKIP &&
	    st->sect != SEC_NONE && key_seen(st, key, &val) == -1)
		return 0;
	switch (st->sect) {
	case SEC_DAEMON:
		return daemon_key(st, key, val);
	case SEC_TCP:
		return tcp_key(st, key, val);
	case SEC_ACCESS:
		return access_key(st, key, val);
	case SEC_METRICS:
		return metrics_key(st, key, val);
	case SEC_PLUGIN:
		if (strcmp(key, "path") == 0)
			return set_str(&c->plugins[st->index].path, val) == 0;
		return add_kv(&c->plugins[st->index], key, val, st->line);
	case SEC_TYPED:
		/* [kind:name]: a plugin's to read (host->section); whether
		 * the kind and its keys mean anything, that plugin says. */
		return add_kv(&c->sections[st->index], key, val, st->line);
	case SEC_UNKNOWN:	/* warned about at its header */
		return 1;
	default:
		return stray_key(st, key);
	}
}

/* Where section P begins: "file:line", in BUF. */
static const char *
first_seen(const struct parse_state *st, const struct plugin_conf *p,
    char *buf, size_t size)
{
	snprintf(buf, size, "%s:%d", p->file != NULL ? p->file : st->c->file,
	    p->line);
	return buf;
}

/* [NAME] begins a [plugin:N] or [kind:name] section, kept in *V: once in
 * the whole configuration. */
static void
named_section(struct parse_state *st, struct plugin_conf **v, size_t *n,
    const char *name, enum sect sect)
{
	char where[PATH_MAX + 16];
	ssize_t k;

	if ((k = conf_find(*v, *n, name)) != -1) {
		log_error("%s:%d: [%s] is defined twice: first at %s",
		    st->f->name, st->line, st->name, first_seen(st, &(*v)[k],
		    where, sizeof(where)));
		st->errors++;
		return;
	}
	if ((k = conf_new(v, n, name, st->dropin ? st->f->name : NULL,
	    st->line)) == -1) {
		log_error("%s:%d: out of memory", st->f->name, st->line);
		st->errors++;
		return;
	}
	st->sect = sect;
	st->index = (size_t)k;
}

/*
 * The reader saw the header [NAME]: what its keys are for.  inih reports
 * keys, not sections, so a section is known here, where an empty one
 * ([plugin:NAME] with no keys: path defaults to NAME.so) is seen too,
 * and one defined twice is refused.
 */
static void
section_start(struct parse_state *st, const char *name)
{
	static const char *const core[] = { "daemon", "tcp", "access",
	    "metrics" };
	size_t i;

	st->sect = SEC_SKIP;
	st->keyed = 0;
	seen_free(st);
	snprintf(st->name, sizeof(st->name), "%s", name);
	for (i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
		if (strcmp(name, core[i]) != 0)
			continue;
		if (st->dropin) {
			log_error("%s:%d: [%s] belongs in the main file (%s), "
			    "not in a drop-in file", st->f->name, st->line,
			    name, st->c->file);
			st->errors++;
		} else if (st->core_line[i] != 0) {
			log_error("%s:%d: [%s] is defined twice: first at "
			    "%s:%d", st->f->name, st->line, name, st->f->name,
			    st->core_line[i]);
			st->errors++;
		} else {
			st->core_line[i] = st->line;
			st->sect = (enum sect)(SEC_DAEMON + (int)i);
			if (st->sect == SEC_TCP)
				st->c->tcp_line = st->line;
			if (st->sect == SEC_METRICS)
				st->c->metrics_line = st->line;
		}
		return;
	}
	if (strncmp(name, PLUGIN_PREFIX, strlen(PLUGIN_PREFIX)) == 0) {
		name += strlen(PLUGIN_PREFIX);
		if (name[0] != '\0')
			named_section(st, &st->c->plugins, &st->c->nplugins,
			    name, SEC_PLUGIN);
		else {
			log_error("%s:%d: [plugin:] needs a name", st->f->name,
			    st->line);
			st->errors++;
		}
	} else if (strchr(name, ':') != NULL && name[0] != ':')
		named_section(st, &st->c->sections, &st->c->nsections, name,
		    SEC_TYPED);
	else {
		log_warn("%s:%d: unknown section [%s], ignored", st->f->name,
		    st->line, name);
		st->sect = SEC_UNKNOWN;
	}
}

/*
 * LINE as inih will see it: a section header is a line that begins with
 * '[' (after blanks; an indented line after a key continues its value
 * instead), its name up to the first ']'.
 */
static void
line_seen(struct parse_state *st, const char *line)
{
	const char *p = line, *end;
	char name[sizeof(st->name)];

	st->cont = 0;
	if (st->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;		/* a UTF-8 byte order mark */
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == ';' || *p == '#')
		return;
	if (p > line && st->keyed) {	/* continues the last value */
		st->cont = 1;
		return;
	}
	if (*p != '[') {
		st->keyed = 1;
		return;
	}
	if ((end = strchr(p, ']')) == NULL)
		return;		/* inih's syntax error */
	if ((size_t)(end - p - 1) >= sizeof(name)) {
		log_error("%s:%d: section name too long", st->f->name,
		    st->line);
		st->errors++;
		st->sect = SEC_SKIP;
		return;
	}
	memcpy(name, p + 1, (size_t)(end - p - 1));
	name[end - p - 1] = '\0';
	section_start(st, name);
}

/* inih reads lines through us, from the bytes in memory, so that we know
 * the line and the section each key is in.  A line longer than inih
 * takes (NUM - 3 bytes: its own limit) is an error at its own line
 * number, given to inih as an empty line: cut in two, its tail would
 * be read as a line of its own (a comment's tail as a live setting). */
static char *
reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	const char *s = st->f->text + st->off, *nl;
	size_t left = st->f->len - st->off, n, text;

	if (left == 0 || num < 4)
		return NULL;
	n = (nl = memchr(s, '\n', left)) != NULL ? (size_t)(nl - s) + 1 : left;
	text = n;
	while (text > 0 && (s[text - 1] == '\n' || s[text - 1] == '\r'))
		text--;
	if (text > (size_t)num - 3) {
		st->off += n;
		st->line++;
		log_error("%s:%d: line longer than %d bytes", st->f->name,
		    st->line, num - 3);
		st->errors++;
		snprintf(str, (size_t)num, "\n");
		st->cont = 0;
		return str;
	}
	/* The text and one LF: however many CRs ended the line, what inih
	 * is given fits the NUM bytes it has (TEXT + 2 <= NUM - 1). */
	memcpy(str, s, text);
	str[text] = '\n';
	str[text + 1] = '\0';
	st->off += n;
	st->line++;
	line_seen(st, str);
	return str;
}

int
config_parse(struct config *c, const struct config_file *f, int dropin)
{
	struct parse_state st;
	int rc;

	if (!dropin && set_str(&c->file, f->name) == -1)
		return -1;
	memset(&st, 0, sizeof(st));
	st.c = c;
	st.f = f;
	st.dropin = dropin;
	rc = ini_parse_stream(reader, &st, handler, &st);
	seen_free(&st);
	if (rc > 0) {
		log_error("%s:%d: syntax error", f->name, rc);
		return -1;
	}
	if (rc < 0) {
		log_error("%s: cannot be parsed (out of memory)", f->name);
		return -1;
	}
	return st.errors > 0 ? -1 : 0;
}

/* What spans keys, once every file is read. */
static int
config_check(const struct config *c)
{
	const char *file = c->file;
	size_t i;
	int errors = 0;

	for (i = 0; i < c->nplugins; i++)
		if (c->plugins[i].path == NULL)
			log_debug("%s:%d: [plugin:%s] has no path; looking for "
			    "%s.so in the plugin directory",
			    c->plugins[i].file ? c->plugins[i].file : file,
			    c->plugins[i].line, c->plugins[i].name,
			    c->plugins[i].name);
	if (c->ntcp > 0 && c->tcp_secrets == NULL &&
	    c->tls_client_ca == NULL) {
		log_error("%s:%d: [tcp] listen needs secrets = FILE (or "
		    "tls_client_ca): TCP peers must authenticate", file,
		    c->tcp_line);
		errors++;
	}
	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		log_error("%s:%d: [tcp] tls_cert and tls_key go together",
		    file, c->tcp_line);
		errors++;
	}
	if (c->tls_client_ca != NULL && c->tls_cert == NULL) {
		log_error("%s:%d: [tcp] tls_client_ca needs tls_cert and "
		    "tls_key", file, c->tcp_line);
		errors++;
	}
	if ((c->metrics_tls_cert == NULL) != (c->metrics_tls_key == NULL)) {
		log_error("%s:%d: [metrics] tls_cert and tls_key go together",
		    file, c->metrics_line);
		errors++;
	}
	return errors > 0 ? -1 : 0;
}

int
config_load_text(struct config *c, const struct config_text *t, size_t from)
{
	size_t i;
	int rc = 0;

	for (i = from; i < t->n; i++)
		if (config_parse(c, &t->v[i], i > 0) == -1)
			rc = -1;
	if (config_check(c) == -1)
		rc = -1;
	return rc;
}

void
config_free(struct config *c)
{
	size_t i;

	config_sections_free(c->plugins, c->nplugins);
	config_sections_free(c->sections, c->nsections);
	for (i = 0; i < c->ntcp; i++)
		free(c->tcp_listen[i]);
	free(c->tcp_listen);
	free(c->tcp_secrets);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_client_ca);
	free(c->metrics_listen);
	free(c->metrics_tls_cert);
	free(c->metrics_tls_key);
	free(c->socket_group);
	free(c->server_user);
	free(c->allow_users);
	free(c->allow_groups);
	free(c->admin_users);
	free(c->admin_groups);
	free(c->file);
	free(c->include);
	free(c->socket);
	free(c->plugin_dir);
	free(c->log_file);
	memset(c, 0, sizeof(*c));
}
