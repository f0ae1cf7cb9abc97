/* A test plugin that breaks the rules on purpose, and one that keeps
 * them with a deferred reply: the daemon must keep every stream valid. */
#include <stdlib.h>

#include "procctl/plugin.h"

static const struct procctl_host *H;
static struct procctl_plugin *me;

static void
cmd_noreply(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)ctx; (void)argc; (void)argv;
}

static void
cmd_short(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)argc; (void)argv;
	H->reply_array(ctx, 3);
	H->reply_int(ctx, 1);
}

static void
cmd_extra(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)argc; (void)argv;
	H->reply_int(ctx, 1);
	H->reply_int(ctx, 2);
}

static void
later_done(void *arg)
{
	struct procctl_ctx *d = arg;

	H->reply_simple(d, "done");
	H->finish(d);
}

static void
cmd_later(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	struct procctl_ctx *d;

	(void)argc; (void)argv;
	if ((d = H->defer(ctx)) == NULL) {
		H->reply_error(ctx, "ERR", "cannot defer");
		return;
	}
	H->timer_add(me, 200, later_done, d);
}

static void
cmd_pushme(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	struct procctl_ctx *p;

	(void)argc;
	if (argv[0].ptr[4] == 'c')	/* pushconn: this connection only */
		p = H->push_begin_conn(me, H->caller(ctx)->conn_id);
	else
		p = H->push_begin(me, H->caller(ctx)->uid);
	H->reply_array(p, 2);
	H->reply_str(p, "event");
	H->reply_bulk(p, argv[1].ptr, argv[1].len);
	H->push_end(p);
	H->reply_simple(ctx, "pushed");
}

/* Completion sources no client can send: too long, no word, too many
 * words.  Each is to be left out, not the completion of the rest. */
#define X10	"xxxxxxxxxx"
#define X100	X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
static const struct procctl_param odd_params[] = {
	{ "long", PROCCTL_PARAM_WORD, NULL, 0, 1, 0, "list " X100 X100 X100,
	  "name", NULL },
	{ "blank", PROCCTL_PARAM_WORD, NULL, 0, 1, 0, "   ", "name", NULL },
	{ "wordy", PROCCTL_PARAM_WORD, NULL, 0, 1, 0,
	  "a b c d e f g h i j", "name", NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command cmds[] = {
	{ "noreply", cmd_noreply, 1, "noreply", "replies with nothing", 0 },
	{ "short", cmd_short, 1, "short", "a reply too short", 0 },
	{ "extra", cmd_extra, 1, "extra", "two replies", 0 },
	{ "later", cmd_later, 1, "later", "a deferred reply", 0 },
	{ "pushme", cmd_pushme, 2, "pushme <text>", "push to my user", 0 },
	{ "pushconn", cmd_pushme, 2, "pushconn <text>", "push to me", 0 },
	{ "secret", cmd_extra, 1, "secret", "admin only", PROCCTL_CMD_ADMIN },
	{ "oddsrc", cmd_extra, 0, "oddsrc [long] [blank] [wordy]",
	  "completion sources no client can send", 0, NULL, odd_params,
	  NULL },
};

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	size_t i;

	H = host;
	me = self;
	if (H->config_get(self, "greeting") != NULL)
		H->log(self, PROCCTL_LOG_INFO, "greeting is %s",
		    H->config_get(self, "greeting"));
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		H->register_command(self, &cmds[i]);
	return 0;
}

PROCCTL_PLUGIN("misbehave", "1", "test plugin", init, NULL);
