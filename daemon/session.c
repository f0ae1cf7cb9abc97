/*
 * Sessions: one per connection, the one owner of who the peer is (the
 * kernel's word for local peers, AUTH or a certificate for TCP ones),
 * whether the [access] policy lets them in, which protocol version they
 * speak and whether they follow events.  A session turns bytes into
 * requests, runs at most max_batch of them per call, and keeps replies in
 * request order: a deferred reply holds back the requests after it, and
 * a push never lands inside a reply.
 *
 * Pushes reach only subscribed sessions, found through an index by user
 * (and a list of admins), never by a walk over every connection.
 *
 * A session holds a slot of its user (slots.c) from the moment it knows
 * who that is, but for root and the daemon's own user, whom we do not
 * defend against.  Before a TCP peer has proven who it is, it is
 * answered nothing but -NOAUTH, as Redis does, except for AUTH, HELLO
 * with AUTH, and QUIT; its requests are held to Redis's limits for the
 * unauthenticated (10 words, 16 KiB).  AUTH is checked by authtry.c, off
 * the loop and throttled across connections; its reply is deferred
 * meanwhile, which holds back whatever was pipelined behind it.
 *
 * The core's commands that concern the session live here: HELLO, AUTH,
 * SUBSCRIBE, UNFOLLOW and QUIT.
 */
#include <sys/queue.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "procctld.h"

#define AUTH_DELAY_MS	1000
#define BATCH_US	2000	/* a batch's share of the loop */
#define NOAUTH_ARGS	10	/* Redis's limits before AUTH */
#define NOAUTH_BULK	(16 * 1024)

struct session {
	uint64_t		 id;
	LIST_ENTRY(session)	 id_link;	/* by id: pushes to one */
	struct procctl_caller	 caller;
	char			 user[64];
	char			 peer[64];	/* "127.0.0.1:5555", "local pid N" */
	int			 tcp;
	int			 authed;	/* local peers: from the start */
	int			 cert_user;	/* identity from a certificate */
	unsigned long		 auth_failures;
	int			 user_slot;	/* holds one of slot_uid's */
	uid_t			 slot_uid;
	struct authtry		*try;		/* an AUTH being decided */
	int			 try_hello;	/* its reply: HELLO's, version */
	char			 try_user[65];
	char			 try_tok[65];	/* HELLO's SESSION, if given */
	char			 host[SLOTS_HOST_MAX];	/* TCP: for the throttle */
	gid_t			*groups;	/* for [access]; owned */
	size_t			 ngroups;
	unsigned		 policy_gen;	/* the policy it was judged by */
	int			 proto;
	int			 quit;		/* close once output is sent */
	int			 dispatching;
	struct buf		*out;		/* the connection's */
	struct buf		 pushq;		/* pushes made mid-reply */
	struct resp_req		 req;
	struct procctl_ctx	 ctx;		/* the request being run */
	struct procctl_ctx	*deferred;	/* its reply, owned by the
						 * plugin until finish */
	uint64_t		 auth_timer;	/* a failed AUTH's late reply */
	uint64_t		 events_dropped;
	const struct session_io	*io;
	void			*conn;
	/* The subscriber index: a group per user, one for admins. */
	struct user_subs	*sub;		/* NULL: not subscribed */
	LIST_ENTRY(session)	 sub_link;
};

/* The subscribed sessions of one user (or of the admins).  Allocated one
 * by one, so a session's pointer to its group never moves; freed when
 * its last member leaves. */
struct user_subs {
	uid_t			 uid;
	LIST_HEAD(, session)	 members;
	LIST_ENTRY(user_subs)	 link;
};

static struct session_limits limits;
static struct resp_limits parse_limits, noauth_limits;
static uint64_t next_id = 1;
static unsigned long auth_failures_total;
static LIST_HEAD(, user_subs) subs = LIST_HEAD_INITIALIZER(subs);
/* Every session by id: a push to one connection (`logs -f`) goes to it
 * whether it subscribed or not. */
#define ID_BUCKETS	1024
static LIST_HEAD(, session) by_id[ID_BUCKETS];
static struct user_subs admins = { (uid_t)-1, LIST_HEAD_INITIALIZER(),
    { NULL, NULL } };

static void deliver(const struct procctl_ctx *p);

const char *
session_user(const struct session *s)
{
	return s->user;
}

const char *
session_peer(const struct session *s)
{
	return s->peer;
}

uint64_t
session_id(const struct session *s)
{
	return s->id;
}

int
session_authed(const struct session *s)
{
	return s->authed;
}

