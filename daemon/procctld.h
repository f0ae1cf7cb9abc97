/*
 * procctld: the structures and functions the daemon's files share, one
 * section per file.  One thread, one epoll loop.
 *
 * Calls go one way, top to bottom:
 *
 *   main -> listen -> conn (transport: bytes, buffers, TLS behind
 *   struct transport) -> session (who the peer is, auth, protocol version,
 *   subscriptions, requests in order) -> dispatch (the auth gate, flags,
 *   arguments) -> plugin host -> command table -> args -> reply -> resp ->
 *   buf, and plugin host -> children (the monitor's messages),
 *
 * with loop, log, config, access and auth below everything.  A lower file
 * never calls a higher one: it takes a callback (loop's fd callbacks,
 * struct session_io, struct reply_sink, the push delivery function).
 */
#ifndef PROCCTLD_H
#define PROCCTLD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "resp.h"
#include "procctl/plugin.h"
#include "monitor.h"

/* A drop-in file in MON_FILES: its name and bytes. */
struct mon_include {
	const char	*name;
	const char	*data;
	size_t		 len;
};

/* Files the monitor read for the server (MON_FILES), by MON_FILE_* role;
 * NULL where there was none.  Pointers into the message. */
struct mon_files {
	const char		*data[MON_FILE_MAX];
	size_t			 len[MON_FILE_MAX];
	struct mon_include	*inc;		/* owned array: the drop-ins,
						 * in the order read */
	size_t			 ninc;
};

#define PROCCTLD_VERSION	"0.1.0"
#define EX_CONFIG_CODE		78	/* sysexits EX_CONFIG */

