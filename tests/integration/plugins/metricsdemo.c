/* A plugin that writes metric families (ABI 1.9), good and bad: the host
 * must escape what it is given, refuse what would break the format, and
 * keep the page valid either way.  Built with -DDEMO_MINOR=8 it declares
 * ABI 1.8, from before metrics, and must still load. */
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

#include "procctl/plugin.h"

#ifndef DEMO_MINOR
#define DEMO_MINOR PROCCTL_ABI_MINOR
#endif

static const struct procctl_host *H;

static void
cmd(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)argc;
	(void)argv;
	H->reply_simple(ctx, "OK");
}

/* stall FIFO: the loop stuck in this call until a byte comes through
 * FIFO, for a test of scrapes while the loop is busy.  Opening FIFO
 * waits for the test's writer, so the test knows when the loop is here. */
static void
cmd_stall(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	char c;
	int fd;

	(void)argc;
	if ((fd = open(argv[1].ptr, O_RDONLY)) == -1) {
		H->reply_error(ctx, "ERR", "cannot open the FIFO");
		return;
	}
	(void)!read(fd, &c, 1);
	close(fd);
	H->reply_simple(ctx, "OK");
}

static const struct procctl_command cmds[] = {
	{ "demo", cmd, 1, "demo", "answers OK", 0, NULL, NULL, NULL },
	{ "stall", cmd_stall, 2, "stall <fifo>", "blocks the loop until a "
	    "byte comes through FIFO", 0, NULL, NULL, NULL },
};

static void
metrics(struct procctl_metrics *m, void *arg)
{
	const char *odd[] = { "value", "back\\slash \"quoted\"\nnew line \xff",
	    NULL };
	const char *bad_label[] = { "0bad", "x", NULL };
	const char *reserved[] = { "__name", "x", NULL };
	const char *twice[] = { "a", "1", "a", "2", NULL };

	(void)arg;
	/* Refused: a sample with no family yet. */
	H->metric_sample(m, NULL, 1);
	H->metric_family(m, "procctl_demo_escaped", PROCCTL_METRIC_GAUGE,
	    "label values with \\ and \" and a newline\nin the help too");
	H->metric_sample(m, odd, 1);
	/* Refused samples of a good family: bad label names. */
	H->metric_sample(m, bad_label, 2);
	H->metric_sample(m, reserved, 3);
	H->metric_sample(m, twice, 4);
	/* Refused families, and the samples that follow them. */
	H->metric_family(m, "demo_no_prefix", PROCCTL_METRIC_GAUGE, "x");
	H->metric_sample(m, NULL, 5);
	H->metric_family(m, "procctl_demo_counter", PROCCTL_METRIC_COUNTER,
	    "a counter without _total");
	H->metric_sample(m, NULL, 6);
	H->metric_family(m, "procctl_demo_gauge_total", PROCCTL_METRIC_GAUGE,
	    "a gauge named as a counter");
	H->metric_family(m, "procctl_clients", PROCCTL_METRIC_GAUGE,
	    "the core's");
	H->metric_sample(m, NULL, 7);
	H->metric_family(m, "procctl_demo_hist", 2, "not for plugins");
	H->metric_family(m, "procctl_demo bad", PROCCTL_METRIC_GAUGE, "x");
	/* Good. */
	H->metric_family(m, "procctl_demo_events_total",
	    PROCCTL_METRIC_COUNTER, "a counter");
	H->metric_sample(m, NULL, 42);
	H->metric_sample(m, (const char *[]){ "kind", "negative", NULL }, -1);
	H->metric_family(m, "procctl_demo_ratio", PROCCTL_METRIC_GAUGE,
	    "a fraction");
	H->metric_sample(m, NULL, 0.25);
}

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	H = host;
	if (H->register_command(self, &cmds[0]) == -1 ||
	    H->register_command(self, &cmds[1]) == -1)
		return -1;
#if DEMO_MINOR >= 9
	if (H->abi_minor >= 9 && H->on_metrics(self, metrics, NULL) == -1)
		return -1;
#else
	(void)metrics;
#endif
	return 0;
}

__attribute__((visibility("default")))
const struct procctl_plugin_decl procctl_plugin = {
	PROCCTL_ABI_MAJOR, DEMO_MINOR, "metricsdemo", "1",
	"metric families, good and bad", init, NULL,
	sizeof(struct procctl_plugin_decl)
};
