/*
 * The shell's link to the daemon: connecting and the handshake, the
 * requests that are owed a reply, and the connection made again when it
 * is lost.  The link owns no part of the terminal: what the shell must
 * hear (lines for the user, the prompt to redraw, replies, events) goes
 * up through struct link_hooks, so calls go one way, shell.c down to here
 * and here down to client.c.  Only a failed connect goes straight to
 * stderr, beside what client.c and target.c print there.
 *
 * Every request sent is remembered in a FIFO; each non-push value read
 * answers the oldest one.  Pushes (events) are told apart by their type,
 * so a reply is never taken for an event or lost among them.
 *
 * With RESUME (the shell on a terminal) the link is one session however
 * many connections it takes: it names itself with a random token in
 * every HELLO, and when a connection is lost without the user asking it
 * connects again to the same target, with the same credentials and
 * token, until it succeeds or the user says disconnect.  The daemon then
 * knows it for the session whose processes it kept.  Retrying is a
 * deadline in the shell's poll loop (link_timeout, link_tick), never a
 * sleep, so the user keeps typing meanwhile; every request the lost
 * connection owed a reply gets an error line instead.  Without RESUME
 * (scripted), a lost connection is not made again and the run exits 69,
 * as it always did: nobody is there to wait for the daemon.
 */
#include <sys/random.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

enum pending_kind {
	P_HELLO,	/* the handshake: the session on, or refused */
	P_QUIET,	/* SUBSCRIBE: nothing to show */
	P_SHELL,	/* the shell's: its reply goes up with the tag */
};

struct pending {
	enum pending_kind	 kind;
	size_t			 tag;		/* P_SHELL: the shell's */
	struct pending		*next;
};

/* A lost connection is tried again RETRY_FIRST_MS later, then after
 * doubling waits up to RETRY_MAX_MS, for as long as it takes: a daemon
 * being restarted may be a while.  A try over TCP waits at most
 * RETRY_WAIT_MS for the connect and the TLS handshake, which (unlike the
 * wait between tries) hold up the loop; a Unix socket answers at once. */
#define RETRY_FIRST_MS	100
#define RETRY_MAX_MS	2000
#define RETRY_WAIT_MS	1000

/* The session token: 16 random bytes in hex. */
#define TOKEN_BYTES	16

static struct {
	const struct link_hooks *hooks;
	struct target	 t;
	struct client	 c;
	int		 connected;
	char		*secret;	/* t's, kept to reconnect; owned */
	char		 token[2 * TOKEN_BYTES + 1];	/* "": none */
	int		 resume;	/* retry lost connections */
	int		 lost;		/* from a loss until HELLO answers */
	int		 retrying;	/* not connected; retry_at is set */
	long long	 retry_at;	/* now_ms() of the next try */
	int		 retry_ms;	/* the wait after that one */
	char		 refused[512];	/* the daemon's last refusal, shown */
	struct pending	*head, *tail;
} lk;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The token that makes every connection of this shell one session to the
 * daemon.  Without randomness there is none: the link still reconnects,
 * but as a new session. */
static void
make_token(void)
{
	unsigned char r[TOKEN_BYTES];
	ssize_t n;
	size_t i;

	do
		n = getrandom(r, sizeof(r), 0);
	while (n == -1 && errno == EINTR);
	lk.token[0] = '\0';
	if (n != (ssize_t)sizeof(r))
		return;
	for (i = 0; i < sizeof(r); i++)
		snprintf(lk.token + 2 * i, 3, "%02x", r[i]);
}

static void
forget_secret(void)
{
	if (lk.secret == NULL)
		return;
	explicit_bzero(lk.secret, strlen(lk.secret));
	free(lk.secret);
	lk.secret = NULL;
}

static void
expect(enum pending_kind kind, size_t tag)
{
	struct pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->kind = kind;
	p->tag = tag;
	if (lk.tail != NULL)
		lk.tail->next = p;
	else
		lk.head = p;
	lk.tail = p;
}

/* Forget what the connection owed; TELL: answer each of the user's
 * requests with an error line, in order, so none vanishes. */
static size_t
drop_pending(int tell)
{
	struct pending *p;
	size_t users = 0;

	while ((p = lk.head) != NULL) {
		lk.head = p->next;
		if (p->kind == P_SHELL && (p->tag == LINK_USER ||
		    p->tag == LINK_FOLLOW)) {
			users++;
			if (tell)
				lk.hooks->show("error: connection lost "
				    "before the reply");
		}
		free(p);
	}
	lk.tail = NULL;
	return users;
}

