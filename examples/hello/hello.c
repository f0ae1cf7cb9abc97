/*
 * hello: a complete procctl plugin, built outside the procctl tree
 * against an installed one (see Makefile: pkg-config finds the header and
 * the plugin directory).  It adds one command, `greet [--loud] [name]`,
 * which replies "hello, NAME" (the caller's user name by default).
 */
#include <ctype.h>
#include <stdio.h>

#include <procctl/plugin.h>

static const struct procctl_host *H;
static const char *greeting = "hello";	/* [plugin:hello] greeting = ... */

static void
cmd_greet(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	const char *name = argc == 2 ? argv[1].ptr : who->user;
	char out[256];
	size_t i;

	/* The host checked the options and words against the declaration
	 * below before calling: argv holds the positional words only. */
	snprintf(out, sizeof(out), "%s, %s", greeting, name);
	for (i = 0; H->option(ctx, "loud") != NULL && out[i] != '\0'; i++)
		out[i] = (char)toupper((unsigned char)out[i]);
	H->reply_str(ctx, out);
}

static const struct procctl_option options[] = {
	{ "loud", 'l', NULL, "shout it" },
	{ NULL, 0, NULL, NULL },
};

static const struct procctl_param params[] = {
	{ "name", PROCCTL_PARAM_WORD, NULL, 0, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command commands[] = {
	{ "greet", cmd_greet, 0, NULL, "Say hello (the example plugin)", 0,
	  options, params, "examples" },
};

static const char *const keys[] = { "greeting", NULL };

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	const char *g;

	H = host;
	(void)H->config_keys(self, keys);	/* others are typos */
	if ((g = H->config_get(self, "greeting")) != NULL)
		greeting = g;	/* the host keeps our section while loaded */
	return H->register_command(self, &commands[0]);
}

PROCCTL_PLUGIN("hello", "1.0", "an example plugin built out of tree", init,
    NULL);
