/*
 * Reply builders: the only way plugins and built-ins produce output.  Each
 * ctx owes exactly one value; aggregates add what they announce.  Values
 * past what is owed are dropped and a reply left short is padded, so a
 * buggy plugin can never desynchronise a client's stream.
 *
 * A reply is encoded once, for the protocol of the connection it goes to.
 * A push goes to connections of both protocols, so it is encoded twice as
 * it is built (RESP3 push frame and RESP2 array side by side), never
 * parsed back and re-encoded.  Deferred replies and pushes tell their
 * owner through callbacks (struct reply_sink, the delivery function):
 * nothing here knows what a session or a connection is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procctld.h"

static push_deliver_fn deliver;

/* Where a value goes: the ctx's own protocol, and for a push the RESP2
 * copy too. */
struct out {
	struct buf	*b;
	int		 proto;
};

/* Count one value against what CTX owes; the encodings to write it in
 * (0: drop it). */
static size_t
take(struct procctl_ctx *ctx, struct out o[2])
{
	size_t n = 0;

	if (ctx == NULL || (ctx->owner == NULL && ctx->kind != CTX_PUSH))
		return 0;
	if (ctx->expect <= 0) {
		log_error("command '%s': extra reply value dropped",
		    ctx->name ? ctx->name : "?");
		return 0;
	}
	ctx->expect--;
	ctx->started = 1;
	o[n].b = ctx->out;
	o[n++].proto = ctx->proto;
	if (ctx->out2 != NULL) {
		o[n].b = ctx->out2;
		o[n++].proto = 2;
	}
	return n;
}

void
reply_begin(struct procctl_ctx *ctx, struct buf *out, int proto,
    const struct procctl_caller *who, const struct reply_sink *sink,
    void *owner)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->out = out;
	ctx->proto = proto;
	ctx->kind = CTX_SYNC;
	ctx->expect = 1;
	ctx->caller = who;
	ctx->sink = sink;
	ctx->owner = owner;
}

void
reply_simple(struct procctl_ctx *ctx, const char *s)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_simple(o[i].b, s);
}

void
reply_verror(struct procctl_ctx *ctx, const char *code, const char *fmt,
    va_list ap)
{
	struct out o[2];
	char msg[1024];
	size_t i, n = take(ctx, o);

	if (n == 0)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (i = 0; i < n; i++)
		resp_put_error(o[i].b, code, msg);
}

void
reply_error(struct procctl_ctx *ctx, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_verror(ctx, code, fmt, ap);
	va_end(ap);
}

void
reply_int(struct procctl_ctx *ctx, long long v)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_int(o[i].b, v);
}

void
reply_double(struct procctl_ctx *ctx, double v)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_double(o[i].b, o[i].proto, v);
}

void
reply_double_text(struct procctl_ctx *ctx, const char *text)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_double_text(o[i].b, o[i].proto, text);
}

void
reply_bignum(struct procctl_ctx *ctx, const char *digits)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_bignum(o[i].b, o[i].proto, digits);
}

void
reply_bulk(struct procctl_ctx *ctx, const void *p, size_t len)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_bulk(o[i].b, p, len);
}

void
reply_verbatim(struct procctl_ctx *ctx, const char *fmt, const void *p,
    size_t len)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_verbatim(o[i].b, o[i].proto, fmt, p, len);
}

void
reply_str(struct procctl_ctx *ctx, const char *s)
{
	reply_bulk(ctx, s, strlen(s));
}

void
reply_null(struct procctl_ctx *ctx)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_null(o[i].b, o[i].proto);
}

void
reply_bool(struct procctl_ctx *ctx, int v)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_bool(o[i].b, o[i].proto, v);
}

void
reply_array(struct procctl_ctx *ctx, size_t len)
{
	int frame = ctx != NULL && ctx->kind == CTX_PUSH && !ctx->started;
	struct out o[2];
	size_t i, n = take(ctx, o);

	/* A push's outer array is the push frame itself (RESP2 has no push
	 * type: there it is a plain array). */
	for (i = 0; i < n; i++) {
		if (frame)
			resp_put_push(o[i].b, o[i].proto, len);
		else
			resp_put_array(o[i].b, len);
	}
	if (frame && n > 0)
		ctx->framed = 1;
	if (n > 0)
		ctx->expect += (long)len;
}