/* Close the connection; the number of the user's requests unanswered. */
static size_t
hang_up(int tell)
{
	size_t lost;

	client_close(&lk.c);
	lk.connected = 0;
	lost = drop_pending(tell);
	lk.hooks->closed();
	return lost;
}

/* Not connected, and not trying to be: the user asked, or the daemon
 * said or did something no retry would change.  WHY, if set, is noted
 * with the replies it cost, and fails a script with CODE. */
static void
disconnect(const char *why, int code)
{
	int was = lk.connected || lk.retrying || lk.lost;
	size_t lost;

	lk.lost = lk.retrying = 0;
	lk.refused[0] = '\0';
	forget_secret();
	if (!lk.connected) {
		if (was)
			lk.hooks->state();
		return;
	}
	lost = hang_up(0);
	if (why != NULL) {
		lk.hooks->note("%s", why);
		if (lost)
			lk.hooks->note("%zu command(s) got no reply", lost);
		lk.hooks->fail(code);
	}
	lk.hooks->state();
}

void
link_disconnect(const char *why)
{
	disconnect(why, EXIT_UNAVAIL);
}

/* The daemon broke the protocol: nothing more it sends can be trusted,
 * and another try would meet the same daemon.  Disconnected, with
 * EXIT_PROTO for a script. */
static void
protocol_error(const char *why)
{
	char msg[sizeof(lk.c.target) + 200];

	snprintf(msg, sizeof(msg), "protocol error from %s: %s; "
	    "disconnected", lk.c.target, why);
	disconnect(msg, EXIT_PROTO);
}

/* Try again after the current wait, which then doubles.  WHY, the
 * daemon's refusal, is shown the first time: the same again is not news. */
static void
retry_later(const char *why)
{
	if (why != NULL && strcmp(why, lk.refused) != 0) {
		snprintf(lk.refused, sizeof(lk.refused), "%s", why);
		lk.hooks->note("%s", why);
	}
	lk.retrying = 1;
	lk.retry_at = now_ms() + lk.retry_ms;
	lk.retry_ms = lk.retry_ms >= RETRY_MAX_MS / 2 ? RETRY_MAX_MS :
	    lk.retry_ms * 2;
	lk.hooks->state();
}

/* The socket ended (EOF, an error) without the user asking.  A loss
 * during the handshake that follows one is the same outage: said once. */
static void
connection_lost(void)
{
	if (!lk.resume) {
		link_disconnect("connection lost");
		return;
	}
	hang_up(1);
	if (!lk.lost) {
		lk.hooks->note("connection lost; reconnecting...");
		lk.lost = 1;
		lk.retry_ms = RETRY_FIRST_MS;
	}
	retry_later(NULL);
}

void
link_expect(size_t tag)
{
	expect(P_SHELL, tag);
}

int
link_send(const struct buf *b)
{
	if (client_send(&lk.c, b, 30000) != 0) {
		connection_lost();
		return -1;
	}
	return 0;
}

/* On the new connection: HELLO (the secret, the token) and events on, in
 * one write; what completion needs follows once HELLO has said what that
 * is (the shell's hello hook).  0, or -1 with the connection closed. */
static int
handshake(void)
{
	static const char *const sub[] = { "SUBSCRIBE" };
	struct buf b = { 0 };
	int rc;

	rc = client_put_hello(&b, &lk.t, lk.secret ? lk.secret : "",
	    lk.token[0] ? lk.token : NULL) == -1 ||
	    resp_put_command(&b, 1, sub, NULL) == -1 ? -1 :
	    client_send(&lk.c, &b, 30000);
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	if (rc != 0) {
		client_close(&lk.c);
		return -1;
	}
	lk.connected = 1;
	expect(P_HELLO, 0);
	expect(P_QUIET, 0);
	return 0;
}

/* A new connection, any other closed first; its secret is asked for now
 * and kept for reconnecting. */
int
link_connect(const struct target *t)
{
	char *secret = NULL;

	link_disconnect(NULL);
	if (target_needs_secret(t) && (secret = target_secret(t)) == NULL)
		return -1;
	lk.t = *t;
	lk.secret = secret;
	if (client_connect(&lk.c, t, 30000, 0) != 0) {
		forget_secret();
		lk.hooks->state();
		return -1;
	}
	if (handshake() == -1) {
		forget_secret();
		fprintf(stderr, "procctl: %s: connection lost\n", lk.c.target);
		lk.hooks->state();
		return -1;
	}
	lk.hooks->state();
	return 0;
}

