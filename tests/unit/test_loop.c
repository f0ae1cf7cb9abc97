/*
 * The loop's timers, through the loop API only: order by deadline, ties in
 * insertion order, cancel (pending, unknown, inside a callback), callbacks
 * that add timers, stop and re-run, how long the loop sleeps, and the
 * before-sleep hook.
 *
 * Time is simulated: the test binary is linked with --wrap for
 * clock_gettime and the epoll_wait family, so the loop reads a clock this
 * file moves, and "sleeping" records the timeout the loop asked for and
 * moves the clock by it.  No case depends on how busy the machine is.  One
 * case runs on the real clock and checks only that a timer never fires
 * early.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "check.h"
#include "procctld.h"

/* ---- the simulated clock and sleep ---- */

int	__real_clock_gettime(clockid_t, struct timespec *);
int	__real_epoll_wait(int, struct epoll_event *, int, int);
int	__wrap_clock_gettime(clockid_t, struct timespec *);
int	__wrap_epoll_wait(int, struct epoll_event *, int, int);
int	__wrap_epoll_pwait(int, struct epoll_event *, int, int,
	    const sigset_t *);

static int real_time;		/* pass both through to the kernel */
static uint64_t fake_ns = 1000ull * 1000000000ull;	/* not zero */
static int waits[64];		/* timeouts the loop slept with */
static size_t nwaits;
static unsigned long spins;	/* sleeps of 0 in a row */
static unsigned long wrapped_sleeps, wrapped_clocks;	/* in both modes */

int
__wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
	wrapped_clocks++;
	if (real_time)
		return __real_clock_gettime(id, ts);
	ts->tv_sec = (time_t)(fake_ns / 1000000000ull);
	ts->tv_nsec = (long)(fake_ns % 1000000000ull);
	return 0;
}

/* No fd is watched: a sleep ends by its timeout.  An endless one (-1)
 * would hang, so it is recorded and the loop is stopped instead, as a
 * signal would wake it. */
static int
fake_sleep(int timeout)
{
	/* Time stands still between sleeps: a loop that keeps asking for
	 * none would spin for ever. */
	spins = timeout == 0 ? spins + 1 : 0;
	if (spins > 100000) {
		fprintf(stderr, "FAIL: the loop spins: 100000 sleeps of 0 ms "
		    "in a row with a timer due\n");
		exit(1);
	}
	if (nwaits < sizeof(waits) / sizeof(waits[0]))
		waits[nwaits++] = timeout;
	if (timeout < 0) {
		loop_stop();
		return 0;
	}
	fake_ns += (uint64_t)timeout * 1000000ull;
	return 0;
}

int
__wrap_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	wrapped_sleeps++;
	if (real_time)
		return __real_epoll_wait(epfd, evs, max, timeout);
	return fake_sleep(timeout);
}

/* In case the loop moves to epoll_pwait (for a signal mask). */
int
__wrap_epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
    const sigset_t *mask)
{
	(void)mask;
	return __wrap_epoll_wait(epfd, evs, max, timeout);
}

static uint64_t
fake_ms(void)
{
	return fake_ns / 1000000ull;
}

/* ---- what fired, and when ---- */

#define MAXFIRED 4096

static int fired[MAXFIRED];
static uint64_t fired_at[MAXFIRED];
static size_t nfired;

static void
reset(void)
{
	nfired = 0;
	nwaits = 0;
}

static void
record(void *arg)
{
	if (nfired < MAXFIRED) {
		fired[nfired] = (int)(intptr_t)arg;
		fired_at[nfired] = loop_now_ms();
	}
	nfired++;
}

static void
stop(void *arg)
{
	(void)arg;
	loop_stop();
}

static uint64_t
add(uint64_t ms, int tag)
{
	uint64_t id = loop_timer_add(ms, record, (void *)(intptr_t)tag);

	if (id == 0)
		CHECK(0, "loop_timer_add(%llu) failed", (unsigned long long)ms);
	return id;
}

/* Run until a timer at MS stops the loop; 0 if loop_run said so. */
static int
run_until(uint64_t ms)
{
	loop_timer_add(ms, stop, NULL);
	return loop_run();
}

