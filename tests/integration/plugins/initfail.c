/* Registers a command, then refuses to initialise. */
#include "procctl/plugin.h"

static void
cmd(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)ctx; (void)argc; (void)argv;
}

static const struct procctl_command c = { "vanish", cmd, 1, "vanish", "", 0 };

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	host->register_command(self, &c);
	host->log(self, PROCCTL_LOG_ERROR, "missing something I need");
	return -1;
}

PROCCTL_PLUGIN("initfail", "1", "test plugin", init, NULL);
