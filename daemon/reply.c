/*
 * Reply builders: the only way plugins and built-ins produce output.  Each
 * ctx owes exactly one value; aggregates add what they announce.  Values
 * past what is owed are dropped and a reply left short is padded, so a
 * buggy plugin can never desynchronise a client's stream.
 */
#include <stdio.h>
#include <string.h>

#include "procctld.h"

static int
take(struct procctl_ctx *ctx)
{
	if (ctx == NULL || (ctx->conn == NULL && ctx->kind != CTX_PUSH))
		return 0;
	if (ctx->expect <= 0) {
		log_error("command '%s': extra reply value dropped",
		    ctx->cmd ? ctx->cmd->name : "?");
		return 0;
	}
	ctx->expect--;
	ctx->started = 1;
	return 1;
}

void
reply_simple(struct procctl_ctx *ctx, const char *s)
{
	if (take(ctx))
		resp_put_simple(ctx->out, s);
}

void
reply_verror(struct procctl_ctx *ctx, const char *code, const char *fmt,
    va_list ap)
{
	char msg[1024];

	if (!take(ctx))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	resp_put_error(ctx->out, code, msg);
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
	if (take(ctx))
		resp_put_int(ctx->out, v);
}

void
reply_double(struct procctl_ctx *ctx, double v)
{
	if (take(ctx))
		resp_put_double(ctx->out, ctx->proto, v);
}

void
reply_double_text(struct procctl_ctx *ctx, const char *text)
{
	if (take(ctx))
		resp_put_double_text(ctx->out, ctx->proto, text);
}

void
reply_bignum(struct procctl_ctx *ctx, const char *digits)
{
	if (take(ctx))
		resp_put_bignum(ctx->out, ctx->proto, digits);
}

void
reply_bulk(struct procctl_ctx *ctx, const void *p, size_t len)
{
	if (take(ctx))
		resp_put_bulk(ctx->out, p, len);
}

void
reply_str(struct procctl_ctx *ctx, const char *s)
{
	reply_bulk(ctx, s, strlen(s));
}

void
reply_null(struct procctl_ctx *ctx)
{
	if (take(ctx))
		resp_put_null(ctx->out, ctx->proto);
}

void
reply_bool(struct procctl_ctx *ctx, int v)
{
	if (take(ctx))
		resp_put_bool(ctx->out, ctx->proto, v);
}

void
reply_array(struct procctl_ctx *ctx, size_t n)
{
	int first = ctx != NULL && !ctx->started;

	if (!take(ctx))
		return;
	/* A push's outer array is the push frame itself. */
	if (ctx->kind == CTX_PUSH && first)
		resp_put_push(ctx->out, ctx->proto, n);
	else
		resp_put_array(ctx->out, n);
	ctx->expect += (long)n;
}

void
reply_map(struct procctl_ctx *ctx, size_t n)
{
	if (!take(ctx))
		return;
	resp_put_map(ctx->out, ctx->proto, n);
	ctx->expect += 2 * (long)n;
}

void
reply_complete(struct procctl_ctx *ctx)
{
	const char *name = ctx->cmd ? ctx->cmd->name : "?";

	if (ctx->expect <= 0 || (ctx->conn == NULL && ctx->kind != CTX_PUSH))
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
