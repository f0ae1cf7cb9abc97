/*
 * libFuzzer harness for the protocol parser (common/resp.c): requests as
 * the daemon parses them, replies as the client does, and re-encoding of
 * every value that parses.  `make fuzz` builds and runs it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
