/* Growable byte buffer with a read offset, used for socket I/O and for
 * building replies.  One allocation-failure policy: a buffer that cannot
 * grow drops the bytes, sets `failed` and stays failed until reset; whoever
 * owns it checks the flag at a point where it can give up cleanly (a
 * connection is closed rather than sent a half-written reply). */
#ifndef PROCCTL_BUF_H
#define PROCCTL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;		/* owned; NULL until first use */
	size_t	 off;		/* bytes already consumed from the front */
	size_t	 len;		/* bytes used, including the consumed ones */
	size_t	 cap;
	int	 failed;	/* an append did not fit in memory */
};

/* Bytes not yet consumed. */
static inline size_t buf_avail(const struct buf *b) { return b->len - b->off; }
static inline char *buf_head(const struct buf *b) { return b->data + b->off; }

int	buf_reserve(struct buf *b, size_t extra);
int	buf_append(struct buf *b, const void *p, size_t n);
int	buf_puts(struct buf *b, const char *s);
int	buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void	buf_consume(struct buf *b, size_t n);
void	buf_reset(struct buf *b);
void	buf_free(struct buf *b);
/* Give back memory after a burst: drop the consumed prefix and shrink the
 * allocation when far more than needed is held. */
void	buf_compact(struct buf *b);
/* Empty and holding more than KEEP bytes: give the memory back. */
void	buf_shrink(struct buf *b, size_t keep);

#endif