void
reply_map(struct procctl_ctx *ctx, size_t len)
{
	struct out o[2];
	size_t i, n = take(ctx, o);

	for (i = 0; i < n; i++)
		resp_put_map(o[i].b, o[i].proto, len);
	if (n > 0)
		ctx->expect += 2 * (long)len;
}

void
reply_complete(struct procctl_ctx *ctx)
{
	const char *name = ctx->name ? ctx->name : "?";

	if (ctx->expect <= 0 || (ctx->owner == NULL && ctx->kind != CTX_PUSH))
		return;
	if (!ctx->started) {
		log_error("command '%s' returned without a reply", name);
		reply_error(ctx, "ERR", "command '%s' produced no reply", name);
		return;
	}
	log_error("command '%s' left its reply %ld value(s) short", name,
	    ctx->expect);
	while (ctx->expect > 0)
		reply_null(ctx);
}

/* A synchronous reply shares its connection's output with what the
 * client has not read yet; a deferred one is counted alone (what comes
 * before it is not known until it is finished). */
size_t
reply_room(struct procctl_ctx *ctx)
{
	size_t used;

	if (ctx == NULL || ctx->max_out == 0 || ctx->kind == CTX_PUSH)
		return (size_t)-1;
	used = buf_avail(ctx->out);
	return used < ctx->max_out ? ctx->max_out - used : 0;
}

/* ---- deferred replies ---- */

struct procctl_ctx *
reply_defer(struct procctl_ctx *ctx)
{
	struct procctl_ctx *d;

	if (ctx == NULL || ctx->kind != CTX_SYNC || ctx->owner == NULL ||
	    ctx->started || ctx->expect != 1 || ctx->sink == NULL) {
		log_error("defer() called outside a fresh command reply");
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->out = &d->own;
	d->proto = ctx->proto;
	d->kind = CTX_DEFERRED;
	d->expect = 1;
	d->name = ctx->name;
	d->caller = ctx->caller;
	d->sink = ctx->sink;
	d->owner = ctx->owner;
	d->max_out = ctx->max_out;
	ctx->expect = 0;	/* the sync ctx owes nothing now */
	ctx->sink->deferred(ctx->owner, d);
	return d;
}

void
reply_orphan(struct procctl_ctx *d)
{
	d->owner = NULL;
	d->caller = NULL;
}

void
reply_finish(struct procctl_ctx *d)
{
	if (d == NULL)
		return;
	if (d->owner != NULL) {
		reply_complete(d);
		d->sink->finished(d->owner, d);
	}
	buf_free(&d->own);
	free(d);
}

/* ---- pushes ---- */

void
push_set_deliver(push_deliver_fn fn)
{
	deliver = fn;
}

struct procctl_ctx *
push_begin(uid_t uid, uint64_t conn)
{
	struct procctl_ctx *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->out = &p->own;
	p->out2 = &p->own2;
	p->proto = 3;
	p->kind = CTX_PUSH;
	p->expect = 1;
	p->name = "push";
	p->push_uid = uid;
	p->push_conn = conn;
	return p;
}

const struct buf *
push_frame(const struct procctl_ctx *p, int proto)
{
	return proto >= 3 ? &p->own : &p->own2;
}

void
push_free(struct procctl_ctx *p)
{
	buf_free(&p->own);
	buf_free(&p->own2);
	free(p);
}

void
push_end(struct procctl_ctx *p)
{
	if (p == NULL)
		return;
	/* A push is an array: anything else, or nothing, would land in a
	 * subscriber's stream as if it were replies. */
	if (!p->framed) {
		log_error("a push that is not an array was dropped");
		push_free(p);
		return;
	}
	reply_complete(p);
	/* A frame that did not fit in memory is not sent half-built. */
	if (!p->own.failed && !p->own2.failed && deliver != NULL)
		deliver(p);
	push_free(p);
}
