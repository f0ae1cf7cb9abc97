/*
 * One request to one command: find it, let it past the auth gate only if
 * its flags say so (as Redis's CMD_NO_AUTH), check admin-only commands,
 * parse its arguments against its declaration, and run its handler.
 * Nothing here knows a command by name.
 */
#include <stdio.h>
#include <string.h>

#include "procctld.h"

/* Arguments of the request being run; one at a time on one thread. */
static struct cmd_args scratch;

static int
arity_ok(const struct command *c, int argc)
{
	if (c->arity > 0)
		return argc == c->arity;
	return argc >= -c->arity;
}

void
dispatch(struct procctl_ctx *ctx, int authed, int argc,
    const struct procctl_arg *argv)
{
	const struct procctl_caller *who = ctx->caller;
	const struct command *c;
	char err[512];

	c = strlen(argv[0].ptr) == argv[0].len ? command_find(argv[0].ptr) :
	    NULL;
	stats_request(c != NULL ? c->name : NULL);
	/* A peer that has not proven who it is learns nothing, not even
	 * which commands exist. */
	if (!authed && (c == NULL || !(c->flags & CMD_NO_AUTH))) {
		reply_error(ctx, "NOAUTH", "Authentication required.");
		return;
	}
	if (c == NULL) {
		reply_error(ctx, "ERR", "unknown command '%.64s'; 'help' lists "
		    "the commands", argv[0].ptr);
		return;
	}
	ctx->cmd = c;
	ctx->name = c->name;
	if ((c->flags & PROCCTL_CMD_ADMIN) && !who->admin) {
		reply_error(ctx, "NOPERM", "'%s' is for admins only", c->name);
		return;
	}
	if (c->params == NULL) {
		if (!arity_ok(c, argc)) {
			reply_error(ctx, "ARGS", "wrong number of arguments "
			    "for '%s'; usage: %s", c->name, c->usage);
			return;
		}
		c->fn(ctx, argc, argv);
		return;
	}
	if (args_parse(c, argc, argv, &scratch, err, sizeof(err)) == -1) {
		reply_error(ctx, "ARGS", "%s", err);
		return;
	}
	ctx->args = &scratch;
	c->fn(ctx, scratch.argc, scratch.argv);
	ctx->args = NULL;
}

void
dispatch_free(void)
{
	args_free(&scratch);
}
