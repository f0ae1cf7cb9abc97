/*
 * RESP3 (with RESP2 fallback): request parsing for the daemon, value
 * parsing for clients, and encoding for both.  See docs/protocol.md.
 */
#ifndef PROCCTL_RESP_H
#define PROCCTL_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "procctl/plugin.h"

#define RESP_MORE	0	/* incomplete: wait for more bytes */
#define RESP_OK		1	/* one request/value parsed */
#define RESP_BAD	(-1)	/* framing error: the stream cannot be resynced */

struct resp_limits {
	size_t	max_args;	/* words in one request */
	size_t	max_bulk;	/* bytes in one request (and one argument) */
	size_t	max_inline;	/* bytes in one inline line */
};

/* A parsed request.  argv points into the input buffer or into `scratch`;
 * valid until the next parse.  Owned by the connection, reused. */
struct resp_req {
	int			 argc;
	struct procctl_arg	*argv;
	size_t			 argv_cap;
	struct buf		 scratch;
	size_t			*offs;	/* inline token offsets in scratch */
	size_t			 offs_cap;
};

/*
 * Parse one request from P[0..N).  On RESP_OK, *used is the number of bytes
 * it took and r->argc/argv hold it (argc may be 0 for an empty line or
 * "*0": nothing to do).  On RESP_BAD, *err says why.  The buffer is
 * modified: arguments get a terminating NUL.
 */
int	resp_parse_request(struct resp_req *r, char *p, size_t n, size_t *used,
	    const struct resp_limits *lim, const char **err);
void	resp_req_free(struct resp_req *r);

/* Split an inline command line into words, as redis-cli and the shell do:
 * whitespace separates, "..." with \n \t \" \\ \xHH escapes, '...' literal.
 * Tokens are written NUL-separated into OUT, offsets into *OFFS.  Returns
 * the count, or -1 (unbalanced quotes) with *err set. */
int	resp_split_line(const char *line, size_t n, struct buf *out,
	    size_t **offs, size_t *offs_cap, size_t max_args, const char **err);

/* Shared by resp.c and respvalue.c.  The index of the "\r\n" that ends
 * the line at P, or -1 if not within N; a decimal integer filling exactly
 * P[0..N) (0, or -1). */
long	resp_find_crlf(const char *p, size_t n);
int	resp_parse_ll(const char *p, size_t n, long long *out);

/* ---- respvalue.c: values, as a client reads them ---- */

/* Parsed value, for clients. */
enum resp_type {
	RESP_T_SIMPLE = '+', RESP_T_ERROR = '-', RESP_T_INT = ':',
	RESP_T_DOUBLE = ',', RESP_T_BIGNUM = '(', RESP_T_BULK = '$',
	RESP_T_NULL = '_', RESP_T_BOOL = '#', RESP_T_ARRAY = '*',
	RESP_T_MAP = '%', RESP_T_SET = '~', RESP_T_PUSH = '>',
	RESP_T_VERBATIM = '=',
};

struct resp_value {
	int			 type;
	long long		 integer;	/* INT, BOOL */
	double			 dbl;		/* DOUBLE */
	char			*str;		/* SIMPLE ERROR DOUBLE BIGNUM BULK
						 * VERBATIM: owned, NUL-ended */
	size_t			 len;
	size_t			 n;		/* elements (maps: 2 * pairs) */
	struct resp_value	*elem;		/* owned */
};

/*
 * Parse one value (a reply or a push) from P[0..N), as a client does.
 * RESP_OK: *used bytes made OUT; RESP_MORE: wait for more; RESP_BAD: *err
 * says why, and the stream cannot be trusted further.  A value must be
 * well formed: numbers, doubles, big numbers and booleans as RESP3 writes
 * them, no CR or LF in a line, lengths within the bounds below, nesting
 * within RESP_VALUE_MAX_DEPTH, a push only at the top.
 */
#define RESP_VALUE_MAX_BULK	(512LL * 1024 * 1024)	/* one string */
#define RESP_VALUE_MAX_ELEMS	(1LL << 24)	/* values in one reply */
#define RESP_VALUE_MAX_DEPTH	32
int	resp_parse_value(const char *p, size_t n, size_t *used,
	    struct resp_value *out, const char **err);

/*
 * How far the bytes of the value being received have been looked at, so
 * that a reply arriving in many reads is looked at once, not once per
 * read (which made a 16 MiB reply take seconds).  Zero it before a value.
 */
struct resp_scan {
	size_t		 off;		/* bytes looked at: whole values */
	int		 depth;		/* aggregates open */
	long long	 left[RESP_VALUE_MAX_DEPTH + 2];	/* values each
						 * open aggregate still holds */
	long long	 values;	/* values begun */
};
/* Go on looking at P[0..N) (the same bytes as the last call, and more):
 * RESP_MORE, the value is not whole yet; RESP_OK, it is, or something in
 * it is malformed: resp_parse_value now gives it, or the error. */
int	resp_scan_value(struct resp_scan *s, const char *p, size_t n);
void	resp_value_free(struct resp_value *v);
/* Map lookup by key (maps, or RESP2 flat key/value arrays). */
const struct resp_value *resp_map_get(const struct resp_value *map,
	    const char *key);

/* Encoding.  PROTO is 2 or 3: RESP3-only types degrade as Redis does. */
int	resp_put_simple(struct buf *b, const char *s);
int	resp_put_error(struct buf *b, const char *code, const char *msg);
int	resp_put_int(struct buf *b, long long v);
int	resp_put_double(struct buf *b, int proto, double v);
int	resp_put_double_text(struct buf *b, int proto, const char *text);
int	resp_put_bignum(struct buf *b, int proto, const char *digits);
int	resp_put_bulk(struct buf *b, const void *p, size_t n);
/* RESP3: =N\r\nFMT:..., FMT three bytes ("txt"); RESP2: a bulk string. */
int	resp_put_verbatim(struct buf *b, int proto, const char *fmt,
	    const void *p, size_t n);
int	resp_put_null(struct buf *b, int proto);
int	resp_put_bool(struct buf *b, int proto, int v);
int	resp_put_array(struct buf *b, size_t n);
int	resp_put_map(struct buf *b, int proto, size_t n);
int	resp_put_push(struct buf *b, int proto, size_t n);
/* Any parsed value, encoded again for PROTO (RESP3 -> RESP2 downgrade). */
int	resp_put_value(struct buf *b, int proto, const struct resp_value *v);
/* A request: an array of bulk strings. */
int	resp_put_command(struct buf *b, int argc, const char *const *argv,
	    const size_t *lens);

#endif