/* ---- the subscriber index ---- */

static struct user_subs *
subs_group(uid_t uid, int create)
{
	struct user_subs *g;

	LIST_FOREACH(g, &subs, link)
		if (g->uid == uid)
			return g;
	if (!create || (g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->uid = uid;
	LIST_INIT(&g->members);
	LIST_INSERT_HEAD(&subs, g, link);
	return g;
}

static void
unsubscribe(struct session *s)
{
	struct user_subs *g = s->sub;

	if (g == NULL)
		return;
	LIST_REMOVE(s, sub_link);
	s->sub = NULL;
	if (g != &admins && LIST_EMPTY(&g->members)) {
		LIST_REMOVE(g, link);
		free(g);
	}
}

/* In the group its identity puts it in now; -1 when out of memory. */
static int
subscribe(struct session *s)
{
	struct user_subs *g;

	unsubscribe(s);
	g = s->caller.admin ? &admins : subs_group(s->caller.uid, 1);
	if (g == NULL)
		return -1;
	LIST_INSERT_HEAD(&g->members, s, sub_link);
	s->sub = g;
	s->caller.interactive = 1;
	return 0;
}

/* ---- identity ---- */

/* The name of UID, cached: NSS lookups may be slow and the loop must not
 * wait on them more than once per user. */
static void
user_name(uid_t uid, char *out, size_t size)
{
	static struct { uid_t uid; char name[64]; } cache[32];
	static size_t next;
	struct passwd pw, *res = NULL;
	char tmp[1024];
	size_t i;

	for (i = 0; i < sizeof(cache) / sizeof(cache[0]); i++)
		if (cache[i].name[0] != '\0' && cache[i].uid == uid) {
			snprintf(out, size, "%s", cache[i].name);
			return;
		}
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(out, size, "%s", pw.pw_name);
	else
		snprintf(out, size, "%u", (unsigned)uid);
	i = next++ % (sizeof(cache) / sizeof(cache[0]));
	cache[i].uid = uid;
	snprintf(cache[i].name, sizeof(cache[i].name), "%s", out);
}

/* Root and the daemon's own user: not defended against, not capped. */
static int
uncapped(uid_t uid)
{
	return uid == 0 || uid == access_self_uid();
}

/* A slot of UID for S (giving back the one it held): 0, or -1 when UID
 * has no slot left. */
static int
take_user_slot(struct session *s, uid_t uid)
{
	if (s->user_slot && s->slot_uid == uid)
		return 0;
	if (!uncapped(uid) && slots_user_take(uid) == -1)
		return -1;
	if (s->user_slot)
		slots_user_give(s->slot_uid);
	s->user_slot = !uncapped(uid);
	s->slot_uid = uid;
	return 0;
}

/* S's user has no slot left: the words for them into MSG, a log line,
 * and the session closes once they are sent. */
static void
slot_refusal(struct session *s, char *msg, size_t size)
{
	snprintf(msg, size, "too many connections of user '%s' "
	    "(max_clients_per_user is %zu)", s->user, slots_per_user());
	log_warn("refused uid %u (%s) %s: max_clients_per_user (%zu) "
	    "reached", (unsigned)s->caller.uid, s->user, s->peer,
	    slots_per_user());
	s->quit = 1;
}

/* Become USER (TCP peers): 0, -1 if there is no such local user, -2 if
 * [access] refuses them, -3 if they hold max_clients_per_user. */
static int
set_user(struct session *s, const char *user)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	gid_t *groups;
	size_t n;
	int admin;

	if (getpwnam_r(user, &pw, tmp, sizeof(tmp), &res) != 0 || res == NULL)
		return -1;
	if (access_groups_of(pw.pw_name, pw.pw_gid, &groups, &n) == -1)
		return -1;
	free(s->groups);
	s->groups = groups;
	s->ngroups = n;
	s->caller.uid = pw.pw_uid;
	s->caller.gid = pw.pw_gid;
	snprintf(s->user, sizeof(s->user), "%s", pw.pw_name);
	if (!access_decide(pw.pw_uid, pw.pw_gid, groups, n, &admin)) {
		log_warn("refused %s (uid %u) from %s: not allowed by "
		    "[access]", s->user, (unsigned)pw.pw_uid, s->peer);
		return -2;
	}
	if (take_user_slot(s, pw.pw_uid) == -1)
		return -3;
	s->caller.admin = admin;
	s->policy_gen = access_generation();
	s->authed = 1;
	return 0;
}

/* The policy again, if it was reloaded since: 1 if still allowed. */
static int
recheck(struct session *s)
{
	int admin, was = s->caller.admin;

	if (!s->authed || s->policy_gen == access_generation())
		return 1;
	if (!access_decide(s->caller.uid, s->caller.gid, s->groups,
	    s->ngroups, &admin))
		return 0;
	s->caller.admin = admin;
	s->policy_gen = access_generation();
	if (admin != was && s->sub != NULL && subscribe(s) == -1)
		unsubscribe(s);
	return 1;
}

/* Refused at the door: one error, a log line with who it was. */
static void
refuse(struct session *s, const char *why_log)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "user '%s' (uid %u) may not use this "
	    "procctld", s->user, (unsigned)s->caller.uid);
	resp_put_error(s->out, "NOPERM", msg);
	log_warn("refused uid %u (%s) pid %d: %s", (unsigned)s->caller.uid,
	    s->user, (int)s->caller.pid, why_log);
	s->quit = 1;
}

