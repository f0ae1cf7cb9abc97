/* escape.c: bytes as a log line shows them. */
#ifndef PROCCTL_ESCAPE_H
#define PROCCTL_ESCAPE_H

#include <stddef.h>

/* S (LEN bytes) as a log line shows it, into OUT (SIZE bytes, at least
 * 1): control bytes (below 0x20, DEL), bytes that are not part of valid
 * UTF-8, the UTF-8 of C1 controls (U+0080-U+009F), of the line and
 * paragraph separators and of the bidirectional overrides, each byte as
 * \xNN; a backslash as \\.  Stops at a whole escape when OUT is full;
 * always NUL-terminated.  The bytes written, without the NUL. */
size_t	escape_log(char *out, size_t size, const char *s, size_t len);
/* The same for a person's screen (procctl): a backslash as it is. */
size_t	escape_display(char *out, size_t size, const char *s, size_t len);

#endif
