/*
 * libFuzzer harness for the configuration loader (daemon/config.c, with
 * inih reading lines through it): the bytes are a configuration's text,
 * the -c file up to the first NUL byte, then each part after a NUL a
 * drop-in file, as confread.c hands them over from disk (no file is
 * opened here).  Every part is parsed, the whole checked, then freed.
 * Its log lines go to stderr: `make fuzz` runs it with stderr closed
 * (-close_fd_mask=2), the crash reports still shown.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procctld.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_FILES	4

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Every line formatted: a bad format argument shows. */
	log_init(LOG_DEBUG);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[MAX_FILES] = { "/etc/procctl/fuzz.ini",
	    "/etc/procctl/conf.d/a.ini", "/etc/procctl/conf.d/b.ini",
	    "/etc/procctl/conf.d/c.ini" };
	struct config_text t = { NULL, 0 };
	struct config c;
	const char *p = (const char *)data, *nul;
	size_t len;

	while (t.n < MAX_FILES) {
		nul = memchr(p, '\0', size);
		len = nul != NULL ? (size_t)(nul - p) : size;
		if (confread_text_add(&t, names[t.n], p, len) == -1)
			break;
		if (nul == NULL)
			break;
		size -= len + 1;
		p += len + 1;
	}
	config_defaults(&c);
	(void)config_load_text(&c, &t, 0);
	config_free(&c);
	confread_text_free(&t);
	return 0;
}