/* ---- log.c ---- */
enum { LOG_ERROR = PROCCTL_LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void	log_init(int level);
void	log_set_level(int level);
int	log_level_parse(const char *s);
void	log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vmsg(int level, const char *prefix, const char *fmt, va_list ap);
/* Until log_capture(NULL, 0): the first error logged is also copied
 * into BUF (SIZE bytes), so that a reply can say why. */
void	log_capture(char *buf, size_t size);
void	log_output(const char *who, const char *stream, const char *text,
	    size_t len);
#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* ---- loop.c ---- */
struct watch;
struct timer;
typedef void (*loop_fd_fn)(int fd, unsigned events, void *arg);
typedef void (*loop_timer_fn)(void *arg);
/* Before each wait for events: returns 1 when work is already waiting
 * (the wait must not sleep), 0 otherwise. */
typedef int (*loop_sleep_fn)(void);

#define LOOP_READ	PROCCTL_EV_READ
#define LOOP_WRITE	PROCCTL_EV_WRITE
#define LOOP_ERROR	PROCCTL_EV_ERROR

int		 loop_init(void);
void		 loop_free(void);
/* Watchers are owned by the loop; unwatch marks them dead and they are
 * freed after the current batch of events, so a callback may unwatch any
 * fd (its own included) safely. */
struct watch	*loop_watch(int fd, unsigned events, loop_fd_fn fn, void *arg);
int		 loop_modify(struct watch *w, unsigned events);
void		 loop_unwatch(struct watch *w);
uint64_t	 loop_timer_add(uint64_t ms, loop_timer_fn fn, void *arg);
void		 loop_timer_cancel(uint64_t id);
/* Called after the events and timers of every turn, before the wait. */
void		 loop_set_before_sleep(loop_sleep_fn fn);
int		 loop_run(void);
void		 loop_stop(void);
uint64_t	 loop_now_ms(void);

/* ---- config.c ---- */
struct kv {
	char	*key;
	char	*value;
	int	 line;
};

struct plugin_conf {
	char		*name;
	char		*path;		/* as written; resolved at load */
	int		 line;
	char		*file;		/* a drop-in file it was read from;
					 * NULL: the -c file */
	struct kv	*kv;		/* the plugin's own keys */
	size_t		 nkv;
};

/* One file of a configuration, as read: the -c file or a drop-in. */
struct config_file {
	char		*name;		/* owned: as opened */
	char		*text;		/* owned: LEN bytes */
	size_t		 len;
};

/* A configuration's bytes: v[0] the -c file, then the drop-in files its
 * [daemon] include names, in name order.  What the monitor reads, keeps
 * for a restarted server and sends on reload; what the server parses. */
struct config_text {
	struct config_file	*v;		/* owned */
	size_t			 n;
};

struct config {
	char			*file;		/* NULL: built-in defaults */
	char			*include;	/* [daemon] include: a glob */
	int			 include_line;
	char			*socket;
	mode_t			 socket_mode;
	char			*plugin_dir;
	int			 log_level;
	char			*log_file;	/* NULL: stderr */
	size_t			 log_max;	/* rotated past this; 0: never */
	unsigned		 log_backups;	/* rotated files kept */
	size_t			 max_clients;	/* local peers; 0: bounded by
						 * RLIMIT_NOFILE */
	size_t			 max_clients_per_user;	/* 0: no cap */
	size_t			 max_request;
	size_t			 max_args;
	size_t			 max_output;
	size_t			 max_batch;	/* requests per client per turn */
	struct plugin_conf	*plugins;
	size_t			 nplugins;
	struct plugin_conf	*sections;	/* [kind:name] other than
						 * plugin: ("program:web"),
						 * for the plugins to read */
	size_t			 nsections;
	int			 load_all;	/* no file: every .so in dir */
	char			**tcp_listen;	/* "host:port", owned */
	size_t			 ntcp;
	char			*tcp_secrets;	/* file of user:hash lines */
	size_t			 tcp_max_clients;
	size_t			 tcp_max_per_address;	/* 0: no cap */
	uint64_t		 auth_timeout_ms;
	int			 tcp_line;	/* where [tcp] was, for errors */
	char			*tls_cert;	/* PEM chain: TLS on every listen */
	char			*tls_key;
	char			*tls_client_ca;	/* set: client certificates */
	char			*socket_group;
	char			*server_user;	/* the server drops root to it */
	int			 live_restore;	/* a stop leaves processes */
	char			*allow_users;	/* [access], as written */
	char			*allow_groups;
	char			*admin_users;
	char			*admin_groups;
	char			*metrics_listen;	/* [metrics]: ADDR:PORT,
							 * NULL: off */
	char			*metrics_tls_cert;	/* HTTPS with these */
	char			*metrics_tls_key;
	int			 metrics_line;	/* where [metrics] was */
};

void	config_defaults(struct config *c);
/* Parse F into C: the -c file, or (DROPIN) one of its drop-in files, in
 * which [daemon], [tcp] and [access] are refused.  0, or -1 after
 * logging every problem (file:line). */
int	config_parse(struct config *c, const struct config_file *f,
	    int dropin);
/* Parse T's files from index FROM on into C, then check what spans
 * sections ([tcp]'s keys together).  0, or -1 after logging every
 * problem (file:line). */
int	config_load_text(struct config *c, const struct config_text *t,
	    size_t from);
void	config_free(struct config *c);
/* N sections at V (plugins' or [kind:name]), and V itself. */
void	config_sections_free(struct plugin_conf *v, size_t n);
int	config_parse_size(const char *s, size_t *out);

/* ---- confread.c: the configuration's files read from disk ---- */
/* PATH as written in FILE: relative to FILE's directory.  Malloc'd. */
char	*confread_beside(const char *file, const char *path);
/* Append to T a copy of NAME and of LEN bytes of TEXT: 0, or -1. */
int	confread_text_add(struct config_text *t, const char *name,
	    const char *text, size_t len);
void	confread_text_free(struct config_text *t);
/* The whole of PATH, malloc'd (REGULAR: only a regular file, opened
 * without blocking); -1 after logging. */
int	confread_slurp(const char *path, int regular, char **out,
	    size_t *len);
/* Read FILE and the drop-in files its [daemon] include names (a glob,
 * expanded now) into T, and parse them into C.  0, or -1 after logging
 * every problem (file:line). */
int	confread_load(struct config *c, const char *file,
	    struct config_text *t);

/* ---- reload.c: the configuration read again, by the monitor ---- */
/* A relative file name in the config is relative to the config file. */
int	reload_beside(struct config *c, char **path);
/* Monitor: T's bytes for the servers (a memfd); MON_RELOAD's files. */
const int *reload_monitor_init(const char *file,
	    const struct config_text *t);
int	reload_read_files(uint64_t id, char **payload, size_t *len);
void	reload_keep_files(uint64_t id);
/* Server: the bytes it was handed, FILE's and its drop-ins' (else -1);
 * SIGHUP; MON_FILES. */
int	reload_handed_config(const char *file, struct config_text *t);
int	reload_server_init(const struct config *active);
void	reload_fini(void);
void	reload_ask(void);
size_t	reopen_logs(const char *why);
void	reload_on_files(uint64_t cookie, const struct mon_files *f);

/* ---- listen.c ---- */
int	listen_bind_unix(const char *path, mode_t mode, gid_t group);
int	listen_adopt(int fd);
void	listen_replace_unix(int fd);
/* "host:port", "[v6]:port"; TLS on it when tls_init() loaded a cert. */
int	listen_bind_tcp(const char *spec, int *fds, size_t max);
const char *listen_path(void);
void	listen_close(void);
/* Socket activation: N sockets systemd passed; the one on PATH; the
 * ones no listener took (logged, closed): how many. */
int	listen_activated(int n);
int	listen_take_unix(const char *path);
int	listen_activated_unused(const char *socket);
/* 1 if SPEC names only loopback addresses, 0 if not, -1 if unusable. */
int	listen_check_plain(const char *where, const char *section,
	    const char *spec, int tls, const char *plain, int reload);

/* ---- access.c: the [access] policy ---- */
/* Resolve C's [access] names and make it the policy: 0, or -1 after
 * logging every unknown name (the old policy stays). */
/* Who procctld was started as (not server_user): admin, and owner of
 * what the daemon trusts. */
uid_t	access_self_uid(void);
int	access_unsafe_path(const char *real, char *why, size_t size);
int	access_load(const struct config *c);
void	access_free(void);
/* Changes whenever a policy is loaded: decisions older than it are stale. */
unsigned access_generation(void);
/* 1 if the user may use the daemon; *ADMIN says whether as an admin. */
int	access_decide(uid_t uid, gid_t gid, const gid_t *groups,
	    size_t ngroups, int *admin);
/* USER's groups (with GID), malloc'd. */
int	access_groups_of(const char *user, gid_t gid, gid_t **out, size_t *n);

/* ---- auth.c: secrets (crypt(3) hashes) for TCP peers ---- */
/* FILE's user:hash lines: 0, or -1 after logging why (file:line; a
 * secret in plain text is refused with the line to write instead). */
int	auth_load(const char *file);
/* The same from TEXT, already checked by whoever read it (the monitor). */
int	auth_load_mem(const char *file, const char *text, size_t len);
int	auth_reload_mem(const char *file, const char *text, size_t len);
void	auth_free(void);
/* USER's hash into HASH: 1; 0 for an unknown user, with a hash of the
 * same cost in HASH, that nothing matches for them. */
int	auth_lookup(const char *user, char *hash, size_t size);
/* 0 when SECRET hashes to HASH (compared in constant time), -1 if not.
 * Thread-safe: SCRATCH is the caller's, auth_scratch_size() bytes. */
int	auth_verify(const char *hash, const char *secret, void *scratch);
size_t	auth_scratch_size(void);
/* A new yescrypt hash of SECRET into OUT: 0, or -1. */
int	auth_hash(const char *secret, char *out, size_t size);

/* ---- slots.c: connection slots per pool, per user, per TCP address ---- */
#define SLOTS_HOST_MAX	64	/* an address key: "192.0.2.1", "2001:db8::/64" */
enum { SLOT_LOCAL, SLOT_TCP };

struct slots_limits {
	size_t	 local;		/* [daemon] max_clients; 0: RLIMIT_NOFILE */
	size_t	 tcp;		/* [tcp] max_clients */
	size_t	 per_user;	/* [daemon] max_clients_per_user; 0: none */
	size_t	 per_address;	/* [tcp] max_clients_per_address; 0: none */
};

struct sockaddr;
void	slots_init(const struct slots_limits *l);
void	slots_fini(void);
/* A connection in POOL, from HOST (a TCP peer's slots_host): 0, or -1
 * with WHY saying which limit it met. */
int	slots_take(int pool, const char *host, char *why, size_t size);
void	slots_give(int pool, const char *host);
/* A connection of UID: 0, or -1 when UID holds max_clients_per_user. */
int	slots_user_take(uid_t uid);
void	slots_user_give(uid_t uid);
size_t	slots_limit(int pool);
size_t	slots_per_user(void);
/* SA's address as the caps and the AUTH throttle count it. */
void	slots_host(const struct sockaddr *sa, char *out, size_t size);

/* ---- stats.c: the server's counters ---- */
#define STATS_SPAWN_BUCKETS	12

struct stats {
	uint64_t	 clients[2];	/* open now, by SLOT_LOCAL, SLOT_TCP */
	uint64_t	 received_bytes;	/* from clients, as read */
	uint64_t	 sent_bytes;		/* to clients, as written */
	uint64_t	 auth_failures;	/* AUTH refused, certificates naming
					 * nobody */
	uint64_t	 events_dropped;	/* pushes a slow reader lost */
	uint64_t	 metrics_pages;	/* written for [metrics] listen */
	/* From a spawn's request to the monitor's answer: per bucket
	 * (stats_spawn_bounds), the last one above them all. */
	uint64_t	 spawn_bucket[STATS_SPAWN_BUCKETS + 1];
	uint64_t	 spawn_count;
	double		 spawn_sum;	/* seconds */
};

extern struct stats stats;
extern const double stats_spawn_bounds[STATS_SPAWN_BUCKETS];
/* A request for command NAME, as the table names it; NULL: unknown. */
void	stats_request(const char *name);
/* The I-th command's count (the last: "unknown"): 0, or -1 past it. */
int	stats_requests(size_t i, const char **name, uint64_t *n);
/* A spawn the monitor answered after US microseconds. */
void	stats_spawn(uint64_t us);
void	stats_fini(void);

/* ---- expo.c: the Prometheus text format, written safely ---- */
#define EXPO_NAME_MAX	160
enum { EXPO_COUNTER = PROCCTL_METRIC_COUNTER, EXPO_GAUGE, EXPO_HISTOGRAM };

/* One exposition being written into OUT (what the plugin ABI calls
 * struct procctl_metrics). */
struct procctl_metrics {
	struct buf	*out;
	const char	*who;		/* "core" or a plugin, for the log */
	int		 type;		/* the family being written; -1: none */
	char		 family[EXPO_NAME_MAX];
	char		**names;	/* owned: families written */
	size_t		 nnames;
	int		 warned;	/* a refusal was logged */
};

void	expo_begin(struct procctl_metrics *m, struct buf *out);
/* What follows is WHO's (a plugin's name): for the log. */
void	expo_set_owner(struct procctl_metrics *m, const char *who);
void	expo_end(struct procctl_metrics *m);
/* 0, or -1 (logged once per exposition): the family and its samples
 * are left out. */
int	expo_family(struct procctl_metrics *m, const char *name, int type,
	    const char *help);
int	expo_plugin_family(struct procctl_metrics *m, const char *name,
	    int type, const char *help);
int	expo_sample(struct procctl_metrics *m, const char *const *labels,
	    double value);
int	expo_histogram(struct procctl_metrics *m, const char *const *labels,
	    const double *bounds, const uint64_t *counts, size_t n,
	    double sum);

/* ---- transport.c and tls.c: how bytes move on a connection ---- */
/* I/O results besides a byte count: the operation must wait until the
 * socket is readable (or writable) again, or the peer is gone. */
#define TR_WANT_READ	(-2)
#define TR_WANT_WRITE	(-3)
#define TR_ERROR	(-1)
#define TR_EOF		0

/* A transport, as Redis's ConnectionType: the connection code calls these
 * and has no branch for any one of them.  STATE is the transport's own. */
struct transport {
	const char	*name;
	/* Start on FD: the state, or NULL after logging why. */
	void		*(*open)(int fd);
	/* 1 when the connection is ready for data, TR_WANT_*, TR_ERROR.
	 * NULL: ready from the start (and plaintext may be written at once,
	 * such as a refusal). */
	int		 (*handshake)(void *state);
	ssize_t		 (*read)(void *state, int fd, void *p, size_t n);
	ssize_t		 (*write)(void *state, int fd, const void *p, size_t n);
	/* Bytes read from the socket but not yet handed out. */
	size_t		 (*pending)(void *state);
	/* After the handshake: 1 when a verified client certificate names
	 * the user (in OUT), 0 when the peer is to authenticate itself
	 * (AUTH), -1 when a certificate was required but names nobody. */
	int		 (*peer_user)(void *state, char *out, size_t size);
	/* Why the last operation failed. */
	const char	*(*error)(void *state);
	/* What was negotiated, for the log: "TLSv1.3, TLS_AES_256_GCM_SHA384". */
	const char	*(*describe)(void *state);
	void		 (*close)(void *state);
};

extern const struct transport transport_plain;

/* tls.c: the TLS transport and its configuration. */
extern const struct transport transport_tls;
/* Load the certificate, key and client CA: 0, or -1 after logging why. */
int	tls_init(const struct config *c);
/* SIGHUP: a new certificate, key (and client CA) from PEM text the
 * monitor read; the old stay on failure.  Open connections keep theirs. */
int	tls_reload_pem(const struct mon_files *f, const struct config *c);
/* A private key file: ours or root's, and nobody else may read it. */
int	tls_key_read(const char *path, char **out, size_t *len);
/* The same for WHAT's key ("[metrics] tls_key"), in its messages. */
int	tls_key_read_as(const char *what, const char *path, char **out,
	    size_t *len);
void	tls_free(void);
int	tls_enabled(void);
int	tls_client_certs(void);	/* client certificates are required */

/* ---- conn.c: connections, the loop's turn, fairness ---- */
struct conn_limits {
	size_t	 max_output;	/* unread reply bytes before a drop */
	uint64_t auth_timeout_ms;	/* TCP: to be authenticated */
};

void	conn_init(const struct conn_limits *l);
/* A connection on FD, accepted from a TCP listener or the Unix one. */
void	conn_new(int fd, int tcp, const struct transport *tr);
/* Turn away FD: MSG ("-LIMIT ...\r\n") where TR lets plaintext be
 * written at once, then the close. */
void	conn_refuse(int fd, const struct transport *tr, const char *msg);
void	conn_close_all(void);
size_t	conn_count(void);
/* The loop's before-sleep hook: run buffered requests (a batch per
 * connection), write what is pending, free closed connections. */
int	conn_before_sleep(void);

/* ---- session.c: one peer's session ---- */
struct session;

/* What a session asks of the connection under it. */
struct session_io {
	/* Output was added, or requests may resume, outside of
	 * session_input: the connection should act on it this turn. */
	void	(*wake)(void *conn);
};

struct session_limits {
	size_t	 max_request;
	size_t	 max_args;
	size_t	 max_output;
	size_t	 max_batch;
};

/* Who is on the other end, as the transport learnt it. */
struct peer {
	int		 tcp;
	uid_t		 uid;		/* local peers: SO_PEERCRED */
	gid_t		 gid;
	pid_t		 pid;
	gid_t		*groups;	/* SO_PEERGROUPS; taken over */
	size_t		 ngroups;
	char		 addr[64];	/* "127.0.0.1:5555", or "local pid N" */
	char		 host[SLOTS_HOST_MAX];	/* TCP: slots_host() */
};

/* Unsent reply bytes above which a session runs no more requests until
 * the peer reads: 256 KiB, or half of max_output when that is smaller
 * (a pipelining client is slowed down, not dropped). */
#define OUT_HIGH_WATER(max_output) \
	((max_output) / 2 < 256 * 1024 ? (max_output) / 2 : 256 * 1024)

/* session_input results. */
enum {
	SESSION_MORE,		/* give it more bytes when they come */
	SESSION_BUSY,		/* batch used up: call again next turn */
	SESSION_WAIT,		/* a deferred reply: wait for wake */
	SESSION_CLOSE,		/* close once OUT is written */
};

int	session_init(const struct session_limits *l);
void	session_fini(void);
/* A session writing its replies into OUT.  NULL when out of memory.  A
 * peer that [access] refuses gets its session too, already closing with
 * the refusal in OUT. */
struct session *session_new(struct peer *p, struct buf *out,
	    const struct session_io *io, void *conn);
/* Run the requests in P[0..N), at most max_batch of them: one of the
 * results above, with *USED the bytes taken. */
int	session_input(struct session *s, char *p, size_t n, size_t *used);
/* The state the session is in, without input: SESSION_WAIT while a reply
 * is deferred, SESSION_CLOSE once closing, else SESSION_MORE. */
int	session_state(const struct session *s);
/* A verified client certificate names USER. */
void	session_cert_user(struct session *s, const char *user);
/* The peer has proven who it is (local peers: from the start). */
int	session_authed(const struct session *s);
void	session_free(struct session *s);
/* The [access] policy was reloaded: judge every event stream again. */
void	session_policy_changed(void);
const char *session_user(const struct session *s);
const char *session_peer(const struct session *s);
uint64_t session_id(const struct session *s);

/* ---- authtry.c: AUTH attempts, throttled, checked off the loop ---- */
enum { AUTHTRY_OK, AUTHTRY_FAIL, AUTHTRY_THROTTLED };
struct authtry;
typedef void (*authtry_fn)(void *owner, int verdict);

int	authtry_init(void);
void	authtry_fini(void);
/* Check SECRET (SLEN bytes) for USER (ULEN bytes) from HOST: FN(OWNER,
 * AUTHTRY_*) runs later, from the loop, never from here.  NULL when out
 * of memory. */
struct authtry *authtry_start(const char *user, size_t ulen,
	    const char *host, const char *secret, size_t slen, authtry_fn fn,
	    void *owner);
/* The owner is gone: FN is not called; a check under way still counts. */
void	authtry_detach(struct authtry *t);

/* ---- dispatch.c ---- */
/* Run one request on CTX: the auth gate, the command's flags and
 * arguments, then its handler.  AUTHED: the peer has proven who it is. */
void	dispatch(struct procctl_ctx *ctx, int authed, int argc,
	    const struct procctl_arg *argv);
void	dispatch_free(void);

/* ---- metrics.c: the `metrics` command and the page it writes ---- */
int	metrics_init(void);
/* The whole exposition into OUT: 0, or -1 (out of memory). */
int	metrics_write(struct buf *out);

/* ---- promhttp.c: [metrics] listen, GET /metrics over HTTP ---- */
/* -t and start: the section usable (loopback or TLS, files readable):
 * 0, or -1 after logging why (file:line). */
int	promhttp_check(struct config *c);
/* Bind (as root, before it is dropped) and serve from a thread of its
 * own: 0, or -1 after logging why. */
int	promhttp_start(const struct config *c);
/* Stops the thread; safe when nothing was started. */
void	promhttp_stop(void);

/* ---- promsnap.c: the page the HTTP thread serves, written by the loop ---- */
struct promsnap;
/* The loop's: the eventfd through which the thread asks; 0, or -1 after
 * logging why. */
int	promsnap_init(void);
/* The loop's, before the thread is stopped: no scrape waits from now. */
void	promsnap_quit(void);
/* The loop's, once the thread is gone; safe without promsnap_init. */
void	promsnap_fini(void);
/* The HTTP thread's: a page at most a second old, held; NULL if the loop
 * did not write one in time (answer 503). */
struct promsnap *promsnap_get(void);
const char *promsnap_data(const struct promsnap *p, size_t *len);
/* Either thread's: let go of P (NULL: nothing). */
void	promsnap_put(struct promsnap *p);
/* Either thread's: a line for the log, which the loop writes. */
void	promsnap_note(const char *line);

/* ---- plugin.c: the plugin host ---- */
/* Keep what loading needs from C (plugin directory, file); 0 or -1. */
int	plugin_host_init(const struct config *c);
void	plugin_host_fini(void);
int	plugin_load_all(const struct config *c);
size_t	plugin_count(void);
void	plugin_unload_all(void);
void	plugin_run_disconnect(const struct procctl_caller *who);
/* A connection named its session (HELLO ... SESSION). */
void	plugin_run_session(const struct procctl_caller *who);
/* A connection stops following (UNFOLLOW); it stays open. */
void	plugin_run_unfollow(const struct procctl_caller *who);
/* Each plugin's metric families (host->on_metrics), in load order. */
void	plugin_run_metrics(struct procctl_metrics *m);
/* The configuration's bytes (read by main at start, by the monitor on
 * SIGHUP), for PLUGIN LOAD: taken over (T is left empty; an empty T
 * keeps the last); _arrived also answers the waiting loads. */
void	plugin_host_config(struct config_text *t);
/* The configuration read again: the plugins' sections and reload
 * hooks (DRY: only what would change); all or nothing. */
int	plugin_host_reload(const struct config *c, int dry,
	    struct procctl_report *r);
struct procctl_report *plugin_report_new(void);
size_t	plugin_report_lines(const struct procctl_report *r,
	    const char *const **v);
void	plugin_report_free(struct procctl_report *r);
void	plugin_report_note(struct procctl_report *r, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	plugin_host_config_arrived(struct config_text *t);

/* ---- command.c: the command table and the core's own commands ---- */
#define CMD_NO_AUTH	0x100u	/* core only: allowed before AUTH */
#define CMD_PUBLIC_FLAGS PROCCTL_CMD_ADMIN

struct cmd_option {
	char		*name;		/* owned */
	char		 letter;
	char		*value;		/* owned; NULL: a flag */
	char		*summary;	/* owned */
};

struct cmd_param {
	char		*name;		/* owned */
	int		 type;		/* enum procctl_param_type */
	char		**words;	/* owned; KEYWORD, NULL-ended */
	unsigned	 min, max;
	unsigned	 flags;
	char		*complete_command;	/* owned, or NULL */
	char		*complete_fields;
	char		*complete_events;
};

struct command {
	char			*name;		/* owned */
	procctl_cmd_fn		 fn;
	int			 arity;
	char			*usage;		/* owned */
	char			*summary;	/* owned */
	char			*group;		/* owned */
	char			*owner;		/* owned: "core" or a plugin */
	unsigned		 flags;
	const void		*plugin;	/* the owner's handle, or NULL */
	struct cmd_option	*opts;		/* owned */
	size_t			 nopts;
	struct cmd_param	*params;	/* owned; NULL: undeclared */
	size_t			 nparams;
};

/* Register CMD as the plugin-side structure of ABI minor MINOR describes
 * it (members added later are not read).  0, or -1 after logging why. */
int	command_add(const struct procctl_command *cmd, unsigned minor,
	    unsigned extra_flags, const void *plugin, const char *owner);
const struct command *command_find(const char *name);
void	command_remove_owner(const void *plugin);
void	command_free_all(void);
size_t	command_count(void);
void	command_reply_docs(struct procctl_ctx *ctx);
void	command_reply_doc(struct procctl_ctx *ctx, const struct command *c);
/* The core's own commands that need nothing but the table. */
int	command_init(void);

/* ---- args.c: arguments against a command's declaration ---- */
struct cmd_args {
	int			 argc;		/* positional words + name */
	struct procctl_arg	*argv;		/* owned array, pointing into
						 * the request */
	size_t			 argv_cap;
	const char		**optv;		/* per declared option: its
						 * value, "" for a flag, or
						 * NULL */
	size_t			 optv_cap;
	struct cmd_occ {
		size_t		 opt;		/* which declared option */
		const char	*value;
	}			*occ;		/* every one given, in order */
	size_t			 nocc, occ_cap;
};

/* Parse ARGV for C.  0, or -1 with ERR holding "<what>; usage: <usage>". */
int	args_parse(const struct command *c, int argc,
	    const struct procctl_arg *argv, struct cmd_args *out, char *err,
	    size_t errlen);
const char *args_option(const struct command *c, const struct cmd_args *a,
	    const char *name);
/* Which of parameter PARAM's declared keywords W is (0, 1, ...), or -1:
 * a handler tells keywords apart by their place in the declaration. */
int	args_keyword(const struct command *c, size_t param,
	    const struct procctl_arg *w);
/* The INDEX-th value given for option NAME (a repeated option), or NULL. */
const char *args_option_at(const struct command *c, const struct cmd_args *a,
	    const char *name, size_t index);
void	args_free(struct cmd_args *a);
/* "greet [--loud] <who> [times]", from the declaration, malloc'd. */
char	*args_usage(const struct command *c);

/* ---- children.c: managed processes, through the monitor ---- */
/* FD: the server's end of the socketpair to the monitor. */
int	children_init(int fd);
/* Hands an adopted process (MON_ADOPT) to the plugin named OWNER: fills
 * who owns it and whom to tell when it ends; -1: nobody takes it. */
typedef int (*children_adopt_fn)(const char *owner,
	    const struct procctl_adopted *a, const void **who,
	    procctl_child_fn *ended, procctl_notify_fn *notify, void **arg);
void	children_set_adopter(children_adopt_fn fn);
/* Plugin NAME was loaded: processes held for it are handed over (and
 * the ends of those that ended meanwhile told). */
void	children_offer(const char *name);
/* The configuration and the files it names (secrets, TLS), as the
 * monitor read them for a children_reload(COOKIE), by MON_FILE_* role;
 * data[MON_FILE_CONFIG] NULL: it could not. */
typedef void (*children_files_fn)(uint64_t cookie,
	    const struct mon_files *f);
void	children_set_files(children_files_fn fn);
void	children_set_listen(void (*fn)(int fd));
/* The files of children_reload(COOKIE) are applied: the monitor is to
 * hand them to a restarted server.  0, or -1 (no monitor). */
int	children_keep(uint64_t cookie);
/* MON_FILES records at P, every size checked, into F (pointers into P;
 * F->inc malloc'd): 0, or -1 when they are not well formed. */
int	children_files_parse(const char *p, size_t len, struct mon_files *f);
void	children_files_free(struct mon_files *f);
int	children_reload(uint64_t cookie);
/* At start, after the plugins have loaded: what already runs. */
int	children_sync(void);
uint64_t children_spawn(const void *owner, const char *name,
	    const struct procctl_spawn *spec, procctl_started_fn started,
	    procctl_child_fn ended, void *arg);
int	children_signal(const void *owner, uint64_t id, int signo,
	    unsigned flags);
/* OWNER is unloaded: its callbacks must not run again, and its
 * processes are killed. */
void	children_forget_owner(const void *owner);
/* OWNER is being reloaded: its callbacks must not run again, and its
 * processes are held, unclaimed, for the next plugin called NAME. */
void	children_hold_owner(const void *owner, const char *name);
size_t	children_count(void);
/* Once a loop turn: N clients are connected (told to the monitor on
 * change, at most once a second, for the service manager's STATUS=). */
void	children_clients(size_t n);
/* A SIGHUP's reload is over, applied or not (the monitor says READY=1
 * to the service manager again). */
void	children_reloaded(void);
/* Tell the monitor to end every process (LEAVE: to leave them running)
 * and exit; or to re-exec itself once this server has gone. */
void	children_shutdown(int leave);
void	children_upgrade(void);
void	children_failed(void);

/* output.c: what managed processes write (PROCCTL_SPAWN_CAPTURE). */
int	output_attach(uint64_t id, const int *fds, int64_t born_ms);
void	output_ended(uint64_t id);
size_t	output_tail(uint64_t id, size_t n, unsigned streams,
	    procctl_line_fn fn, void *arg);
uint64_t output_dropped(uint64_t id);
uint64_t output_follow(uint64_t id, unsigned streams, procctl_line_fn fn,
	    void *arg);
void	output_unfollow(uint64_t fid);
int	output_to_file(uint64_t id, const char *path, uint64_t max,
	    unsigned backups);
int	output_set_ring(uint64_t id, size_t bytes);
int	output_to_log(uint64_t id, const char *who);
int	output_to_journal(uint64_t id, const char *ident, pid_t pid);
void	output_free_all(void);

/* logfile.c: output = file's files, written by a thread of their own. */
struct logfile;
struct logfile *logfile_get(const char *path, uint64_t max, unsigned backups);
struct logfile *logfile_journal(const char *ident, pid_t pid);
void	logfile_release(struct logfile *f);
void	logfile_put(struct logfile *f, int64_t ms, int stream,
	    const char *text, size_t len);
size_t	logfile_reopen_all(void);
int	logfile_busy(struct logfile *f);
void	logfile_on_room(void (*fn)(void));
void	logfile_hold(void);
void	logfile_unhold(void);
void	logfile_stop(void);
uint64_t logfile_lost(void);
void	children_free(void);

/* ---- reply.c: replies, deferred replies and pushes ---- */
enum { CTX_SYNC, CTX_DEFERRED, CTX_PUSH };

/* What a request's owner (a session) hears about its deferred reply. */
struct reply_sink {
	/* D now owes the reply: the owner waits for it. */
	void	(*deferred)(void *owner, struct procctl_ctx *d);
	/* D's reply is complete in d->own: the owner takes the bytes. */
	void	(*finished)(void *owner, struct procctl_ctx *d);
};

struct procctl_ctx {
	struct buf		*out;		/* where values are encoded */
	struct buf		*out2;		/* pushes: the RESP2 copy */
	struct buf		 own;		/* deferred replies, pushes */
	struct buf		 own2;
	int			 proto;
	int			 kind;		/* CTX_* */
	long			 expect;	/* values still owed */
	int			 started;	/* a value has been built */
	int			 framed;	/* a push began with its array */
	const char		*name;		/* the command, for logs */
	const struct procctl_caller *caller;	/* NULL once gone */
	const struct reply_sink	*sink;
	void			*owner;		/* NULL once gone */
	const struct command	*cmd;		/* sync: being run */
	const struct cmd_args	*args;		/* sync: its arguments */
	uid_t			 push_uid;
	uint64_t		 push_conn;	/* 0: every connection of uid */
	size_t			 max_out;	/* the connection's max_output
						 * (0: none), for reply_room */
};

/* A fresh synchronous ctx owing one value, encoded into OUT. */
void	reply_begin(struct procctl_ctx *ctx, struct buf *out, int proto,
	    const struct procctl_caller *who, const struct reply_sink *sink,
	    void *owner);
struct procctl_ctx *reply_defer(struct procctl_ctx *ctx);
/* What CTX's reply may still add before its output passes max_out:
 * (size_t)-1 when no bound was set (pushes). */
size_t	reply_room(struct procctl_ctx *ctx);
void	reply_finish(struct procctl_ctx *d);
/* The owner of D is gone: finish() will only free it. */
void	reply_orphan(struct procctl_ctx *d);
void	reply_simple(struct procctl_ctx *, const char *);
void	reply_error(struct procctl_ctx *, const char *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	reply_verror(struct procctl_ctx *, const char *, const char *,
	    va_list);
void	reply_int(struct procctl_ctx *, long long);
void	reply_double(struct procctl_ctx *, double);
void	reply_double_text(struct procctl_ctx *, const char *);
void	reply_bignum(struct procctl_ctx *, const char *);
void	reply_bulk(struct procctl_ctx *, const void *, size_t);
void	reply_str(struct procctl_ctx *, const char *);
void	reply_null(struct procctl_ctx *);
void	reply_bool(struct procctl_ctx *, int);
void	reply_array(struct procctl_ctx *, size_t);
void	reply_map(struct procctl_ctx *, size_t);
/* A RESP3 verbatim string of FORMAT ("txt"): a bulk string in RESP2. */
void	reply_verbatim(struct procctl_ctx *, const char *, const void *,
	    size_t);
/* Pad an incomplete reply (a plugin bug) so the stream stays valid. */
void	reply_complete(struct procctl_ctx *);

/* Pushes are encoded once per protocol as they are built; push_end hands
 * the finished frames to the delivery function (the sessions'). */
typedef void (*push_deliver_fn)(const struct procctl_ctx *p);
void	push_set_deliver(push_deliver_fn fn);
/* A push for user UID's subscribed connections (and admins'), or for the
 * one connection CONN when it is not 0.  NULL when out of memory. */
struct procctl_ctx *push_begin(uid_t uid, uint64_t conn);
void	push_end(struct procctl_ctx *p);
/* P's frame for protocol PROTO. */
const struct buf *push_frame(const struct procctl_ctx *p, int proto);
/* Free P without delivering it. */
void	push_free(struct procctl_ctx *p);

#endif
