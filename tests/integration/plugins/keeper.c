/* Bytes across `plugin reload` (host->keep, host->kept): init takes what
 * the instance before kept, `kept` shows them (hex), `keepnext HEX` sets
 * what fini keeps for the next instance.  Loaded in another plugin's
 * place, it hands that plugin's bytes back altered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procctl/plugin.h"

static const struct procctl_host *H;
static unsigned char *bytes;
static size_t len;

static void
cmd_kept(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	char *hex = malloc(2 * len + 1);
	size_t i;

	(void)argc; (void)argv;
	if (hex == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
	H->reply_bulk(ctx, hex, 2 * len);
	free(hex);
}

static void
cmd_keepnext(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	unsigned char *b;
	unsigned v;
	size_t i, n = argc > 1 ? argv[1].len / 2 : 0;

	if ((b = malloc(n + 1)) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		if (sscanf(argv[1].ptr + 2 * i, "%2x", &v) != 1) {
			free(b);
			H->reply_error(ctx, "ARGS", "not hex");
			return;
		}
		b[i] = (unsigned char)v;
	}
	free(bytes);
	bytes = b;
	len = n;
	H->reply_int(ctx, (long long)n);
}

static const struct procctl_command commands[] = {
	{ "kept", cmd_kept, 1, "kept", "What the instance before kept", 0 },
	{ "keepnext", cmd_keepnext, -1, "keepnext [hex]",
	  "What to keep for the next instance", 0 },
};

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	const void *p;
	size_t n;

	H = host;
	if ((p = H->kept(self, &n)) != NULL && (bytes = malloc(n)) != NULL) {
		memcpy(bytes, p, n);
		len = n;
	}
	return H->register_command(self, &commands[0]) == -1 ||
	    H->register_command(self, &commands[1]) == -1 ? -1 : 0;
}

static void
fini(struct procctl_plugin *self)
{
	(void)H->keep(self, bytes, len);
	free(bytes);
	bytes = NULL;
	len = 0;
}

PROCCTL_PLUGIN("keeper", "1", "test plugin: keep and kept", init, fini);
