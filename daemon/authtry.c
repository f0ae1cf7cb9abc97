/*
 * AUTH attempts, from the request to the verdict, across connections.
 *
 * The throttle.  Failures are counted per user name and per address
 * (slots_host: an IPv6 peer by its /64), whichever connection they came
 * from.  A key may fail FREE times (5 for a name, 10 for an address,
 * which people behind one NAT or tunnel share); then it is locked for a
 * second, and each further failure doubles the lock, up to a minute.
 * While either of its keys is locked an attempt is not checked at all:
 * it is answered as a wrong secret, so a guess made then is lost, however
 * many connections make guesses.  Checks in flight count against the
 * keys' allowance, so that many attempts arriving at once (150
 * connections in one turn) are checked FREE at a time, never more: the
 * others wait for those verdicts.  A key is forgotten after a quiet
 * quarter of an hour, and a success clears its user name.
 *
 * The check.  A hash is slow by design (about 20 ms for yescrypt): it
 * runs on one worker thread, and the loop hears of its verdict through
 * an eventfd, so that other clients are answered meanwhile.  A verdict
 * always comes back through the loop, never from authtry_start itself,
 * and it counts even when its connection has gone.
 */
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procctld.h"
#include "strhash.h"

#define FREE_USER	5
#define FREE_ADDR	10
#define LOCK_BASE_MS	1000
#define LOCK_MAX_MS	60000
#define FORGET_MS	(15 * 60 * 1000)
#define KEYS_MAX	4096	/* names and addresses remembered */
#define KEY_BUCKETS	1024
#define SECRET_MAX	512	/* crypt(3)'s own limit on a passphrase */
#define HASH_MAX	256

/* What one user name or address has done lately. */
struct tkey {
	char			 name[SLOTS_HOST_MAX + 4];	/* "u:x", "a:x" */
	unsigned		 free;		/* failures before a lock */
	unsigned		 fails;
	unsigned		 inflight;	/* checks not yet answered */
	unsigned		 refs;		/* attempts pointing here */
	uint64_t		 last;		/* the last failure, ms */
	LIST_ENTRY(tkey)	 link;
};

enum { T_WAIT, T_CHECK, T_DONE };

struct authtry {
	int			 state;		/* T_* */
	int			 verdict;	/* AUTHTRY_* once known */
	int			 bad;		/* fails whatever the hash says */
	char			 user[65];
	char			 host[SLOTS_HOST_MAX];
	char			 hash[HASH_MAX];
	char			*secret;	/* owned, wiped */
	size_t			 slen;
	struct tkey		*ku, *ka;
	authtry_fn		 fn;		/* NULL once detached */
	void			*owner;
	uint64_t		 timer;		/* an unchecked verdict */
	TAILQ_ENTRY(authtry)	 link;		/* waiting, queued, done */
};

TAILQ_HEAD(tryq, authtry);

static LIST_HEAD(, tkey) keys[KEY_BUCKETS];
static size_t nkeys;
static struct tryq waiting = TAILQ_HEAD_INITIALIZER(waiting);

/* Shared with the worker, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct tryq todo = TAILQ_HEAD_INITIALIZER(todo);
static struct tryq done = TAILQ_HEAD_INITIALIZER(done);
static int stopping;

static pthread_t worker;
static int worker_up;
static int efd = -1;
static struct watch *ewatch;

static void decide_waiting(void);

/* ---- the keys ---- */

static unsigned
key_hash(const char *s)
{
	return strhash(s) % KEY_BUCKETS;
}

static void
key_drop(struct tkey *k)
{
	LIST_REMOVE(k, link);
	free(k);
	nkeys--;
}

/* Room for one more key: the one quiet longest, if none is in use. */
static int
key_room(void)
{
	struct tkey *k, *oldest = NULL;
	size_t i;

	if (nkeys < KEYS_MAX)
		return 0;
	for (i = 0; i < KEY_BUCKETS; i++)
		LIST_FOREACH(k, &keys[i], link)
			if (k->refs == 0 && (oldest == NULL ||
			    k->last < oldest->last))
				oldest = k;
	if (oldest == NULL)
		return -1;
	key_drop(oldest);
	return 0;
}

