/* The INI file: each case is a file's text and what loading it must give
 * (accepted or refused, and the values that matter). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "procctld.h"

struct config_case {
	const char	*text;
	int		 ok;
	const char	*socket;	/* NULL: not checked */
	unsigned	 mode;		/* 0: not checked */
	size_t		 max_clients;
	size_t		 nplugins;
	const char	*plugin_key;	/* "name.key=value" in plugin 0 */
};

static const struct config_case cases[] = {
	{ "", 1, NULL, 0660, 0, 0, NULL },
	{ "[daemon]\nsocket = /tmp/x.sock\nsocket_mode = 0600\n"
	  "max_clients = 20k\n", 1, "/tmp/x.sock", 0600, 20480, 0, NULL },
	{ "; comment\n[daemon]\nlog_level = debug\n", 1, NULL, 0, 0, 0, NULL },
	{ "[daemon]\nsocket_mode = 999\n", 0, NULL, 0, 0, 0, NULL },
	{ "[daemon]\nsocket_mode = rw\n", 0, NULL, 0, 0, 0, NULL },
	{ "[daemon]\nlog_level = loud\n", 0, NULL, 0, 0, 0, NULL },
	{ "[daemon]\nmax_request = 0\n", 0, NULL, 0, 0, 0, NULL },
	{ "[daemon]\nmax_output = lots\n", 0, NULL, 0, 0, 0, NULL },
	{ "[daemon]\nsocket =\n", 0, NULL, 0, 0, 0, NULL },
	{ "[daemon\nsocket = /x\n", 0, NULL, 0, 0, 0, NULL },
	{ "this is not ini\n", 0, NULL, 0, 0, 0, NULL },
	/* Unknown keys and sections warn but do not refuse. */
	{ "[daemon]\ncolour = blue\n[weather]\nsun = yes\n", 1, NULL, 0, 0, 0,
	  NULL },
	{ "[plugin:proc]\npath = proc.so\nclose_timeout = 2\n"
	  "[plugin:arith]\npath = /abs/arith.so\n", 1, NULL, 0, 0, 2,
	  "proc.close_timeout=2" },
	{ "[plugin:]\npath = x.so\n", 0, NULL, 0, 0, 0, NULL },
	{ "[plugin:proc]\nhistory = 5\n", 1, NULL, 0, 0, 1,
	  "proc.history=5" },
};

static int
load_text(const char *text, struct config *c)
{
	char path[] = "/tmp/procctl-test-XXXXXX";
	struct config_text t = { NULL, 0 };
	int fd, rc;
	FILE *fp;

	if ((fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "w")) == NULL)
		return -2;
	fputs(text, fp);
	fclose(fp);
	config_defaults(c);
	rc = confread_load(c, path, &t);
	confread_text_free(&t);
	unlink(path);
	return rc;
}

/*
 * Drop-in files: a main file and files in DIR/conf.d, each case the main
 * file's text, the drop-ins (name, text; a NULL text is a directory),
 * whether the whole is accepted, and the [kind:name] sections it gives,
 * in order ("program:a@a.ini": from conf.d/a.ini; "@": the main file).
 */
struct dropin_case {
	const char	*main;
	const char	*files[6];	/* name, text pairs; NULL ends */
	int		 ok;
	const char	*sections;	/* space-separated, or NULL */
	size_t		 nread;		/* files read, the main one too */
};