struct session *
session_new(struct peer *p, struct buf *out, const struct session_io *io,
    void *conn)
{
	struct session *s;
	char msg[160];

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->id = next_id++;
	LIST_INSERT_HEAD(&by_id[s->id % ID_BUCKETS], s, id_link);
	s->out = out;
	s->io = io;
	s->conn = conn;
	s->proto = 2;
	s->tcp = p->tcp;
	s->groups = p->groups;
	s->ngroups = p->ngroups;
	p->groups = NULL;
	snprintf(s->peer, sizeof(s->peer), "%s", p->addr);
	snprintf(s->host, sizeof(s->host), "%s", p->host);
	s->caller.conn_id = s->id;
	s->caller.session = s->id;
	s->caller.uid = p->uid;
	s->caller.gid = p->gid;
	s->caller.pid = p->pid;
	s->caller.user = s->user;
	if (p->tcp) {
		/* No kernel identity: nobody until AUTH says who. */
		snprintf(s->user, sizeof(s->user), "-");
		log_debug("client %llu connected from %s",
		    (unsigned long long)s->id, s->peer);
		return s;
	}
	user_name(p->uid, s->user, sizeof(s->user));
	if (!access_decide(p->uid, p->gid, s->groups, s->ngroups,
	    &s->caller.admin)) {
		refuse(s, "not allowed by [access]");
		return s;
	}
	if (take_user_slot(s, p->uid) == -1) {
		slot_refusal(s, msg, sizeof(msg));
		resp_put_error(s->out, "LIMIT", msg);
		return s;
	}
	s->policy_gen = access_generation();
	s->authed = 1;
	log_debug("client %llu connected: uid %u (%s) pid %d",
	    (unsigned long long)s->id, (unsigned)p->uid, s->user, (int)p->pid);
	return s;
}

void
session_cert_user(struct session *s, const char *user)
{
	char msg[160];
	int rc;

	if (user == NULL) {
		stats.auth_failures++;
		log_warn("client %llu from %s: client certificate names no "
		    "user; closing", (unsigned long long)s->id, s->peer);
		resp_put_error(s->out, "NOPERM", "your certificate names no "
		    "user (its subject needs a CN)");
		s->quit = 1;
		return;
	}
	if ((rc = set_user(s, user)) == 0) {
		s->cert_user = 1;
		log_info("client %llu (%s) authenticated as %s by certificate",
		    (unsigned long long)s->id, s->peer, user);
		return;
	}
	if (rc == -3) {
		slot_refusal(s, msg, sizeof(msg));
		resp_put_error(s->out, "LIMIT", msg);
		return;
	}
	if (rc == -1)
		log_warn("client %llu from %s: certificate for '%.64s', who "
		    "has no local account; closing",
		    (unsigned long long)s->id, s->peer, user);
	snprintf(msg, sizeof(msg), "user '%.64s' may not use this procctld",
	    user);
	resp_put_error(s->out, "NOPERM", msg);
	s->quit = 1;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	LIST_REMOVE(s, id_link);
	unsubscribe(s);
	if (s->user_slot)
		slots_user_give(s->slot_uid);
	if (s->auth_timer != 0 || s->try != NULL) {
		/* Our own deferred reply: nobody else will finish it.  A
		 * check under way still counts against its name and
		 * address. */
		if (s->auth_timer != 0)
			loop_timer_cancel(s->auth_timer);
		authtry_detach(s->try);
		s->try = NULL;
		reply_orphan(s->deferred);
		reply_finish(s->deferred);
		s->deferred = NULL;
	}
	if (s->deferred != NULL)
		reply_orphan(s->deferred);	/* the plugin still owns it */
	/* Plugins may push to others from here, never to this one. */
	plugin_run_disconnect(&s->caller);
	buf_free(&s->pushq);
	resp_req_free(&s->req);
	free(s->groups);
	free(s);
}