static int
fired_is(const int *want, size_t n)
{
	size_t i;

	if (nfired != n)
		return 0;
	for (i = 0; i < n; i++)
		if (fired[i] != want[i])
			return 0;
	return 1;
}

static void
show(const char *what)
{
	size_t i;

	fprintf(stderr, "  %s fired:", what);
	for (i = 0; i < nfired && i < 40; i++)
		fprintf(stderr, " %d", fired[i]);
	fprintf(stderr, "%s\n", nfired > 40 ? " ..." : "");
}

#define EXPECT_FIRED(what, ...) do {					\
	static const int want_[] = { __VA_ARGS__ };			\
	int ok_ = fired_is(want_, sizeof(want_) / sizeof(want_[0]));	\
	CHECK(ok_, "%s: wrong timers or order", what);			\
	if (!ok_)							\
		show(what);						\
} while (0)

/* ---- cases ---- */

static void
test_order_by_deadline(void)
{
	uint64_t t0 = fake_ms();

	reset();
	add(30, 30);
	add(10, 10);
	add(20, 20);
	add(0, 0);
	add(25, 25);
	CHECK(run_until(100) == 0, "loop_run failed");
	EXPECT_FIRED("by deadline", 0, 10, 20, 25, 30);
	/* Each at its deadline, never before: the clock only moves by the
	 * sleeps the loop asked for. */
	CHECK(nfired == 5 && fired_at[0] == t0 && fired_at[1] == t0 + 10 &&
	    fired_at[2] == t0 + 20 && fired_at[3] == t0 + 25 &&
	    fired_at[4] == t0 + 30, "fired at the wrong times");
}

static void
test_ties_in_insertion_order(void)
{
	int i;

	reset();
	for (i = 0; i < 50; i++)
		add(7, i);
	CHECK(run_until(10) == 0, "loop_run failed");
	CHECK(nfired == 50, "%zu of 50 fired", nfired);
	for (i = 0; i < 50 && (size_t)i < nfired; i++)
		if (fired[i] != i) {
			CHECK(0, "equal deadlines: #%d fired %dth", fired[i],
			    i);
			break;
		}
	/* Interleaved deadlines: each group in the order it was added. */
	reset();
	add(5, 1);
	add(0, 2);
	add(5, 3);
	add(0, 4);
	add(5, 5);
	add(0, 6);
	CHECK(run_until(10) == 0, "loop_run failed");
	EXPECT_FIRED("two deadlines", 2, 4, 6, 1, 3, 5);
}

static void
test_cancel_pending(void)
{
	uint64_t a, b, c;

	reset();
	a = add(10, 1);
	b = add(20, 2);
	c = add(30, 3);
	loop_timer_cancel(b);
	loop_timer_cancel(b);			/* twice: no effect */
	loop_timer_cancel(0);			/* 0 is never an id */
	loop_timer_cancel(c + 1000);		/* never given */
	CHECK(a != b && b != c && a != c, "ids not distinct");
	CHECK(run_until(40) == 0, "loop_run failed");
	EXPECT_FIRED("cancel pending", 1, 3);
	loop_timer_cancel(a);			/* already fired */
	reset();
	add(5, 4);
	CHECK(run_until(10) == 0, "loop_run failed");
	EXPECT_FIRED("after cancelling fired ids", 4);
	/* Cancelling the earliest, the latest, and every other one of a
	 * larger heap keeps the rest in order. */
	{
		uint64_t ids[40];
		int i;

		reset();
		for (i = 0; i < 40; i++)
			ids[i] = add((uint64_t)(40 - i), 40 - i);
		loop_timer_cancel(ids[39]);	/* deadline 1 */
		loop_timer_cancel(ids[0]);	/* deadline 40 */
		for (i = 2; i < 38; i += 2)
			loop_timer_cancel(ids[i]);	/* 38, 36, ... 4 */
		CHECK(run_until(50) == 0, "loop_run failed");
		EXPECT_FIRED("cancel in a heap", 2, 3, 5, 7, 9, 11, 13, 15,
		    17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39);
	}
}

/* A callback cancels a timer due in the same turn, one due later, and
 * itself (already removed: harmless). */
static uint64_t victim_now, victim_later, self_id;

