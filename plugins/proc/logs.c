/*
 * `logs NAME|PID [-n N] [--stdout | --stderr] [--since TIME] [-f]`:
 * what a process wrote,
 * from the ring procctld keeps of its output (PROCCTL_SPAWN_CAPTURE):
 * its last lines, each with the time it was read and its stream.  A
 * name is the newest process of that name (a program's current or last
 * run).  Users read their own processes' output, admins everyone's, as
 * for everything else.  With -f each new line then goes to the asking
 * connection, until it sends UNFOLLOW or closes.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "proc.h"

#define LOGS_DEFAULT	100
#define LOGS_MAX	100000
#define REPLY_MAX	(4 * 1024 * 1024)	/* bytes of lines in a reply */

/* A connection following a process's output (`logs -f`). */
struct follow {
	uint64_t	 conn_id;
	uint64_t	 fid;		/* the host's */
	pid_t		 pid;
	struct follow	*next;
};
static struct follow *follows;

/* The lines, gathered for a reply whose size must be known first. */
struct gathered {
	struct procctl_line	*v;
	char			**text;
	size_t			 n, cap;
	int64_t			 since;	/* older lines are not wanted */
	int			 failed;
};

static void
gather(const struct procctl_line *l, void *arg)
{
	struct gathered *g = arg;
	struct procctl_line *grown;
	char **tgrown;

	if (g->failed || l->time_ms < g->since)
		return;
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 64;
		if ((grown = realloc(g->v, g->cap * sizeof(*grown))) == NULL ||
		    (g->v = grown, (tgrown = realloc(g->text, g->cap *
		    sizeof(*tgrown))) == NULL)) {
			g->failed = 1;
			return;
		}
		g->text = tgrown;
	}
	if ((g->text[g->n] = malloc(l->len ? l->len : 1)) == NULL) {
		g->failed = 1;
		return;
	}
	memcpy(g->text[g->n], l->text, l->len);
	g->v[g->n] = *l;
	g->v[g->n].text = g->text[g->n];
	g->n++;
}

static void
gathered_free(struct gathered *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		free(g->text[i]);
	free(g->text);
	free(g->v);
}

/* The record WORD names for WHO: a pid, or the newest of that name. */
static struct proc *
named(const struct procctl_caller *who, const struct procctl_arg *word)
{
	struct proc *p;
	char *end;
	long pid = strtol(word->ptr, &end, 10);

	for (p = procs; p != NULL; p = p->next) {
		if (!proc_visible(who, p))
			continue;
		if (*end == '\0' && word->ptr[0] >= '1' && word->ptr[0] <= '9' &&
		    pid > 0 && pid <= INT_MAX && p->pid == (pid_t)pid)
			return p;
		if (p->name_len == word->len &&
		    memcmp(p->name, word->ptr, word->len) == 0)
			return p;
	}
	return NULL;
}

/* --since: a time as `logs` shows them (rfc3339_parse), or how long ago
 * (90s, 10m, 2h, 1d; a leading '-' allowed): milliseconds since the
 * epoch, or -1. */
static int64_t
parse_since(const char *s, int64_t now)
{
	static const struct { char c; int64_t ms; } units[] = {
		{ 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 },
		{ 'd', 86400000 } };
	const char *d = s[0] == '-' ? s + 1 : s;
	char *end;
	long long v;
	size_t i;

	if (strlen(d) >= 10 && d[4] == '-')
		return rfc3339_parse(d);
	if (!isdigit((unsigned char)d[0]) ||
	    (v = strtoll(d, &end, 10)) < 0 || v > 3650LL * 86400)
		return -1;
	if (*end == '\0')
		return now - v * 1000;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (end[0] == units[i].c && end[1] == '\0')
			return now - v * units[i].ms;
	return -1;
}

/* RFC 3339, UTC, with milliseconds. */
static void
reply_ms(struct procctl_ctx *ctx, int64_t ms)
{
	char tmp[48];

	rfc3339_ms(tmp, sizeof(tmp), ms);
	H->reply_str(ctx, tmp);
}

/* A new line for a follower: a following command's push to its
 * connection (["follow", "log", ...]: docs/protocol.md) that says itself
 * in one line, "<time>  <stream>  <line>" (the columns of the reply's
 * table), and its parts. */
