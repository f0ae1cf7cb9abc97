/*
 * libFuzzer harness for the protocol parser (common/resp.c, respvalue.c):
 * requests as the daemon parses them, replies as the client does, and
 * re-encoding of every value that parses.  The client's scan, which says
 * when a value being received is whole, must agree with the parser on
 * every prefix it is given (it says "more" exactly when the parser
 * would).  `make fuzz` builds and runs it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first value of P[0..N) received STEP bytes at a time. */
static void
scan_agrees(const char *p, size_t n, size_t step)
{
	struct resp_scan sc;
	struct resp_value v;
	const char *err;
	size_t k, used;
	int rs, rp;

	memset(&sc, 0, sizeof(sc));
	for (k = step < n ? step : n; k <= n; k += step) {
		rs = resp_scan_value(&sc, p, k);
		rp = resp_parse_value(p, k, &used, &v, &err);
		if (rp == RESP_OK)
			resp_value_free(&v);
		if ((rs == RESP_MORE) != (rp == RESP_MORE))
			abort();
		if (rs != RESP_MORE || k == n)
			return;
		if (k + step > n)
			k = n - step;	/* the whole of it, last */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct resp_limits lim = { 64, 4096, 1024 };
	struct resp_req req = { 0 };
	struct resp_value v;
	struct buf out = { 0 };
	const char *err;
	char *copy;
	size_t off = 0, used;
	int rc, i;

	/* Requests: parse as the daemon does, one after another. */
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	while (off < size) {
		rc = resp_parse_request(&req, copy + off, size - off, &used,
		    &lim, &err);
		if (rc != RESP_OK)
			break;
		for (i = 0; i < req.argc; i++)
			if (req.argv[i].ptr[req.argv[i].len] != '\0')
				abort();	/* every argument is terminated */
		if (used == 0)
			abort();		/* progress, always */
		off += used;
	}
	resp_req_free(&req);
	free(copy);

	/* Received in pieces: byte by byte when that is cheap. */
	scan_agrees((const char *)data, size, size <= 512 ? 1 : 61);
	scan_agrees((const char *)data, size, 4096);

	/* Replies: parse as the client does, and encode back. */
	off = 0;
	while (off < size) {
		rc = resp_parse_value((const char *)data + off, size - off,
		    &used, &v, &err);
		if (rc != RESP_OK)
			break;
		buf_reset(&out);
		resp_put_value(&out, 2, &v);
		resp_put_value(&out, 3, &v);
		resp_value_free(&v);
		off += used;
	}
	buf_free(&out);
	return 0;
}