static void
cancelling(void *arg)
{
	record(arg);
	loop_timer_cancel(victim_now);
	loop_timer_cancel(victim_later);
	loop_timer_cancel(self_id);
}

static void
test_cancel_in_callback(void)
{
	reset();
	self_id = loop_timer_add(10, cancelling, (void *)(intptr_t)1);
	victim_now = add(10, 2);	/* same deadline, after it */
	add(10, 3);
	victim_later = add(20, 4);
	add(30, 5);
	CHECK(run_until(40) == 0, "loop_run failed");
	EXPECT_FIRED("cancel in a callback", 1, 3, 5);
}

/* A callback adds timers: one due at once (this turn, after the timers
 * already due), one later. */
static uint64_t added_at;

static void
adding(void *arg)
{
	record(arg);
	added_at = loop_now_ms();
	add(0, 10);
	add(5, 11);
}

static void
test_callback_adds(void)
{
	reset();
	loop_timer_add(10, adding, (void *)(intptr_t)1);
	add(10, 2);
	add(12, 3);
	CHECK(run_until(40) == 0, "loop_run failed");
	EXPECT_FIRED("a callback adds", 1, 2, 10, 3, 11);
	CHECK(nfired == 5 && fired_at[2] == added_at &&
	    fired_at[4] == added_at + 5, "added timers fired at the wrong "
	    "time");
}

/* How long the loop sleeps: until the earliest deadline, at most 60 s
 * at a time, not at all when a timer is due, without limit with none. */
static void
test_next_timeout(void)
{
	uint64_t t0;

	reset();
	t0 = fake_ms();
	add(250, 1);
	add(900, 2);
	CHECK(run_until(1000) == 0, "loop_run failed");
	EXPECT_FIRED("sleeps", 1, 2);
	CHECK(nwaits == 3 && waits[0] == 250 && waits[1] == 650 &&
	    waits[2] == 100, "slept %zu times: %d %d %d, want 250 650 100",
	    nwaits, waits[0], waits[1], waits[2]);
	CHECK(fake_ms() == t0 + 1000, "the clock moved by %llu, want 1000",
	    (unsigned long long)(fake_ms() - t0));

	reset();
	t0 = fake_ms();
	add(150000, 1);
	CHECK(run_until(150001) == 0, "loop_run failed");
	CHECK(nwaits == 4 && waits[0] == 60000 && waits[1] == 60000 &&
	    waits[2] == 30000 && waits[3] == 1, "a long timer: slept "
	    "%d %d %d %d, want 60000 60000 30000 1", waits[0], waits[1],
	    waits[2], waits[3]);
	CHECK(nfired == 1 && fired_at[0] == t0 + 150000, "long timer fired "
	    "at +%llu", (unsigned long long)(fired_at[0] - t0));

	/* Due at once: no sleep at all before it fires. */
	reset();
	add(0, 1);
	loop_timer_add(0, stop, NULL);
	CHECK(loop_run() == 0, "loop_run failed");
	CHECK(nfired == 1 && nwaits == 1 && waits[0] == 0,
	    "a due timer: slept %d (%zu times)", nwaits ? waits[0] : -2,
	    nwaits);

	/* No timer: the loop waits for fds with no timeout. */
	reset();
	CHECK(loop_run() == 0, "loop_run failed");
	CHECK(nwaits == 1 && waits[0] == -1, "no timer: slept %d, want -1",
	    nwaits ? waits[0] : -2);
}

/* loop_stop ends loop_run after the current turn; the timers left stay
 * and a later loop_run fires them. */
static void
test_stop_and_run_again(void)
{
	reset();
	add(10, 1);
	loop_timer_add(15, stop, NULL);
	add(20, 3);
	CHECK(loop_run() == 0, "loop_run failed");
	EXPECT_FIRED("until stopped", 1);
	reset();
	CHECK(run_until(30) == 0, "loop_run failed");
	EXPECT_FIRED("run again", 3);
}

/* The before-sleep hook runs after the timers of each turn; while it says
 * work is waiting, the next wait only polls, however far the next timer. */
static int hook_calls, hook_busy;
static size_t hook_saw_fired;

