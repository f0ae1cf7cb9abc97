/*
 * `metrics`: the server's state in the Prometheus text format, the same
 * page the [metrics] endpoint serves (promhttp.c).  The core writes what
 * it counts (stats.c: clients, requests, bytes, AUTH failures, events
 * and log lines dropped, how long spawns take) and then each plugin
 * writes its own families (host->on_metrics: the proc plugin's
 * processes, programs and restarts).  It shows every user's counts, so
 * it is for admins, as the command's flag says.
 *
 * The page is written when asked for, from what is already held: no
 * scrape costs more than a walk over the counters and the plugins'
 * records.
 */
#include <stdio.h>
#include <time.h>

#include "logq.h"
#include "procctld.h"

static double start_time;	/* CLOCK_REALTIME seconds: this server's */
static char abi[16];		/* "1.9" */

static void
one(struct procctl_metrics *m, const char *name, int type, const char *help,
    double v)
{
	if (expo_family(m, name, type, help) == 0)
		expo_sample(m, NULL, v);
}

static void
write_server(struct procctl_metrics *m)
{
	const char *build[] = { "version", PROCCTLD_VERSION, "abi",
	    abi, NULL };
	const char *unix_l[] = { "transport", "unix", NULL };
	const char *tcp_l[] = { "transport", "tcp", NULL };

	if (expo_family(m, "procctl_build_info", EXPO_GAUGE, "procctld's "
	    "version and plugin ABI; always 1") == 0)
		expo_sample(m, build, 1);
	one(m, "procctl_server_start_time_seconds", EXPO_GAUGE, "When this "
	    "server process started (Unix time); counters start at zero "
	    "with it", start_time);
	if (expo_family(m, "procctl_clients", EXPO_GAUGE, "Clients connected "
	    "now, by transport") == 0) {
		expo_sample(m, unix_l, (double)stats.clients[SLOT_LOCAL]);
		expo_sample(m, tcp_l, (double)stats.clients[SLOT_TCP]);
	}
}

static void
write_requests(struct procctl_metrics *m)
{
	const char *labels[] = { "command", NULL, NULL };
	const char *name;
	uint64_t n;
	size_t i;

	if (expo_family(m, "procctl_requests_total", EXPO_COUNTER, "Requests "
	    "received, by command (command=\"unknown\": no such command)") ==
	    -1)
		return;
	for (i = 0; stats_requests(i, &name, &n) == 0; i++) {
		labels[1] = name;
		expo_sample(m, labels, (double)n);
	}
}

static void
write_traffic(struct procctl_metrics *m)
{
	one(m, "procctl_received_bytes_total", EXPO_COUNTER, "Bytes read "
	    "from clients (after TLS)", (double)stats.received_bytes);
	one(m, "procctl_sent_bytes_total", EXPO_COUNTER, "Bytes written to "
	    "clients (before TLS)", (double)stats.sent_bytes);
	one(m, "procctl_auth_failures_total", EXPO_COUNTER, "Failed "
	    "authentications: AUTH refused or throttled, client certificates "
	    "that name no user", (double)stats.auth_failures);
	one(m, "procctl_events_dropped_total", EXPO_COUNTER, "Events and "
	    "followed lines lost by clients too slow to read them",
	    (double)stats.events_dropped);
	one(m, "procctl_metrics_pages_total", EXPO_COUNTER, "Pages written "
	    "for [metrics] listen: at most one a second, however many "
	    "scrape", (double)stats.metrics_pages);
	one(m, "procctl_log_lines_dropped_total", EXPO_COUNTER, "Lines of "
	    "the server's own log dropped because its output was not "
	    "taking them", (double)logq_dropped_total());
	one(m, "procctl_output_lines_dropped_total", EXPO_COUNTER, "Lines "
	    "of processes' output no log file or journald took (its writer "
	    "stuck, a disk full, a file refused); each gap is marked where it "
	    "is", (double)logfile_lost());
	if (expo_family(m, "procctl_spawn_duration_seconds", EXPO_HISTOGRAM,
	    "From asking the monitor to start a process to its answer "
	    "(started, or why not)") == 0)
		expo_histogram(m, NULL, stats_spawn_bounds, stats.spawn_bucket,
		    STATS_SPAWN_BUCKETS, stats.spawn_sum);
}

int
metrics_write(struct buf *out)
{
	struct procctl_metrics m;

	expo_begin(&m, out);
	write_server(&m);
	write_requests(&m);
	write_traffic(&m);
	plugin_run_metrics(&m);
	expo_end(&m);
	return out->failed ? -1 : 0;
}

static void
cmd_metrics(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	struct buf page = { 0 };
	size_t room = reply_room(ctx);

	(void)argc;
	(void)argv;
	if (metrics_write(&page) == -1)
		reply_error(ctx, "ERR", "out of memory for the metrics");
	else if (buf_avail(&page) + 16 > room)
		reply_error(ctx, "LIMIT", "the metrics are %zu bytes, more "
		    "than max_output lets this reply have; use [metrics] "
		    "listen", buf_avail(&page));
	else
		reply_verbatim(ctx, "txt", buf_head(&page), buf_avail(&page));
	buf_free(&page);
}

static const struct procctl_param no_params[] = {
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command metrics_command = {
	"metrics", cmd_metrics, 0, "metrics",
	"Counts of processes, programs, clients, requests and failures, "
	"in the Prometheus text format", PROCCTL_CMD_ADMIN, NULL, no_params,
	"daemon"
};

int
metrics_init(void)
{
	struct timespec ts;

	snprintf(abi, sizeof(abi), "%d.%d", PROCCTL_ABI_MAJOR,
	    PROCCTL_ABI_MINOR);
	clock_gettime(CLOCK_REALTIME, &ts);
	start_time = (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
	return command_add(&metrics_command, PROCCTL_ABI_MINOR, 0, NULL,
	    "core");
}