static void
on_line(const struct procctl_line *l, void *arg)
{
	struct follow *f = arg;
	struct procctl_ctx *ev;
	char *text;
	size_t n;

	if ((ev = H->push_begin_conn(proc_self, f->conn_id)) == NULL)
		return;
	n = 40 + l->len;
	if ((text = malloc(n)) != NULL) {
		size_t k = rfc3339_ms(text, n, l->time_ms);

		k += (size_t)snprintf(text + k, n - k, "  %s  ", l->stream ==
		    1 ? "stdout" : "stderr");
		memcpy(text + k, l->text, l->len);
		n = k + l->len;
	}
	H->reply_array(ev, 3);
	H->reply_str(ev, "follow");
	H->reply_str(ev, "log");
	H->reply_map(ev, 5);
	H->reply_str(ev, "pid");
	H->reply_int(ev, f->pid);
	H->reply_str(ev, "time");
	reply_ms(ev, l->time_ms);
	H->reply_str(ev, "stream");
	H->reply_str(ev, l->stream == 1 ? "stdout" : "stderr");
	H->reply_str(ev, "line");
	H->reply_bulk(ev, l->text, l->len);
	H->reply_str(ev, "text");
	if (text != NULL)
		H->reply_bulk(ev, text, n);
	else
		H->reply_bulk(ev, l->text, l->len);
	H->push_end(ev);
	free(text);
}

/* -f: the connection follows P's STREAMS, in pushes to it after the
 * reply (a client knows to wait for them from the option's name,
 * `follow`: docs/protocol.md).  0, or -1 with the reply made. */
static int
follow(struct procctl_ctx *ctx, const struct procctl_caller *who,
    const struct proc *p, unsigned streams)
{
	struct follow *f;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		H->reply_error(ctx, "ERR", "out of memory");
		return -1;
	}
	f->conn_id = who->conn_id;
	f->pid = p->pid;
	if ((f->fid = H->output_follow(proc_self, p->handle, streams, on_line,
	    f)) == 0) {
		free(f);
		H->reply_error(ctx, "ERR", "process %d's output is not "
		    "captured (output = ring)", (int)p->pid);
		return -1;
	}
	f->next = follows;
	follows = f;
	return 0;
}

/* The connection stops following (UNFOLLOW), or is gone. */
void
logs_unfollow(uint64_t conn_id)
{
	struct follow **fp = &follows, *f;

	while ((f = *fp) != NULL) {
		if (f->conn_id == conn_id) {
			*fp = f->next;
			H->output_unfollow(proc_self, f->fid);
			free(f);
		} else
			fp = &f->next;
	}
}

void
logs_fini(void)
{
	struct follow *f;

	while ((f = follows) != NULL) {
		follows = f->next;
		H->output_unfollow(proc_self, f->fid);
		free(f);
	}
}

void
proc_cmd_logs(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = H->caller(ctx);
	const char *nopt = H->option(ctx, "lines");
	const char *since = H->option(ctx, "since");
	unsigned streams = 3;
	struct gathered g;
	struct proc *p;
	size_t i, first, total;
	long n = LOGS_DEFAULT;
	char *end;

	(void)argc;
	if (nopt != NULL && ((n = strtol(nopt, &end, 10)) < 1 || *end != '\0' ||
	    n > LOGS_MAX)) {
		H->reply_error(ctx, "ARGS", "-n %.32s: expected a count from 1 "
		    "to %d", nopt, LOGS_MAX);
		return;
	}
	memset(&g, 0, sizeof(g));
	if (since != NULL) {
		if ((g.since = parse_since(since, clock_ms(CLOCK_REALTIME))) == -1) {
			H->reply_error(ctx, "ARGS", "--since %.40s: expected a "
			    "time (2026-11-26T10:00:00Z, 2026-11-26) or how long "
			    "ago (90s, 10m, 2h, 1d)", since);
			return;
		}
		if (nopt == NULL)	/* every line since then */
			n = LOGS_MAX;
	}
	if (H->option(ctx, "stdout") != NULL)
		streams = 1;
	if (H->option(ctx, "stderr") != NULL)
		streams = streams == 1 ? 3 : 2;
	if ((p = named(who, &argv[1])) == NULL || p->pid == 0) {
		H->reply_error(ctx, "NOPROC", "no process %.*s of yours",
		    (int)(argv[1].len < 64 ? argv[1].len : 64), argv[1].ptr);
		return;
	}
	if (H->option(ctx, "follow") != NULL && follow(ctx, who, p,
	    streams) == -1)
		return;
	(void)H->output_tail(proc_self, p->handle, (size_t)n, streams, gather,
	    &g);
	if (g.failed) {
		gathered_free(&g);
		H->reply_error(ctx, "ERR", "out of memory");
		return;
	}
	/* The newest that fit in REPLY_MAX: a reply stays well within
	 * what a connection may hold (max_output). */
	for (i = g.n, total = 0; i > 0; i--) {
		total += g.v[i - 1].len + 64;
		if (total > REPLY_MAX)
			break;
	}
	first = i;
	H->reply_array(ctx, g.n - first);
	for (i = first; i < g.n; i++) {
		H->reply_map(ctx, 3);
		H->reply_str(ctx, "time");
		reply_ms(ctx, g.v[i].time_ms);
		H->reply_str(ctx, "stream");
		H->reply_str(ctx, g.v[i].stream == 1 ? "stdout" : "stderr");
		H->reply_str(ctx, "line");
		H->reply_bulk(ctx, g.v[i].text, g.v[i].len);
	}
	gathered_free(&g);
}
