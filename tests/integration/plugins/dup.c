/* Registers a name arith already has, and one of its own. */
#include "procctl/plugin.h"

static const struct procctl_host *H;

static void
cmd(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)argc; (void)argv;
	H->reply_simple(ctx, "dup");
}

static const struct procctl_command add = { "add", cmd, -1, "add", "x", 0 };
static const struct procctl_command own = { "dupok", cmd, 1, "dupok", "x", 0 };

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	H = host;
	H->register_command(self, &add);	/* refused: arith has it */
	return H->register_command(self, &own);
}

PROCCTL_PLUGIN("dup", "1", "test plugin", init, NULL);