#define INC "[daemon]\ninclude = conf.d/*.ini\n"
static const struct dropin_case dropin_cases[] = {
	{ INC, { "b.ini", "[program:b]\ncommand = x\n", "a.ini",
	  "[program:a]\ncommand = y\n[plugin:p]\nk = v\n", NULL }, 1,
	  "program:a@a.ini program:b@b.ini", 3 },
	/* No match: no file, no error. */
	{ INC "[program:m]\ncommand = z\n", { NULL }, 1, "program:m@", 1 },
	{ INC, { "x.txt", "[program:x]\n", "a.ini", "[program:a]\n", NULL },
	  1, "program:a@a.ini", 2 },
	/* The main file, matched by its own pattern, is not read again. */
	{ "[daemon]\ninclude = *.ini\n[program:m]\n", { NULL }, 1,
	  "program:m@", 1 },
	{ INC, { "a.ini", "[daemon]\nlog_level = debug\n", NULL }, 0, NULL, 0 },
	{ INC, { "a.ini", "[tcp]\n", NULL }, 0, NULL, 0 },
	{ INC, { "a.ini", "[access]\nallow_users = root\n", NULL }, 0, NULL, 0 },
	{ INC, { "a.ini", "include = more/*.ini\n", NULL }, 0, NULL, 0 },
	{ INC, { "a.ini", "[program:a]\n", "b.ini", "[program:a]\n", NULL },
	  0, NULL, 0 },
	{ INC "[program:a]\n", { "a.ini", "[program:a]\n", NULL }, 0, NULL, 0 },
	{ INC, { "a.ini", "[plugin:p]\n", "b.ini", "[plugin:p]\n", NULL }, 0,
	  NULL, 0 },
	{ INC, { "a.ini", "[program:a\n", NULL }, 0, NULL, 0 },
	{ INC, { "d.ini", NULL, NULL }, 0, NULL, 0 },
	{ INC "include = other/*.ini\n", { NULL }, 0, NULL, 0 },
	{ "[daemon]\ninclude =\n", { NULL }, 0, NULL, 0 },
	{ "include = conf.d/*.ini\n", { NULL }, 0, NULL, 0 },
	{ "[program:a]\n[program:a]\n", { NULL }, 0, NULL, 0 },
	{ "[daemon]\n[daemon]\n", { NULL }, 0, NULL, 0 },
};

static void
put(const char *path, const char *text)
{
	FILE *fp;

	if ((fp = fopen(path, "w")) != NULL) {
		fputs(text, fp);
		fclose(fp);
	}
}

/* "program:a@a.ini ..." for C's sections. */
static void
describe(const struct config *c, char *out, size_t size)
{
	const char *f;
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < c->nsections && n < size; i++) {
		f = c->sections[i].file;
		f = f == NULL ? "" : strrchr(f, '/') + 1;
		n += (size_t)snprintf(out + n, size - n, "%s%s@%s",
		    i > 0 ? " " : "", c->sections[i].name, f);
	}
}

static void
dropin_case(size_t i, const struct dropin_case *k)
{
	char dir[] = "/tmp/procctl-test-XXXXXX", path[256], got[512];
	struct config_text t = { NULL, 0 };
	struct config c;
	size_t j;
	int rc;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/conf.d", dir);
	mkdir(path, 0755);
	for (j = 0; k->files[j] != NULL; j += 2) {
		snprintf(path, sizeof(path), "%s/conf.d/%s", dir, k->files[j]);
		if (k->files[j + 1] == NULL)
			mkdir(path, 0755);
		else
			put(path, k->files[j + 1]);
	}
	snprintf(path, sizeof(path), "%s/main.ini", dir);
	put(path, k->main);
	config_defaults(&c);
	rc = confread_load(&c, path, &t);
	CHECK((rc == 0) == k->ok, "drop-in case %zu: rc %d, want %s", i, rc,
	    k->ok ? "accepted" : "refused");
	if (rc == 0 && k->sections != NULL) {
		describe(&c, got, sizeof(got));
		CHECK(strcmp(got, k->sections) == 0, "drop-in case %zu: %s, "
		    "want %s", i, got, k->sections);
		CHECK(t.n == k->nread, "drop-in case %zu: %zu files read", i,
		    t.n);
	}
	config_free(&c);
	confread_text_free(&t);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* The connection limits: their defaults, values and refusals. */
static void
test_limits(void)
{
	static const char *const refused[] = {
		"[daemon]\nmax_clients_per_user = many\n",
		"[tcp]\nmax_clients = 0\n",
		"[tcp]\nmax_clients_per_address = -1\n",
		"[tcp]\nauth_timeout = 0\n",
		"[tcp]\nauth_timeout = -1\n",
		"[tcp]\nauth_timeout = 3601\n",
		"[tcp]\nauth_timeout = soon\n",
		"[tcp]\nauth_timeout = 10s\n",
	};
	struct config c;
	size_t i;

	CHECK(load_text("", &c) == 0 && c.max_clients_per_user == 64 &&
	    c.tcp_max_clients == 128 && c.tcp_max_per_address == 16 &&
	    c.auth_timeout_ms == 10000, "limits: defaults");
	config_free(&c);
	CHECK(load_text("[daemon]\nmax_clients_per_user = 0\n[tcp]\n"
	    "max_clients = 9\nmax_clients_per_address = 0\n"
	    "auth_timeout = 0.25\n", &c) == 0 &&
	    c.max_clients_per_user == 0 && c.tcp_max_clients == 9 &&
	    c.tcp_max_per_address == 0 && c.auth_timeout_ms == 250,
	    "limits: set");
	config_free(&c);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		CHECK(load_text(refused[i], &c) == -1, "limits: %s accepted",
		    refused[i]);
		config_free(&c);
	}
}