static int
hook(void)
{
	if (hook_calls++ == 0)
		hook_saw_fired = nfired;
	if (hook_busy > 0) {
		hook_busy--;
		return 1;
	}
	return 0;
}

static void
test_before_sleep(void)
{
	reset();
	hook_calls = 0;
	hook_busy = 2;
	loop_set_before_sleep(hook);
	add(100, 1);
	CHECK(run_until(200) == 0, "loop_run failed");
	loop_set_before_sleep(NULL);
	EXPECT_FIRED("with a hook", 1);
	CHECK(hook_saw_fired == 1, "the hook ran before the turn's timers");
	CHECK(nwaits == 4 && waits[0] == 100 && waits[1] == 0 &&
	    waits[2] == 0 && waits[3] == 100, "slept %d %d %d %d (%zu "
	    "times), want 100 0 0 100", waits[0], waits[1], waits[2],
	    waits[3], nwaits);
	CHECK(hook_calls == 4, "hook ran %d times in 4 turns", hook_calls);
}

/* Many timers, deadlines from a fixed pseudo-random sequence, a third
 * cancelled: the rest fire by deadline, ties by insertion. */
static void
test_many(void)
{
	enum { N = 2000 };
	static uint64_t ids[N], when[N];
	static int cancelled[N];
	uint32_t x = 12345;
	uint64_t t0 = fake_ms();
	size_t i, want = 0, bad = 0;
	int prev = -1;

	reset();
	for (i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		when[i] = (x >> 16) % 500;
		ids[i] = add(when[i], (int)i);
	}
	for (i = 0; i < N; i += 3) {
		loop_timer_cancel(ids[i]);
		cancelled[i] = 1;
	}
	for (i = 0; i < N; i++)
		want += !cancelled[i];
	CHECK(run_until(600) == 0, "loop_run failed");
	CHECK(nfired == want, "%zu fired, want %zu", nfired, want);
	for (i = 0; i < nfired && i < MAXFIRED; i++) {
		int t = fired[i];

		if (cancelled[t] || fired_at[i] != t0 + when[t] ||
		    (prev >= 0 && (when[t] < when[prev] ||
		    (when[t] == when[prev] && t < prev))))
			bad++;
		prev = t;
	}
	CHECK(bad == 0, "%zu of %zu timers out of order, early, late or "
	    "cancelled", bad, nfired);
}

/* The real clock: a timer never fires before its time (the only bound a
 * busy machine cannot break). */
static void
test_real_clock(void)
{
	uint64_t t0;

	real_time = 1;
	reset();
	t0 = loop_now_ms();
	add(30, 1);
	add(10, 2);
	CHECK(run_until(40) == 0, "loop_run failed");
	EXPECT_FIRED("real clock", 2, 1);
	CHECK(nfired == 2 && fired_at[0] >= t0 + 10 && fired_at[1] >= t0 + 30,
	    "fired early: +%llu, +%llu",
	    (unsigned long long)(fired_at[0] - t0),
	    (unsigned long long)(fired_at[1] - t0));
	real_time = 0;
}

int
main(void)
{
	log_init(LOG_ERROR);
	if (loop_init() == -1) {
		fprintf(stderr, "loop_init failed\n");
		return 1;
	}
	/* On the real clock first: the simulation must be what the loop
	 * uses, or the cases below would spin or prove nothing. */
	real_time = 1;
	reset();
	add(1, 1);
	CHECK(run_until(2) == 0, "loop_run failed");
	real_time = 0;
	CHECK(wrapped_sleeps > 0 && wrapped_clocks > 0, "the loop did not "
	    "sleep through epoll_wait/epoll_pwait (%lu) or read the clock "
	    "with clock_gettime (%lu): update test_loop's --wrap list in the "
	    "Makefile and the wrappers here", wrapped_sleeps, wrapped_clocks);
	if (wrapped_sleeps == 0 || wrapped_clocks == 0)
		return check_report("test_loop");

	test_order_by_deadline();
	test_ties_in_insertion_order();
	test_cancel_pending();
	test_cancel_in_callback();
	test_callback_adds();
	test_next_timeout();
	test_stop_and_run_again();
	test_before_sleep();
	test_many();
	test_real_clock();
	loop_free();
	return check_report("test_loop");
}