static struct tkey *
key_get(const char *prefix, const char *name, unsigned free_fails,
    uint64_t now)
{
	char full[sizeof(((struct tkey *)0)->name)];
	struct tkey *k, *next;
	unsigned b;

	snprintf(full, sizeof(full), "%s%s", prefix, name);
	b = key_hash(full);
	for (k = LIST_FIRST(&keys[b]); k != NULL; k = next) {
		next = LIST_NEXT(k, link);
		if (strcmp(k->name, full) == 0) {
			if (k->refs == 0 && k->fails > 0 &&
			    now - k->last >= FORGET_MS)
				k->fails = 0;
			return k;
		}
		/* Forgotten on the way: a bucket never fills with the
		 * quiet. */
		if (k->refs == 0 && now - k->last >= FORGET_MS)
			key_drop(k);
	}
	if (key_room() == -1 || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	snprintf(k->name, sizeof(k->name), "%s", full);
	k->free = free_fails;
	k->last = now;
	LIST_INSERT_HEAD(&keys[b], k, link);
	nkeys++;
	return k;
}

/* Until when K is locked (ms; 0 or past: not locked). */
static uint64_t
locked_until(const struct tkey *k)
{
	unsigned over;
	uint64_t d;

	if (k->fails < k->free)
		return 0;
	over = k->fails - k->free;
	d = over >= 6 ? LOCK_MAX_MS : (uint64_t)LOCK_BASE_MS << over;
	return k->last + (d > LOCK_MAX_MS ? LOCK_MAX_MS : d);
}

enum { K_OPEN, K_BUSY, K_LOCKED };

static int
key_state(const struct tkey *k, uint64_t now)
{
	unsigned allowance;

	if (now < locked_until(k))
		return K_LOCKED;
	/* Past the free failures, one check at a time between locks. */
	allowance = k->fails < k->free ? k->free - k->fails : 1;
	return k->inflight >= allowance ? K_BUSY : K_OPEN;
}

static void
key_failed(struct tkey *k, uint64_t now)
{
	uint64_t until;

	k->fails++;
	k->last = now;
	if ((until = locked_until(k)) > now)
		log_warn("AUTH: %u failures for %s '%s': nothing is checked "
		    "for it for %llus", k->fails, k->name[0] == 'u' ? "user" :
		    "address", k->name + 2,
		    (unsigned long long)(until - now + 999) / 1000);
}

/* ---- the worker ---- */

static void *
work(void *arg)
{
	struct authtry *t;
	void *scratch;
	uint64_t one = 1;
	int ok;

	(void)arg;
	if ((scratch = malloc(auth_scratch_size())) == NULL)
		return NULL;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!stopping && TAILQ_EMPTY(&todo))
			pthread_cond_wait(&cv, &mu);
		if (stopping)
			break;
		t = TAILQ_FIRST(&todo);
		TAILQ_REMOVE(&todo, t, link);
		pthread_mutex_unlock(&mu);
		ok = auth_verify(t->hash, t->secret, scratch) == 0 && !t->bad;
		explicit_bzero(t->secret, t->slen);
		pthread_mutex_lock(&mu);
		t->verdict = ok ? AUTHTRY_OK : AUTHTRY_FAIL;
		TAILQ_INSERT_TAIL(&done, t, link);
		(void)!write(efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&mu);
	explicit_bzero(scratch, auth_scratch_size());
	free(scratch);
	return NULL;
}

static void
try_free(struct authtry *t)
{
	if (t->ku != NULL)
		t->ku->refs--;
	if (t->ka != NULL)
		t->ka->refs--;
	if (t->secret != NULL) {
		explicit_bzero(t->secret, t->slen);
		free(t->secret);
	}
	explicit_bzero(t->hash, sizeof(t->hash));
	free(t);
}

/* The verdict to its owner, if it is still there; then T is freed. */
static void
tell(struct authtry *t)
{
	t->state = T_DONE;
	if (t->fn != NULL)
		t->fn(t->owner, t->verdict);
	try_free(t);
}

static void
on_done(int fd, unsigned events, void *arg)
{
	struct tryq got = TAILQ_HEAD_INITIALIZER(got);
	struct authtry *t;
	uint64_t n, now = loop_now_ms();

	(void)events;
	(void)arg;
	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&mu);
	TAILQ_CONCAT(&got, &done, link);
	pthread_mutex_unlock(&mu);
	while ((t = TAILQ_FIRST(&got)) != NULL) {
		TAILQ_REMOVE(&got, t, link);
		t->ku->inflight--;
		t->ka->inflight--;
		if (t->verdict == AUTHTRY_OK)
			t->ku->fails = 0;
		else {
			key_failed(t->ku, now);
			key_failed(t->ka, now);
		}
		tell(t);
	}
	decide_waiting();
}

