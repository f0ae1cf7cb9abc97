/* A plugin built for ABI 1.0, before declared arguments: its command
 * structures and its declaration are shorter.  The host must read none of
 * the members minor 1 added (here they would be the next command's name
 * and handler), and must still check its arity. */
#include <stdint.h>

#include "procctl/plugin.h"

struct v10_command {
	const char	*name;
	procctl_cmd_fn	 fn;
	int		 arity;
	const char	*usage;
	const char	*summary;
	unsigned	 flags;
};

struct v10_decl {
	uint32_t	 abi_major;
	uint32_t	 abi_minor;
	const char	*name;
	const char	*version;
	const char	*description;
	int		(*init)(struct procctl_plugin *,
			    const struct procctl_host *);
	void		(*fini)(struct procctl_plugin *);
};

static const struct procctl_host *H;

static void
cmd(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)argv;
	H->reply_int(ctx, argc);
}

/* Side by side: read past the first, a host would take "old2" for an
 * option table. */
static const struct v10_command cmds[2] = {
	{ "old1", cmd, -2, "old1 <x> [y...]", "an ABI 1.0 command", 0 },
	{ "old2", cmd, 1, "old2", "another", 0 },
};

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	H = host;
	if (H->register_command(self,
	    (const struct procctl_command *)&cmds[0]) == -1)
		return -1;
	return H->register_command(self,
	    (const struct procctl_command *)&cmds[1]);
}

__attribute__((visibility("default")))
const struct v10_decl procctl_plugin = {
	1, 0, "oldabi", "1", "built for ABI 1.0", init, NULL
};