/* The policy no longer lets S's user in: no more events, and the
 * connection goes now (after a reply it owes, if it is dispatching; a
 * deferred one is abandoned with it).  A RESP3 peer is told why first,
 * out of band: an event that says itself (`revoked`), never a reply it
 * could take for the answer to a request. */
static void
revoke(struct session *s)
{
	struct procctl_ctx *note;
	const struct buf *frame;

	log_warn("uid %u (%s) pid %d: no longer allowed by [access]; "
	    "closing", (unsigned)s->caller.uid, s->user, (int)s->caller.pid);
	unsubscribe(s);
	if (s->proto == 3 && (note = push_begin(s->caller.uid, s->id)) !=
	    NULL) {
		reply_array(note, 3);
		reply_str(note, "event");
		reply_str(note, "revoked");
		reply_map(note, 1);
		reply_str(note, "text");
		reply_str(note, "your access to this procctld was revoked "
		    "([access] changed); closing");
		frame = push_frame(note, s->proto);
		if (!frame->failed)
			buf_append(s->dispatching ? &s->pushq : s->out,
			    buf_head(frame), buf_avail(frame));
		push_free(note);
	}
	s->quit = 1;
	if (!s->dispatching)
		s->io->wake(s->conn);	/* may free S */
}

/*
 * The [access] policy was reloaded: it applies to every open connection
 * at once, not at its next command -- an event stream may send none for
 * hours.  A user no longer allowed is closed; an admin no longer an
 * admin (or a user become one) is moved to the events they may see now.
 */
void
session_policy_changed(void)
{
	struct session *s, *next;
	size_t b;

	for (b = 0; b < ID_BUCKETS; b++)
		for (s = LIST_FIRST(&by_id[b]); s != NULL; s = next) {
			next = LIST_NEXT(s, id_link);
			if (!s->quit && !recheck(s))
				revoke(s);
		}
}

/* ---- requests ---- */

static void
on_deferred(void *owner, struct procctl_ctx *d)
{
	struct session *s = owner;

	s->deferred = d;
}

static void
on_finished(void *owner, struct procctl_ctx *d)
{
	struct session *s = owner;

	if (d->own.failed)
		s->out->failed = 1;	/* never a half reply: close */
	else
		buf_append(s->out, buf_head(&d->own), buf_avail(&d->own));
	s->deferred = NULL;
	if (!s->dispatching)
		s->io->wake(s->conn);
}

static const struct reply_sink sink = { on_deferred, on_finished };

static void
run_request(struct session *s, int argc, const struct procctl_arg *argv)
{
	struct procctl_ctx *ctx = &s->ctx;

	reply_begin(ctx, s->out, s->proto, &s->caller, &sink, s);
	ctx->max_out = limits.max_output;
	s->dispatching = 1;
	if (!recheck(s)) {
		reply_error(ctx, "NOPERM", "user '%s' may no longer use this "
		    "procctld", s->user);
		log_warn("uid %u (%s) pid %d: no longer allowed by [access]; "
		    "closing", (unsigned)s->caller.uid, s->user,
		    (int)s->caller.pid);
		s->quit = 1;
	} else
		dispatch(ctx, s->authed, argc, argv);
	s->dispatching = 0;
	if (s->deferred == NULL)
		reply_complete(ctx);
	if (s->pushq.failed)
		s->out->failed = 1;	/* an event lost to memory: close */
	else if (buf_avail(&s->pushq) > 0)
		buf_append(s->out, buf_head(&s->pushq), buf_avail(&s->pushq));
	buf_reset(&s->pushq);
}

static void
protocol_error(struct session *s, const char *err)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "Protocol error: %s", err);
	resp_put_error(s->out, "PROTO", msg);
	log_info("client %llu (uid %u pid %d): protocol error: %s; closing",
	    (unsigned long long)s->id, (unsigned)s->caller.uid,
	    (int)s->caller.pid, err);
	s->quit = 1;
}