int
authtry_init(void)
{
	if ((efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_error("eventfd: %s", strerror(errno));
		return -1;
	}
	if ((ewatch = loop_watch(efd, LOOP_READ, on_done, NULL)) == NULL) {
		close(efd);
		efd = -1;
		return -1;
	}
	return 0;
}

/* T to the worker, started the first time it is needed. */
static int
check(struct authtry *t)
{
	int rc;

	if (!worker_up) {
		if ((rc = pthread_create(&worker, NULL, work, NULL)) != 0) {
			log_error("AUTH: cannot start its worker thread: %s",
			    strerror(rc));
			return -1;
		}
		worker_up = 1;
	}
	t->state = T_CHECK;
	t->ku->inflight++;
	t->ka->inflight++;
	pthread_mutex_lock(&mu);
	TAILQ_INSERT_TAIL(&todo, t, link);
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	return 0;
}

static void
unchecked_later(void *arg)
{
	struct authtry *t = arg;

	t->timer = 0;
	tell(t);
}

/* Not checked: a key is locked.  Said through the loop, as any verdict. */
static void
refuse(struct authtry *t)
{
	log_warn("AUTH from %s for user '%s' not checked: too many "
	    "failures (user: %u, address: %u)", t->host, t->user,
	    t->ku->fails, t->ka->fails);
	t->state = T_DONE;
	t->verdict = AUTHTRY_THROTTLED;
	if ((t->timer = loop_timer_add(0, unchecked_later, t)) == 0)
		tell(t);	/* no memory for a timer: said at once */
}

/* Where T stands now: K_OPEN (check it), K_BUSY (wait), K_LOCKED. */
static int
standing(const struct authtry *t, uint64_t now)
{
	int su = key_state(t->ku, now), sa = key_state(t->ka, now);

	if (su == K_LOCKED || sa == K_LOCKED)
		return K_LOCKED;
	return su == K_BUSY || sa == K_BUSY ? K_BUSY : K_OPEN;
}

/* Check T, or refuse it unchecked (K_LOCKED). */
static void
act(struct authtry *t, int how)
{
	if (how == K_LOCKED)
		refuse(t);
	else if (check(t) == -1) {
		t->state = T_DONE;
		t->verdict = AUTHTRY_FAIL;
		if ((t->timer = loop_timer_add(0, unchecked_later, t)) == 0)
			tell(t);
	}
}

/* Verdicts came in: the attempts that waited for them, in order. */
static void
decide_waiting(void)
{
	struct authtry *t, *next;
	uint64_t now = loop_now_ms();
	int how;

	for (t = TAILQ_FIRST(&waiting); t != NULL; t = next) {
		next = TAILQ_NEXT(t, link);
		if ((how = standing(t, now)) == K_BUSY)
			continue;
		TAILQ_REMOVE(&waiting, t, link);
		act(t, how);
	}
}

struct authtry *
authtry_start(const char *user, size_t ulen, const char *host,
    const char *secret, size_t slen, authtry_fn fn, void *owner)
{
	struct authtry *t;
	uint64_t now = loop_now_ms();
	int how;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->secret = malloc(slen < SECRET_MAX ? slen + 1 :
	    SECRET_MAX + 1)) == NULL) {
		free(t);
		return NULL;
	}
	t->fn = fn;
	t->owner = owner;
	/* A name or secret no secrets file can hold is checked all the
	 * same (the same work, the same count), and fails. */
	t->bad = strnlen(user, ulen) != ulen || ulen >= sizeof(t->user) ||
	    memchr(secret, '\0', slen) != NULL || slen > SECRET_MAX;
	snprintf(t->user, sizeof(t->user), "%.*s", (int)strnlen(user,
	    ulen < sizeof(t->user) ? ulen : sizeof(t->user) - 1), user);
	t->slen = slen < SECRET_MAX ? slen : SECRET_MAX;
	memcpy(t->secret, secret, t->slen);
	t->secret[t->slen] = '\0';
	snprintf(t->host, sizeof(t->host), "%s", host);
	if (auth_lookup(t->user, t->hash, sizeof(t->hash)) == 0)
		t->bad = 1;
	if ((t->ku = key_get("u:", t->user, FREE_USER, now)) != NULL)
		t->ku->refs++;
	if ((t->ka = key_get("a:", t->host, FREE_ADDR, now)) != NULL)
		t->ka->refs++;
	if (t->ku == NULL || t->ka == NULL) {
		try_free(t);
		return NULL;
	}
	t->state = T_WAIT;
	if ((how = standing(t, now)) == K_BUSY)
		TAILQ_INSERT_TAIL(&waiting, t, link);
	else
		act(t, how);
	return t;
}

void
authtry_detach(struct authtry *t)
{
	if (t == NULL)
		return;
	t->fn = NULL;
	t->owner = NULL;
	if (t->state == T_WAIT) {
		/* Never checked: nothing to count. */
		TAILQ_REMOVE(&waiting, t, link);
		try_free(t);
	} else if (t->state == T_DONE && t->timer != 0) {
		loop_timer_cancel(t->timer);
		try_free(t);
	}
	/* Being checked: its verdict still counts when it comes. */
}

static void
free_queue(struct tryq *q)
{
	struct authtry *t;

	while ((t = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, t, link);
		try_free(t);
	}
}

void
authtry_fini(void)
{
	struct tkey *k;
	size_t i;

	if (worker_up) {
		pthread_mutex_lock(&mu);
		stopping = 1;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
		pthread_join(worker, NULL);
		worker_up = 0;
	}
	free_queue(&waiting);
	free_queue(&todo);
	free_queue(&done);
	for (i = 0; i < KEY_BUCKETS; i++)
		while ((k = LIST_FIRST(&keys[i])) != NULL)
			key_drop(k);
	if (ewatch != NULL)
		loop_unwatch(ewatch);
	ewatch = NULL;
	if (efd != -1)
		close(efd);
	efd = -1;
	stopping = 0;
}
