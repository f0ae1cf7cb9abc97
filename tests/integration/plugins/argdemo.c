/* A plugin whose command declares its arguments (ABI 1.1): the host parses
 * them, writes the usage errors, and describes them to clients, which
 * document and complete `greet` without knowing it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procctl/plugin.h"

static const struct procctl_host *H;

static void
cmd_greet(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	char out[256];
	const char *loud = H->option(ctx, "loud");
	const char *from = H->option(ctx, "from");
	long times = argc == 3 ? strtol(argv[2].ptr, NULL, 10) : 1;
	size_t i;

	snprintf(out, sizeof(out), "hello %s x%ld%s%s", argv[1].ptr, times,
	    from ? " from " : "", from ? from : "");
	if (loud != NULL)
		for (i = 0; out[i] != '\0'; i++)
			out[i] = (char)toupper((unsigned char)out[i]);
	H->reply_str(ctx, out);
}

static const struct procctl_option greet_options[] = {
	{ "loud", 'l', NULL, "shout it" },
	{ "from", 'f', "NAME", "say who greets" },
	{ NULL, 0, NULL, NULL },
};

static const struct procctl_param greet_params[] = {
	{ "who", PROCCTL_PARAM_KEYWORD, "world|moon", 1, 1, 0, NULL, NULL,
	  NULL },
	{ "times", PROCCTL_PARAM_INT, NULL, 0, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command greet = {
	"greet", cmd_greet, 0, NULL, "Greet the world or the moon", 0,
	greet_options, greet_params, "demo"
};

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	H = host;
	return H->register_command(self, &greet);
}

PROCCTL_PLUGIN("argdemo", "1", "declared arguments", init, NULL);