int
session_state(const struct session *s)
{
	if (s->quit)
		return SESSION_CLOSE;
	return s->deferred != NULL ? SESSION_WAIT : SESSION_MORE;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * A batch ends after max_batch requests, or once it has taken BATCH_US
 * of the loop (a pipeline of slow commands), or when the peer is not
 * reading its replies.
 */
int
session_input(struct session *s, char *p, size_t n, size_t *used)
{
	const char *err = NULL;
	size_t took, runs = 0;
	uint64_t start = now_us();
	int rc;

	*used = 0;
	while (!s->quit && s->deferred == NULL) {
		/* The clock is read every 4th request: cheap requests
		 * should not pay for it each time. */
		if (runs == limits.max_batch ||
		    (runs % 4 == 3 && now_us() - start >= BATCH_US) ||
		    buf_avail(s->out) >= OUT_HIGH_WATER(limits.max_output) ||
		    s->out->failed)
			return *used < n ? SESSION_BUSY : SESSION_MORE;
		if (*used == n)
			return SESSION_MORE;
		rc = resp_parse_request(&s->req, p + *used, n - *used, &took,
		    s->authed ? &parse_limits : &noauth_limits, &err);
		if (rc == RESP_MORE)
			return SESSION_MORE;
		if (rc == RESP_BAD) {
			protocol_error(s, err);
			*used = n;
			break;
		}
		if (s->req.argc > 0) {
			run_request(s, s->req.argc, s->req.argv);
			runs++;
		}
		*used += took;
	}
	return session_state(s);
}

/* ---- pushes ---- */

/* Tell a reader what it missed, before the next event it gets. */
static void
put_dropped(struct session *s, struct buf *dst)
{
	struct procctl_ctx *note;

	if ((note = push_begin(s->caller.uid, s->id)) == NULL)
		return;
	reply_array(note, 3);
	reply_str(note, "event");
	reply_str(note, "dropped");
	reply_int(note, (long long)s->events_dropped);
	if (push_frame(note, s->proto)->failed)
		dst->failed = 1;	/* never half a notice: close */
	else
		buf_append(dst, buf_head(push_frame(note, s->proto)),
		    buf_avail(push_frame(note, s->proto)));
	push_free(note);
	s->events_dropped = 0;
}

static void
deliver_one(struct session *s, const struct procctl_ctx *p)
{
	struct buf *dst = s->dispatching ? &s->pushq : s->out;
	const struct buf *frame = push_frame(p, s->proto);

	if (s->quit)
		return;
	/* A slow reader loses events (and followed lines), never replies:
	 * past OUT_HIGH_WATER unread, so that a reader that never reads
	 * costs that much, not a quarter of max_output. */
	if (buf_avail(s->out) + buf_avail(&s->pushq) >
	    OUT_HIGH_WATER(limits.max_output)) {
		s->events_dropped++;
		stats.events_dropped++;
		return;
	}
	if (s->events_dropped > 0)
		put_dropped(s, dst);
	buf_append(dst, buf_head(frame), buf_avail(frame));
	if (!s->dispatching)
		s->io->wake(s->conn);
}

/* Delivering changes no group (it only appends to output buffers). */
static void
deliver_group(struct user_subs *g, const struct procctl_ctx *p)
{
	struct session *s;

	LIST_FOREACH(s, &g->members, sub_link)
		if (p->push_conn == 0 || p->push_conn == s->id)
			deliver_one(s, p);
}

static void
deliver(const struct procctl_ctx *p)
{
	struct user_subs *g;

	struct session *s;

	if (p->push_conn != 0) {	/* one connection, subscribed or not */
		LIST_FOREACH(s, &by_id[p->push_conn % ID_BUCKETS], id_link)
			if (s->id == p->push_conn)
				deliver_one(s, p);
		return;
	}
	if ((g = subs_group(p->push_uid, 0)) != NULL)
		deliver_group(g, p);
	deliver_group(&admins, p);
}

/* ---- the session's commands ---- */

/* ---- AUTH ---- */

static void
auth_fail_later(void *arg)
{
	struct procctl_ctx *d = arg;
	struct session *s = d->owner;

	if (s != NULL)
		s->auth_timer = 0;
	reply_error(d, "AUTH", "invalid username or secret");
	reply_finish(d);
}

/* A wrong secret, or one not checked (throttled): the same error,
 * AUTH_DELAY_MS late, whatever was wrong. */
static void
auth_failed(struct session *s, int verdict)
{
	struct procctl_ctx *d = s->deferred;

	s->auth_failures++;
	auth_failures_total++;
	stats.auth_failures++;
	/* authtry.c said why it did not check. */
	if (verdict == AUTHTRY_FAIL)
		log_warn("authentication failure from %s for user '%.64s' (%lu "
		    "on this connection, %lu since start)", s->peer,
		    s->try_user, s->auth_failures, auth_failures_total);
	if ((s->auth_timer = loop_timer_add(AUTH_DELAY_MS, auth_fail_later,
	    d)) == 0)
		auth_fail_later(d);
}

/*
 * SESSION token: this connection continues the client's session of that
 * name (a shell that reconnects after the server restarted).  The key
 * mixes the user in, so a token names a session of one user only; FNV-1a
 * is enough: the token is the client's own, not a secret.
 */
static int
token_ok(const struct procctl_arg *tok)
{
	return tok->len >= 8 && tok->len <= 64 &&
	    strspn(tok->ptr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
	    "UVWXYZ0123456789-_") == tok->len;
}

static void
name_session(struct session *s, const struct procctl_arg *tok)
{
	uint64_t h = 14695981039346656037ULL;
	uint32_t uid = (uint32_t)s->caller.uid;
	size_t i;

	for (i = 0; i < sizeof(uid); i++)
		h = (h ^ ((uid >> (8 * i)) & 0xff)) * 1099511628211ULL;
	for (i = 0; i < tok->len; i++)
		h = (h ^ (unsigned char)tok->ptr[i]) * 1099511628211ULL;
	s->caller.session = h | PROCCTL_SESSION_NAMED;
}

static void
reply_hello(struct procctl_ctx *ctx, const struct session *s)
{
	reply_map(ctx, 10);
	reply_str(ctx, "server");
	reply_str(ctx, "procctld");
	reply_str(ctx, "version");
	reply_str(ctx, PROCCTLD_VERSION);
	reply_str(ctx, "proto");
	reply_int(ctx, s->proto);
	reply_str(ctx, "id");
	reply_int(ctx, (long long)s->id);
	reply_str(ctx, "mode");
	reply_str(ctx, "standalone");
	reply_str(ctx, "role");
	reply_str(ctx, "master");
	reply_str(ctx, "user");
	reply_str(ctx, s->user);
	reply_str(ctx, "admin");
	reply_bool(ctx, s->caller.admin);
	reply_str(ctx, "limits");
	reply_map(ctx, 5);
	reply_str(ctx, "max_request");
	reply_int(ctx, (long long)limits.max_request);
	reply_str(ctx, "max_args");
	reply_int(ctx, (long long)limits.max_args);
	reply_str(ctx, "max_output");
	reply_int(ctx, (long long)limits.max_output);
	reply_str(ctx, "max_clients");		/* of its own pool */
	reply_int(ctx, (long long)slots_limit(s->tcp ? SLOT_TCP :
	    SLOT_LOCAL));
	reply_str(ctx, "max_clients_per_user");
	reply_int(ctx, (long long)slots_per_user());
	reply_str(ctx, "commands");
	command_reply_docs(ctx);
}

/* HELLO's reply, once the peer is known: VER (0: unchanged), TOK (the
 * SESSION token, or NULL). */
static void
hello_done(struct procctl_ctx *ctx, struct session *s, int ver,
    const struct procctl_arg *tok)
{
	if (ver != 0) {
		s->proto = ver;
		ctx->proto = ver;
	}
	if (tok != NULL)
		name_session(s, tok);
	if (s->caller.session & PROCCTL_SESSION_NAMED)
		plugin_run_session(&s->caller);
	reply_hello(ctx, s);
}

/* The verdict on the AUTH (or HELLO ... AUTH) whose reply is deferred. */
static void
on_verdict(void *owner, int verdict)
{
	struct session *s = owner;
	struct procctl_ctx *d = s->deferred;
	struct procctl_arg tok = { s->try_tok, strlen(s->try_tok) };
	char msg[160];
	int rc = -1;

	s->try = NULL;
	if (verdict == AUTHTRY_OK && (rc = set_user(s, s->try_user)) == -1)
		log_warn("user '%.64s' has a secret but no local account; "
		    "refused", s->try_user);
	if (rc == -1) {
		auth_failed(s, verdict == AUTHTRY_OK ? AUTHTRY_FAIL : verdict);
		return;
	}
	/* Pushes the plugins make meanwhile come after the reply, as in
	 * run_request. */
	s->dispatching = 1;
	if (rc == 0) {
		log_info("client %llu (%s) authenticated as %s",
		    (unsigned long long)s->id, s->peer, s->try_user);
		if (s->try_hello != 0)
			hello_done(d, s, s->try_hello, tok.len > 0 ? &tok :
			    NULL);
		else
			reply_simple(d, "OK");
	} else if (rc == -2) {
		/* Who they are is proven: say why, and close. */
		reply_error(d, "NOPERM", "user '%.64s' may not use this "
		    "procctld", s->try_user);
		s->quit = 1;
	} else {
		slot_refusal(s, msg, sizeof(msg));
		reply_error(d, "LIMIT", "%s", msg);
	}
	reply_finish(d);
	s->dispatching = 0;
	if (s->pushq.failed)
		s->out->failed = 1;
	else if (buf_avail(&s->pushq) > 0)
		buf_append(s->out, buf_head(&s->pushq), buf_avail(&s->pushq));
	buf_reset(&s->pushq);
	s->io->wake(s->conn);
}

/*
 * Check USER's SECRET for a TCP peer (for HELLO version HELLO with
 * SESSION token TOK, or 0 for AUTH): the reply is deferred until
 * authtry.c's verdict, which holds back whatever the peer pipelined
 * behind it.  Refused at once on the local socket and for a peer its
 * certificate named.
 */
static void
authenticate(struct procctl_ctx *ctx, const struct procctl_arg *user,
    const struct procctl_arg *secret, int hello,
    const struct procctl_arg *tok)
{
	struct session *s = ctx->owner;
	struct procctl_ctx *d;

	if (!s->tcp) {
		reply_error(ctx, "AUTH", "AUTH is for remote clients; on the "
		    "local socket you are '%s', as the kernel says", s->user);
		return;
	}
	if (s->cert_user) {
		reply_error(ctx, "AUTH", "you are '%s', as your client "
		    "certificate says; AUTH is not needed", s->user);
		return;
	}
	s->try_hello = hello;
	snprintf(s->try_user, sizeof(s->try_user), "%.*s", (int)(user->len <
	    sizeof(s->try_user) ? user->len : sizeof(s->try_user) - 1),
	    user->ptr);
	snprintf(s->try_tok, sizeof(s->try_tok), "%s", tok != NULL ?
	    tok->ptr : "");
	if ((d = reply_defer(ctx)) == NULL) {
		reply_error(ctx, "ERR", "out of memory");
		return;
	}
	s->try = authtry_start(user->ptr, user->len, s->host, secret->ptr,
	    secret->len, on_verdict, s);
	if (s->try == NULL) {
		reply_error(d, "ERR", "out of memory");
		reply_finish(d);
	}
}

static void
cmd_auth(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	static const struct procctl_arg def = { "default", 7 };

	/* AUTH <secret> is Redis's form for the user "default". */
	authenticate(ctx, argc == 3 ? &argv[1] : &def,
	    argc == 3 ? &argv[2] : &argv[1], 0, NULL);
}

/* HELLO's option words (Redis's syntax: a word, then its values), which
 * a declaration of options cannot express. */
enum { HELLO_AUTH, HELLO_SETNAME, HELLO_SESSION };
static const struct {
	const char	*word;
	int		 nvalues;
} hello_words[] = {
	[HELLO_AUTH] = { "auth", 2 },		/* AUTH user secret */
	[HELLO_SETNAME] = { "setname", 1 },	/* SETNAME name */
	[HELLO_SESSION] = { "session", 1 },	/* SESSION token */
};

static int
hello_word(const struct procctl_arg *a)
{
	size_t k;

	for (k = 0; k < sizeof(hello_words) / sizeof(hello_words[0]); k++)
		if (strlen(a->ptr) == a->len &&
		    strcasecmp(a->ptr, hello_words[k].word) == 0)
			return (int)k;
	return -1;
}

/*
 * Before a TCP peer has proven who it is, only a HELLO that carries AUTH
 * is answered, and anything else with Redis's -NOAUTH: not the
 * version, the limits or the commands.
 */
static void
cmd_hello(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_arg *auth = NULL, *tok = NULL;
	struct session *s = ctx->owner;
	int i, ver = 0, w;

	if (argc >= 2) {
		if (strcmp(argv[1].ptr, "2") != 0 &&
		    strcmp(argv[1].ptr, "3") != 0) {
			if (!s->authed)
				goto noauth;
			reply_error(ctx, "NOPROTO", "unsupported protocol "
			    "version; this server speaks 2 and 3");
			return;
		}
		ver = argv[1].ptr[0] - '0';
		/* Redis's option words, in any order, each with its
		 * values. */
		for (i = 2; i < argc; i += 1 + hello_words[w].nvalues) {
			w = hello_word(&argv[i]);
			if (w == -1 || i + hello_words[w].nvalues >= argc) {
				if (!s->authed)
					goto noauth;
				reply_error(ctx, "ARGS", "unknown option "
				    "'%.64s'; usage: %s", argv[i].ptr,
				    ctx->cmd->usage);
				return;
			}
			if (w == HELLO_AUTH)
				auth = &argv[i + 1];
			else if (w == HELLO_SESSION)
				tok = &argv[i + 1];
		}
	}
	if (auth == NULL && !s->authed)
		goto noauth;
	if (tok != NULL && !token_ok(tok)) {
		reply_error(ctx, "ARGS", "SESSION token: 8 to 64 letters, "
		    "digits, '-' or '_'");
		return;
	}
	if (auth != NULL)
		authenticate(ctx, auth, auth + 1, ver, tok);
	else
		hello_done(ctx, s, ver, tok);
	return;
noauth:
	reply_error(ctx, "NOAUTH", "Authentication required.");
}

static void
cmd_subscribe(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	(void)argc;
	(void)argv;
	if (subscribe(ctx->owner) == -1) {
		reply_error(ctx, "ERR", "out of memory");
		return;
	}
	reply_simple(ctx, "OK");
}

/* The pushes of the following commands this connection ran end here:
 * the plugins drop its follows at once, so that none of their pushes
 * comes after this reply (docs/protocol.md).  The connection, its
 * subscription and its session go on. */
static void
cmd_unfollow(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	struct session *s = ctx->owner;

	(void)argc;
	(void)argv;
	plugin_run_unfollow(&s->caller);
	reply_simple(ctx, "OK");
}

static void
cmd_quit(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	struct session *s = ctx->owner;

	(void)argc;
	(void)argv;
	reply_simple(ctx, "OK");
	s->quit = 1;
}

static const struct procctl_param auth_params[] = {
	{ "user", PROCCTL_PARAM_WORD, NULL, 0, 1, 0, NULL, NULL, NULL },
	{ "secret", PROCCTL_PARAM_WORD, NULL, 1, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param hello_params[] = {
	{ "protover", PROCCTL_PARAM_WORD, NULL, 0, 1, 0, NULL, NULL, NULL },
	{ "AUTH user secret | SETNAME name | SESSION token", PROCCTL_PARAM_WORD, NULL, 0, 0,
	  PROCCTL_PARAM_REST, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param subscribe_params[] = {
	{ "channel", PROCCTL_PARAM_WORD, NULL, 0, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param no_params[] = {
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct {
	struct procctl_command	 cmd;
	unsigned		 core_flags;
} commands[] = {
	{ { "auth", cmd_auth, 0, "AUTH [user] secret",
	    "Authenticate a TCP connection (local peers are known from the "
	    "kernel)", 0, NULL, auth_params, "protocol" }, CMD_NO_AUTH },
	{ { "hello", cmd_hello, 0, "HELLO [2|3] [AUTH user secret] "
	    "[SETNAME name] [SESSION token]",
	    "Choose the protocol version; describes the server and its "
	    "commands", 0, NULL, hello_params, "protocol" }, CMD_NO_AUTH },
	{ { "subscribe", cmd_subscribe, 0, "SUBSCRIBE",
	    "Receive on this connection the events plugins push to you", 0,
	    NULL, subscribe_params, "protocol" }, 0 },
	{ { "unfollow", cmd_unfollow, 0, "UNFOLLOW",
	    "End what following commands (given --follow) push to this "
	    "connection, which stays open", 0, NULL, no_params,
	    "protocol" }, 0 },
	{ { "quit", cmd_quit, 0, "QUIT",
	    "Close the connection after the reply", 0, NULL, no_params,
	    "protocol" }, CMD_NO_AUTH },
};

int
session_init(const struct session_limits *l)
{
	size_t i;

	limits = *l;
	if (limits.max_batch == 0)
		limits.max_batch = 64;
	parse_limits.max_bulk = l->max_request;
	parse_limits.max_args = l->max_args;
	parse_limits.max_inline = l->max_request < 64 * 1024 ?
	    l->max_request : 64 * 1024;
	noauth_limits.max_bulk = NOAUTH_BULK < l->max_request ? NOAUTH_BULK :
	    l->max_request;
	noauth_limits.max_args = NOAUTH_ARGS;
	noauth_limits.max_inline = noauth_limits.max_bulk;
	push_set_deliver(deliver);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (command_add(&commands[i].cmd, PROCCTL_ABI_MINOR,
		    commands[i].core_flags, NULL, "core") == -1)
			return -1;
	return 0;
}

void
session_fini(void)
{
	struct user_subs *g;

	/* Every session is gone by now, and with them their groups. */
	while ((g = LIST_FIRST(&subs)) != NULL) {
		LIST_REMOVE(g, link);
		free(g);
	}
}