/* The retry's time has come: the same target, credentials and token.
 * Quiet about a daemon not there yet; "reconnected" once HELLO answers. */
void
link_tick(void)
{
	if (!lk.retrying || lk.retry_at > now_ms())
		return;
	lk.retrying = 0;
	if (client_connect(&lk.c, &lk.t, RETRY_WAIT_MS, 1) != 0 ||
	    handshake() == -1) {
		retry_later(NULL);
		return;
	}
	lk.hooks->state();
}

int
link_timeout(void)
{
	long long left;

	if (!lk.retrying)
		return -1;
	left = lk.retry_at - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* HELLO's reply: the session is on, or the daemon refused it.  After a
 * loss a refusal (too many clients, a secret changed) is retried like a
 * daemon not there: only the user gives up. */
static void
on_hello(const struct resp_value *v)
{
	char why[sizeof(lk.refused)];
	struct buf msg = { 0 };
	int again = lk.lost;

	if (v->type != RESP_T_ERROR && !client_hello_reply(v)) {
		protocol_error("HELLO answered with something else than a map");
		return;
	}
	if (v->type == RESP_T_ERROR)
		render_error(&msg, v);
	if (v->type == RESP_T_ERROR && lk.lost) {
		snprintf(why, sizeof(why), "%s: %.*s", lk.c.target,
		    (int)msg.len, msg.data ? msg.data : "");
		buf_free(&msg);
		hang_up(1);
		retry_later(why);
		return;
	}
	if (v->type == RESP_T_ERROR) {
		lk.hooks->note("%s: %.*s", lk.c.target, (int)msg.len,
		    msg.data ? msg.data : "");
		buf_free(&msg);
		lk.hooks->fail(error_exit_code(v->str));
		link_disconnect(NULL);
		return;
	}
	if (lk.lost) {
		lk.lost = 0;
		lk.refused[0] = '\0';
		lk.hooks->note("reconnected");
		lk.hooks->state();
	}
	lk.hooks->hello(v, again);
}

/* A value that is not a push: the answer to the oldest request owed. */
static void
on_reply(const struct resp_value *v)
{
	struct pending *p = lk.head;

	if (p == NULL) {
		protocol_error("a reply nobody asked for");
		return;
	}
	lk.head = p->next;
	if (lk.head == NULL)
		lk.tail = NULL;
	switch (p->kind) {
	case P_HELLO:
		free(p);
		on_hello(v);
		return;
	case P_QUIET:
		break;
	case P_SHELL:
		lk.hooks->reply(p->tag, v);
		break;
	}
	free(p);
}

/* What the socket has: every whole value goes up, a loss is handled. */
void
link_read(void)
{
	struct resp_value v;
	const char *err;
	ssize_t n;
	int rc;

	if (buf_reserve(&lk.c.in, 65536) == -1)
		return;
	n = client_recv(&lk.c, lk.c.in.data + lk.c.in.len,
	    lk.c.in.cap - lk.c.in.len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		connection_lost();
		return;
	}
	lk.c.in.len += (size_t)n;
	while (lk.connected) {
		if ((rc = client_next(&lk.c, &v, &err)) == RESP_MORE)
			break;
		if (rc == RESP_BAD) {
			protocol_error(err);
			return;
		}
		if (v.type == RESP_T_PUSH)
			lk.hooks->event(&v);
		else
			on_reply(&v);
		resp_value_free(&v);
	}
}

void
link_init(const struct link_hooks *hooks, int resume)
{
	memset(&lk, 0, sizeof(lk));
	lk.hooks = hooks;
	if ((lk.resume = resume))
		make_token();
}

int
link_connected(void)
{
	return lk.connected;
}

int
link_lost(void)
{
	return lk.lost;
}

const struct target *
link_target(void)
{
	return &lk.t;
}

const char *
link_name(void)
{
	return lk.c.target;
}

int
link_fd(void)
{
	return lk.connected ? lk.c.fd : -1;
}

int
link_buffered(void)
{
	return lk.connected && client_pending(&lk.c);
}

int
link_waiting(void)
{
	return lk.connected && lk.head != NULL;
}
