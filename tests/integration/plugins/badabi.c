/* Declares a future ABI major. */
#include "procctl/plugin.h"

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	(void)self; (void)host;
	return 0;
}

__attribute__((visibility("default")))
const struct procctl_plugin_decl procctl_plugin = {
	PROCCTL_ABI_MAJOR + 1, 0, "badabi", "1", "test plugin", init, NULL
};
