/*
 * The event loop: epoll for fds, a binary heap of timers, deferred freeing
 * of watchers so callbacks may remove any watcher at any time, and a
 * before-sleep hook (as Redis's ae) where the connection layer writes
 * replies and runs buffered requests; when that hook says work is waiting,
 * the next wait only polls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "procctld.h"

struct watch {
	int		 fd;
	unsigned	 events;
	loop_fd_fn	 fn;
	void		*arg;
	int		 dead;
	struct watch	*next_dead;
};

struct timer {
	uint64_t	 id;
	uint64_t	 when;
	loop_timer_fn	 fn;
	void		*arg;
};

static int epfd = -1;
static int running;
static struct watch *dead_list;
static struct timer *heap;	/* min-heap on `when`, then `id` */
static size_t heap_len, heap_cap;
static uint64_t next_timer_id = 1;
static loop_sleep_fn before_sleep;

uint64_t
loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
loop_init(void)
{
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_error("epoll_create1: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void
free_dead(void)
{
	struct watch *w;

	while ((w = dead_list) != NULL) {
		dead_list = w->next_dead;
		free(w);
	}
}

void
loop_free(void)
{
	free_dead();
	free(heap);
	heap = NULL;
	heap_len = heap_cap = 0;
	if (epfd != -1)
		close(epfd);
	epfd = -1;
}

static uint32_t
to_epoll(unsigned ev)
{
	uint32_t e = 0;

	if (ev & LOOP_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (ev & LOOP_WRITE)
		e |= EPOLLOUT;
	return e;
}

struct watch *
loop_watch(int fd, unsigned events, loop_fd_fn fn, void *arg)
{
	struct epoll_event ev;
	struct watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->arg = arg;
	memset(&ev, 0, sizeof(ev));
	ev.events = to_epoll(events);
	ev.data.ptr = w;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("epoll_ctl add fd %d: %s", fd, strerror(errno));
		free(w);
		return NULL;
	}
	return w;
}

int
loop_modify(struct watch *w, unsigned events)
{
	struct epoll_event ev;

	if (w->events == events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = to_epoll(events);
	ev.data.ptr = w;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) == -1) {
		log_error("epoll_ctl mod fd %d: %s", w->fd, strerror(errno));
		return -1;
	}
	w->events = events;
	return 0;
}

void
loop_unwatch(struct watch *w)
{
	if (w == NULL || w->dead)
		return;
	/* The fd may already be closed by its owner: ignore the error. */
	epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = 1;
	w->next_dead = dead_list;
	dead_list = w;
}

static int
timer_less(const struct timer *a, const struct timer *b)
{
	return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void
heap_swap(size_t i, size_t j)
{
	struct timer t = heap[i];

	heap[i] = heap[j];
	heap[j] = t;
}

static void
heap_up(size_t i)
{
	while (i > 0 && timer_less(&heap[i], &heap[(i - 1) / 2])) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	size_t l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < heap_len && timer_less(&heap[l], &heap[m]))
			m = l;
		if (r < heap_len && timer_less(&heap[r], &heap[m]))
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static void
heap_remove(size_t i)
{
	heap[i] = heap[--heap_len];
	if (i < heap_len) {
		heap_up(i);
		heap_down(i);
	}
}

uint64_t
loop_timer_add(uint64_t ms, loop_timer_fn fn, void *arg)
{
	struct timer *h;
	size_t cap;

	if (heap_len == heap_cap) {
		cap = heap_cap ? heap_cap * 2 : 16;
		if ((h = realloc(heap, cap * sizeof(*h))) == NULL)
			return 0;
		heap = h;
		heap_cap = cap;
	}
	heap[heap_len].id = next_timer_id++;
	heap[heap_len].when = loop_now_ms() + ms;
	heap[heap_len].fn = fn;
	heap[heap_len].arg = arg;
	heap_up(heap_len++);
	return next_timer_id - 1;
}

void
loop_timer_cancel(uint64_t id)
{
	size_t i;

	/* Cancelling is rarer than firing, and pending timers are few
	 * next to the events they wait for: a scan is enough. */
	for (i = 0; i < heap_len; i++)
		if (heap[i].id == id) {
			heap_remove(i);
			return;
		}
}

void
loop_set_before_sleep(loop_sleep_fn fn)
{
	before_sleep = fn;
}

static void
run_timers(void)
{
	struct timer t;
	uint64_t now = loop_now_ms();

	while (heap_len > 0 && heap[0].when <= now) {
		t = heap[0];
		heap_remove(0);
		t.fn(t.arg);
	}
}

static int
next_timeout(void)
{
	uint64_t now, d;

	if (heap_len == 0)
		return -1;
	now = loop_now_ms();
	if (heap[0].when <= now)
		return 0;
	d = heap[0].when - now;
	return d > 60000 ? 60000 : (int)d;
}

int
loop_run(void)
{
	struct epoll_event evs[256];
	struct watch *w;
	unsigned e;
	int i, n, busy = 0;

	running = 1;
	while (running) {
		n = epoll_wait(epfd, evs, 256, busy ? 0 : next_timeout());
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++) {
			w = evs[i].data.ptr;
			if (w->dead)
				continue;
			e = 0;
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
				e |= LOOP_READ;
			if (evs[i].events & EPOLLOUT)
				e |= LOOP_WRITE;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				e |= LOOP_ERROR;
			w->fn(w->fd, e, w->arg);
		}
		run_timers();
		busy = before_sleep != NULL ? before_sleep() : 0;
		free_dead();
	}
	return 0;
}

void
loop_stop(void)
{
	running = 0;
}
