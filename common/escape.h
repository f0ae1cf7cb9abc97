/* escape.c: bytes as a log line, or a person's screen, shows them. */
#ifndef PROCCTL_ESCAPE_H
#define PROCCTL_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/* S (LEN bytes) as a log line shows it, into OUT (SIZE bytes, at least
 * 1): control bytes (below 0x20, DEL), bytes that are not part of valid
 * UTF-8, the UTF-8 of C1 controls (U+0080-U+009F), of the line and
 * paragraph separators and of the bidirectional overrides, each byte as
 * \xNN; a backslash as \\.  Stops at a whole escape when OUT is full;
 * always NUL-terminated.  The bytes written, without the NUL. */
size_t	escape_log(char *out, size_t size, const char *s, size_t len);
/* The same for a person's screen (procctl): a backslash as it is. */
size_t	escape_display(char *out, size_t size, const char *s, size_t len);
/* The same as escape_display for text of several lines: newline and
 * tab as they are. */
size_t	escape_lines(char *out, size_t size, const char *s, size_t len);
/* Would escape_display change S?  Nonzero if so. */
int	escape_needed(const char *s, size_t len);
/* The length of the valid UTF-8 sequence at S (N bytes there; ASCII is
 * 1), with *CP its code point; 0 if S does not start one. */
size_t	escape_utf8(const char *s, size_t n, uint32_t *cp);
/* A code point that is valid but shown escaped: C0, DEL, C1, the line
 * and paragraph separators, the bidirectional marks and overrides. */
int	escape_hidden(uint32_t cp);

#endif
