/* The INI file: each case is a file's text and what loading it must give
 * (accepted or refused, and the values that matter). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	int fd, rc;
	FILE *fp;

	if ((fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "w")) == NULL)
		return -2;
	fputs(text, fp);
	fclose(fp);
	config_defaults(c);
	rc = config_load(c, path);
	unlink(path);
	return rc;
}

int
main(void)
{
	struct config c;
	size_t i, k, sz;
	char key[64], *eq;
	int rc, found;

	log_init(LOG_ERROR);
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
	CHECK(config_parse_size("1M", &sz) == 0 && sz == 1048576, "1M");
	CHECK(config_parse_size("-1", &sz) == -1, "-1 refused");
	CHECK(config_parse_size("99999999999999999999G", &sz) == -1,
	    "overflow refused");
	/* A missing file is an error, not defaults. */
	config_defaults(&c);
	CHECK(config_load(&c, "/nonexistent/procctld.ini") == -1,
	    "missing file refused");
	config_free(&c);
	return check_report("test_config");
}