/*
 * A line whose text fits inih's buffer but that ends in many CRs before
 * its LF (found by tests/fuzz/fuzz_config.c): the reader measured the
 * line without them and copied it with them, past the end of inih's
 * buffer.  The CRs are the line's ending: the text is what counts.
 */
static void
test_carriage_returns(void)
{
	struct config c;
	char text[2048];
	int rc;

	snprintf(text, sizeof(text), "; a%0*d\n[daemon]\nsocket = /tmp/cr.sock"
	    "%0*d\nmax_clients = 7\n", 400, 0, 400, 0);
	for (char *p = text; *p != '\0'; p++)
		if (*p == '0')
			*p = '\r';
	rc = load_text(text, &c);
	CHECK(rc == 0 && c.socket != NULL &&
	    strcmp(c.socket, "/tmp/cr.sock") == 0 && c.max_clients == 7,
	    "lines ended by 400 CRs: rc %d, socket %s", rc,
	    c.socket ? c.socket : "(none)");
	config_free(&c);
}

int
main(void)
{
	struct config_text text = { NULL, 0 };
	struct config c;
	size_t i, k, sz;
	char key[64], *eq;
	int rc, found;

	log_init(LOG_ERROR);
	test_limits();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct config_case *t = &cases[i];

		rc = load_text(t->text, &c);
		CHECK((rc == 0) == t->ok, "case %zu: rc %d, want %s", i, rc,
		    t->ok ? "accepted" : "refused");
		if (rc == 0 && t->ok) {
			if (t->socket)
				CHECK(c.socket && strcmp(c.socket,
				    t->socket) == 0, "case %zu: socket", i);
			if (t->mode)
				CHECK(c.socket_mode == t->mode,
				    "case %zu: mode %o", i, c.socket_mode);
			if (t->max_clients)
				CHECK(c.max_clients == t->max_clients,
				    "case %zu: max_clients %zu", i,
				    c.max_clients);
			CHECK(c.nplugins == t->nplugins, "case %zu: %zu "
			    "plugins", i, c.nplugins);
			if (t->plugin_key && c.nplugins > 0) {
				snprintf(key, sizeof(key), "%s",
				    strchr(t->plugin_key, '.') + 1);
				eq = strchr(key, '=');
				*eq = '\0';
				found = 0;
				for (k = 0; k < c.plugins[0].nkv; k++)
					if (strcmp(c.plugins[0].kv[k].key,
					    key) == 0 && strcmp(
					    c.plugins[0].kv[k].value,
					    eq + 1) == 0)
						found = 1;
				CHECK(found, "case %zu: %s", i, t->plugin_key);
			}
		}
		config_free(&c);
	}
	test_carriage_returns();
	CHECK(config_parse_size("1M", &sz) == 0 && sz == 1048576, "1M");
	CHECK(config_parse_size("-1", &sz) == -1, "-1 refused");
	CHECK(config_parse_size("99999999999999999999G", &sz) == -1,
	    "overflow refused");
	/* A missing file is an error, not defaults. */
	config_defaults(&c);
	CHECK(confread_load(&c, "/nonexistent/procctld.ini", &text) == -1,
	    "missing file refused");
	config_free(&c);
	confread_text_free(&text);
	for (i = 0; i < sizeof(dropin_cases) / sizeof(dropin_cases[0]); i++)
		dropin_case(i, &dropin_cases[i]);
	return check_report("test_config");
}
