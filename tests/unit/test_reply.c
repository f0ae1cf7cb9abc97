/* Reply counting: exactly one value per request whatever the handler
 * does, deferred replies through the owner's callbacks, and pushes
 * encoded once per protocol as they are built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "procctld.h"

static struct buf finished;
static int deferred_calls, finished_calls;
static struct procctl_ctx *last_deferred;

static void
on_deferred(void *owner, struct procctl_ctx *d)
{
	(void)owner;
	deferred_calls++;
	last_deferred = d;
}

static void
on_finished(void *owner, struct procctl_ctx *d)
{
	(void)owner;
	finished_calls++;
	buf_append(&finished, buf_head(&d->own), buf_avail(&d->own));
}

static const struct reply_sink sink = { on_deferred, on_finished };
static const struct procctl_caller who = { 7, 1000, 1000, 42, "alice", 0,
    0, 0 };

static int
out_is(const struct buf *b, const char *want)
{
	return buf_avail(b) == strlen(want) &&
	    memcmp(buf_head(b), want, strlen(want)) == 0;
}

static void
show(const char *what, const struct buf *b)
{
	fprintf(stderr, "%s: %.*s\n", what, (int)buf_avail(b), buf_head(b));
}

static struct buf pushed3, pushed2;
static int pushes;

static void
deliver(const struct procctl_ctx *p)
{
	pushes++;
	buf_append(&pushed3, buf_head(push_frame(p, 3)),
	    buf_avail(push_frame(p, 3)));
	buf_append(&pushed2, buf_head(push_frame(p, 2)),
	    buf_avail(push_frame(p, 2)));
}

static void
test_sync(void)
{
	struct procctl_ctx ctx;
	struct buf out = { 0 };
	int owner;

	/* One value; a second is dropped. */
	reply_begin(&ctx, &out, 3, &who, &sink, &owner);
	ctx.name = "two";
	reply_int(&ctx, 1);
	reply_int(&ctx, 2);
	reply_complete(&ctx);
	CHECK(out_is(&out, ":1\r\n"), "extra value dropped");
	buf_reset(&out);

	/* An aggregate left short is padded with nulls. */
	reply_begin(&ctx, &out, 3, &who, &sink, &owner);
	reply_array(&ctx, 3);
	reply_int(&ctx, 1);
	reply_complete(&ctx);
	CHECK(out_is(&out, "*3\r\n:1\r\n_\r\n_\r\n"), "short array padded");
	buf_reset(&out);
	reply_begin(&ctx, &out, 2, &who, &sink, &owner);
	reply_map(&ctx, 2);
	reply_str(&ctx, "k");
	reply_complete(&ctx);
	CHECK(out_is(&out, "*4\r\n$1\r\nk\r\n$-1\r\n$-1\r\n$-1\r\n"),
	    "RESP2 map flattened and padded");
	if (!out_is(&out, "*4\r\n$1\r\nk\r\n$-1\r\n$-1\r\n$-1\r\n"))
		show("map", &out);
	buf_reset(&out);

	/* No reply at all: an error in its place. */
	reply_begin(&ctx, &out, 3, &who, &sink, &owner);
	ctx.name = "silent";
	reply_complete(&ctx);
	CHECK(out_is(&out, "-ERR command 'silent' produced no reply\r\n"),
	    "missing reply");
	buf_reset(&out);

	/* Nested aggregates count their elements. */
	reply_begin(&ctx, &out, 3, &who, &sink, &owner);
	reply_array(&ctx, 2);
	reply_map(&ctx, 1);
	reply_str(&ctx, "a");
	reply_bool(&ctx, 1);
	reply_null(&ctx);
	reply_int(&ctx, 9);	/* past the end */
	reply_complete(&ctx);
	CHECK(out_is(&out, "*2\r\n%1\r\n$1\r\na\r\n#t\r\n_\r\n"), "nested");
	buf_free(&out);
}

static void
test_deferred(void)
{
	struct procctl_ctx ctx, *d;
	struct buf out = { 0 };
	int owner;

	reply_begin(&ctx, &out, 3, &who, &sink, &owner);
	d = reply_defer(&ctx);
	CHECK(d != NULL && deferred_calls == 1 && last_deferred == d,
	    "defer tells the owner");
	reply_complete(&ctx);	/* the sync ctx owes nothing now */
	CHECK(buf_avail(&out) == 0, "sync ctx wrote after defer");
	CHECK(reply_defer(&ctx) == NULL, "second defer refused");
	reply_simple(d, "done");
	reply_finish(d);
	CHECK(finished_calls == 1 && out_is(&finished, "+done\r\n"),
	    "finished bytes handed over");
	buf_reset(&finished);

	/* Finished without a value: padded before it is handed over. */
	reply_begin(&ctx, &out, 3, &who, &sink, &owner);
	d = reply_defer(&ctx);
	reply_finish(d);
	CHECK(finished_calls == 2 && strncmp(buf_head(&finished), "-ERR ", 5)
	    == 0, "empty deferred reply");
	buf_reset(&finished);

	/* The owner went away: values are dropped, finish only frees. */
	reply_begin(&ctx, &out, 3, &who, &sink, &owner);
	d = reply_defer(&ctx);
	reply_orphan(d);
	reply_simple(d, "late");
	reply_finish(d);
	CHECK(finished_calls == 2, "orphan finished to nobody");

	/* Defer after a value was built: refused. */
	reply_begin(&ctx, &out, 3, &who, &sink, &owner);
	reply_array(&ctx, 1);
	CHECK(reply_defer(&ctx) == NULL, "defer after a value");
	buf_free(&out);
	buf_free(&finished);
}

static void
test_push(void)
{
	struct procctl_ctx *p;

	push_set_deliver(deliver);
	p = push_begin(1000, 0);
	reply_array(p, 3);
	reply_str(p, "event");
	reply_str(p, "started");
	reply_map(p, 1);
	reply_str(p, "pid");
	reply_int(p, 42);
	push_end(p);
	CHECK(pushes == 1, "delivered once");
	CHECK(out_is(&pushed3, ">3\r\n$5\r\nevent\r\n$7\r\nstarted\r\n%1\r\n"
	    "$3\r\npid\r\n:42\r\n"), "RESP3 push frame");
	CHECK(out_is(&pushed2, "*3\r\n$5\r\nevent\r\n$7\r\nstarted\r\n*2\r\n"
	    "$3\r\npid\r\n:42\r\n"), "RESP2 array");

	/* A frame that ran out of memory is never sent. */
	p = push_begin(1000, 0);
	reply_array(p, 1);
	p->own2.failed = 1;
	push_end(p);
	CHECK(pushes == 1, "failed frame delivered");

	/* A push that is not an array (or is nothing) is never sent: it
	 * would read as replies to a subscriber. */
	p = push_begin(1000, 0);
	reply_str(p, "oops");
	push_end(p);
	p = push_begin(1000, 0);
	push_end(p);
	CHECK(pushes == 1, "unframed push delivered");

	/* Freed without delivery. */
	p = push_begin(1000, 5);
	reply_int(p, 1);
	push_free(p);
	CHECK(pushes == 1, "push_free delivered");
	buf_free(&pushed3);
	buf_free(&pushed2);
}

int
main(void)
{
	log_init(-1);	/* the plugin-bug messages are expected here */
	test_sync();
	test_deferred();
	test_push();
	return check_report("test_reply");
}
