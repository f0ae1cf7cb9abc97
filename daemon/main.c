/*
 * procctld: options, configuration, start-up and orderly shutdown.  Once
 * the configuration is known to be usable and the listening sockets are
 * bound, the first process becomes the monitor (monitor/: the parent of
 * every managed process), which runs the server (everything else) as a
 * fresh exec of this binary, handed a socketpair and the listeners; the
 * server loads what it needs as root, then drops to server_user.  The
 * same binary is both: the environment says which (MON_ENV_SERVER).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <getopt.h>
#include <pwd.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "logq.h"
#include "monitor.h"
#include "paths.h"
#include "procctld.h"

#ifndef PROCCTL_PLUGIN_DIR
#define PROCCTL_PLUGIN_DIR "/usr/local/lib/procctl/plugins"
#endif

static const struct config *active_config;
static struct config_text start_text;	/* the configuration's bytes, as
					 * read or handed over */
static int upgrade_asked;	/* `daemon upgrade`: the monitor re-execs */
static int bad_config;		/* start(): a plugin found its part unusable */
static int sigfd = -1;
static struct watch *sigwatch;
static struct watch *logwatch;	/* the log's fd, while lines wait */
static int logwatch_fd = -1;
static int nactivated;		/* sockets systemd passed (sd_listen_fds),
				 * or -errno when they could not be had */
static char activation_env[80];	/* what LISTEN_FDS and LISTEN_PID said */

static const struct option long_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "socket", required_argument, NULL, 's' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "check", no_argument, NULL, 't' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ "hash-secret", optional_argument, NULL, 'H' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: procctld [-t] [-c FILE] [-s SOCKET] [-l LEVEL]\n"
"       procctld --hash-secret[=USER] < SECRET\n"
"\n"
"  -c, --config FILE      configuration file (INI); without it, built-in\n"
"                         defaults and every plugin in the plugin directory\n"
"  -s, --socket SOCKET    Unix socket to listen on (overrides the file)\n"
"  -l, --log-level LEVEL  error, warn, info, debug (overrides the file)\n"
"  -t, --check            check the configuration and exit\n"
"  -V, --version          print the version and exit\n"
"  --hash-secret[=USER]   read a secret from standard input (asked for\n"
"                         without echo on a terminal) and print its\n"
"                         yescrypt hash, as USER:HASH with USER: the line\n"
"                         for the secrets file ([tcp] secrets)\n"
"  -h, --help             this help\n"
"\n"
"Runs in the foreground and logs to stderr (or log_file), as two\n"
"processes: the monitor (this pid; the parent of every managed process)\n"
"and the server, which drops root to server_user.  SIGTERM or SIGINT:\n"
"stop listening, end every process (or leave them with live_restore =\n"
"yes), remove the socket, exit 0.  SIGHUP: reload the configuration\n"
"(as the reload command).  SIGUSR1: open log files again by their names,\n"
"after logrotate moved them (as the reopen-logs command).\n"
"Exit status: 0 ok, 1 start-up failure, 2 usage, 65 an empty or unusable\n"
"secret (--hash-secret), 78 unusable configuration.\n");
}

static int
is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where plugins are when nothing says: the installed directory, else
 * `plugins/` beside the executable (a build tree). */
static char *
default_plugin_dir(void)
{
	char exe[PATH_MAX], dir[PATH_MAX];
	ssize_t n;

	if (is_dir(PROCCTL_PLUGIN_DIR))
		return strdup(PROCCTL_PLUGIN_DIR);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(dir, sizeof(dir), "%s/plugins", dirname(exe));
		if (is_dir(dir))
			return strdup(dir);
	}
	return strdup(PROCCTL_PLUGIN_DIR);
}

/* TCP settings that cannot work stop the daemon before it listens. */
static gid_t socket_gid = (gid_t)-1;

/* socket_group: a group name (or number) that must exist. */
static int
check_socket_group(const struct config *c)
{
	struct group *gr;
	char *end;
	unsigned long n;

	if (c->socket_group == NULL)
		return 0;
	if ((gr = getgrnam(c->socket_group)) != NULL) {
		socket_gid = gr->gr_gid;
		return 0;
	}
	n = strtoul(c->socket_group, &end, 10);
	if (c->socket_group[0] != '\0' && *end == '\0') {
		socket_gid = (gid_t)n;
		return 0;
	}
	log_error("[daemon] socket_group = %s: no such group",
	    c->socket_group);
	return -1;
}

static int
check_tcp(struct config *c)
{
	size_t i;

	for (i = 0; i < c->ntcp; i++)
		if (listen_check_plain("", "tcp", c->tcp_listen[i],
		    c->tls_cert != NULL, "plaintext TCP", 0) == -1)
			return -1;
	if (reload_beside(c, &c->tls_cert) == -1 ||
	    reload_beside(c, &c->tls_key) == -1 ||
	    reload_beside(c, &c->tls_client_ca) == -1 ||
	    reload_beside(c, &c->tcp_secrets) == -1)
		return -1;
	if (c->ntcp > 0 && tls_init(c) == -1)
		return -1;
	if (c->tcp_secrets == NULL)
		return 0;
	return auth_load(c->tcp_secrets);
}

/* [metrics]: usable, or (a server restarted under running processes,
 * given a configuration reloaded since) left off, loudly: metrics are
 * not worth a supervisor. */
static int
check_metrics(struct config *c)
{
	if (promhttp_check(c) == 0)
		return 0;
	if (getenv(MON_ENV_SERVER) == NULL ||
	    getenv(MON_ENV_RESTARTED) == NULL)
		return -1;
	log_error("[metrics] unusable (the line above says why): this "
	    "restarted server serves no metrics over HTTP");
	promhttp_stop();
	free(c->metrics_listen);
	c->metrics_listen = NULL;
	return 0;
}

/* A relative plugin_dir in a file is relative to that file. */
static int
resolve_plugin_dir(struct config *c)
{
	if (c->plugin_dir == NULL)
		return (c->plugin_dir = default_plugin_dir()) ? 0 : -1;
	return reload_beside(c, &c->plugin_dir);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("raising RLIMIT_NOFILE: %s", strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_debug("RLIMIT_NOFILE is %llu",
		    (unsigned long long)rl.rlim_cur);
}

static void
on_signal(int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("%s: shutting down",
			    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			loop_stop();
			break;
		case SIGHUP:
			reload_ask();
			break;
		case SIGUSR1:
			reopen_logs("SIGUSR1");
			break;
		}
	}
}

static int
setup_signals(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	if ((sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		log_error("signalfd: %s", strerror(errno));
		return -1;
	}
	sigwatch = loop_watch(sigfd, LOOP_READ, on_signal, NULL);
	return sigwatch ? 0 : -1;
}

/* What `ps` shows: the whole argv area holds the title. */
static void
set_title(int argc, char **argv, const char *title)
{
	size_t room = 0;
	int i;

	for (i = 0; i < argc; i++)
		room = (size_t)(argv[i] + strlen(argv[i]) - argv[0]) + 1;
	if (room == 0)
		return;
	memset(argv[0], 0, room);
	snprintf(argv[0], room, "%s", title);
}

/* The fds in "4,5,6" (the monitor's hand-over) into FDS; how many. */
static size_t
fd_list(const char *s, int *fds, size_t max)
{
	size_t n = 0;
	char *end;
	long v;

	while (s != NULL && *s != '\0' && n < max) {
		v = strtol(s, &end, 10);
		if (end == s || v < 3 || v > INT_MAX)
			break;
		fds[n++] = (int)v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Never to be root again: the server as server_user (default `procctl`
 * if there is one, else `nobody`), its own group only.  Verified: a way
 * back to root must fail. */
static int
drop_root(const struct config *c)
{
	const char *name = c->server_user;
	struct passwd *pw;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (name == NULL)
		name = getpwnam("procctl") != NULL ? "procctl" : "nobody";
	if ((pw = getpwnam(name)) == NULL) {
		log_error("[daemon] server_user = %s: no such user", name);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_warn("[daemon] server_user = %s: the server keeps root "
		    "(its privileges are not separated)", name);
		return 0;
	}
	gid = pw->pw_gid;
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		log_error("dropping root to %s: %s", name, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || geteuid() != pw->pw_uid) {
		log_error("dropping root to %s: root could be regained", name);
		return -1;
	}
	/* A change of ids clears the parent-death signal. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	log_info("server runs as %s (uid %u)", name, (unsigned)pw->pw_uid);
	return 0;
}

/* The reply has been written (the before-sleep hook ran): now stop. */
static void
stop_soon(void *arg)
{
	(void)arg;
	loop_stop();
}

/*
 * DAEMON UPGRADE (admins): this server ends without ending anything it
 * manages; the monitor re-execs the procctld binary now on disk in its
 * own process, keeping the children and the listening sockets, and
 * starts a new server, which adopts every process.  Clients see their
 * connection close and reconnect.
 */
static void
cmd_daemon(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = ctx->caller;

	(void)argc;
	(void)argv;
	if (!who->admin) {
		reply_error(ctx, "NOPERM", "daemon upgrade is for admins only");
		return;
	}
	if (upgrade_asked) {
		reply_error(ctx, "BUSY", "an upgrade is already under way");
		return;
	}
	log_info("upgrade asked by %s (uid %u): the monitor re-executes "
	    "procctld; processes keep running", who->user,
	    (unsigned)who->uid);
	upgrade_asked = 1;
	reply_simple(ctx, "OK");
	loop_timer_add(0, stop_soon, NULL);
}

static const struct procctl_param daemon_params[] = {
	{ "upgrade", PROCCTL_PARAM_KEYWORD, "upgrade", 1, 1, 0, NULL, NULL,
	  NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command daemon_command = {
	"daemon", cmd_daemon, 0, "daemon upgrade",
	"Admins: re-execute procctld from the binary on disk, keeping every "
	"process, the sockets and the state (clients reconnect)", 0, NULL,
	daemon_params, "daemon"
};

static void
on_log_writable(int fd, unsigned events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	logq_flush();
}

/* The loop's hook: the connections' turn, their count for the monitor,
 * then the log: while lines wait for stderr, its fd is watched for room
 * (log.c is below the loop and cannot watch it itself). */
static int
before_sleep(void)
{
	int busy = conn_before_sleep(), fd = logq_wait_fd();

	children_clients(conn_count());	/* for the service manager */

	if (logwatch != NULL && fd != logwatch_fd) {
		loop_unwatch(logwatch);
		logwatch = NULL;
		logwatch_fd = -1;
	}
	if (fd != -1 && logwatch == NULL && fd != logwatch_fd) {
		/* Refused once (an fd epoll cannot watch), not again: each
		 * line tries to write anyway. */
		logwatch_fd = fd;
		logwatch = loop_watch(fd, LOOP_WRITE, on_log_writable, NULL);
	}
	return busy;
}

/* The layers from the bottom up, then the plugins, then the doors, then
 * root is dropped, then the monitor tells us what already runs. */
static int
start(const struct config *c, int monfd, const int *lfds, size_t nlfds)
{
	size_t i;
	struct conn_limits cl;
	struct session_limits sl;
	struct slots_limits lim;
	int nplugins, restarted = getenv(MON_ENV_RESTARTED) != NULL;

	memset(&cl, 0, sizeof(cl));
	cl.max_output = c->max_output;
	cl.auth_timeout_ms = c->auth_timeout_ms;
	memset(&sl, 0, sizeof(sl));
	sl.max_request = c->max_request;
	sl.max_args = c->max_args;
	sl.max_output = c->max_output;
	sl.max_batch = c->max_batch;
	memset(&lim, 0, sizeof(lim));
	lim.local = c->max_clients;
	lim.tcp = c->tcp_max_clients;
	lim.per_user = c->max_clients_per_user;
	lim.per_address = c->tcp_max_per_address;
	slots_init(&lim);
	if (loop_init() == -1 || setup_signals() == -1 ||
	    authtry_init() == -1 ||
	    children_init(monfd) == -1 || command_init() == -1 ||
	    metrics_init() == -1 || session_init(&sl) == -1 ||
	    plugin_host_init(c) == -1 ||
	    command_add(&daemon_command, PROCCTL_ABI_MINOR, 0, NULL,
	    "core") == -1)
		return -1;
	conn_init(&cl);
	loop_set_before_sleep(before_sleep);
	/* A plugin that cannot be loaded stops a start; a server restarted
	 * under running processes (a crash, an upgrade) goes on without
	 * it, loudly, rather than leave everyone without a daemon. */
	if ((nplugins = plugin_load_all(c)) == -1 || (nplugins == -2 &&
	    !restarted)) {
		log_error("%s: configuration unusable (a plugin %s); not "
		    "starting", c->file ? c->file : "defaults", nplugins == -1 ?
		    "refused its part" : "cannot be loaded");
		bad_config = 1;
		return -1;
	}
	if (nplugins == -2) {
		log_error("a plugin the configuration names is not loaded (the "
		    "lines above say why); this restarted server goes on "
		    "without it: fix it, then `procctl plugin load NAME`");
		nplugins = (int)plugin_count();
	}
	unsetenv(MON_ENV_RESTARTED);
	for (i = 0; i < nlfds; i++)
		if (listen_adopt(lfds[i]) == -1)
			return -1;
	children_set_files(reload_on_files);
	children_set_listen(listen_replace_unix);
	if (reload_server_init(c) == -1)
		return -1;
	/* Metrics are not worth a supervisor: a restarted server that
	 * cannot bind them goes on without, as without a plugin. */
	if (promhttp_start(c) == -1) {
		if (!restarted)
			return -1;
		log_error("[metrics] listen = %s: not served by this restarted "
		    "server (the line above says why)", c->metrics_listen);
	}
	if (drop_root(c) == -1 || children_sync() == -1)
		return -1;
	logq_check_rotation();
	log_info("procctld %s listening on %s (%d plugin%s); try: procctl "
	    "-s %s help", PROCCTLD_VERSION, c->socket, nplugins,
	    nplugins == 1 ? "" : "s", c->socket);
	return 0;
}

/* Everything start() made, in reverse; safe after a partial start
 * (FAILED: start() did not finish, and no process is to end for it). */
static void
stop(int failed)
{
	listen_close();
	promhttp_stop();
	conn_close_all();
	authtry_fini();		/* the verdicts no connection waits for */
	slots_fini();
	/* The monitor ends every process gracefully (SIGTERM, then SIGKILL
	 * after each one's stop time), or leaves them to the next procctld
	 * (live_restore), or to itself re-executed (upgrade); after this,
	 * unloading a plugin kills nothing. */
	if (failed)
		children_failed();
	else if (upgrade_asked)
		children_upgrade();
	else
		children_shutdown(active_config != NULL &&
		    active_config->live_restore);
	plugin_unload_all();
	reload_fini();
	conn_before_sleep();	/* what the plugins' last words woke */
	children_free();
	plugin_host_fini();
	dispatch_free();
	session_fini();
	command_free_all();
	stats_fini();
	if (sigwatch != NULL)
		loop_unwatch(sigwatch);
	sigwatch = NULL;
	if (logwatch != NULL)
		loop_unwatch(logwatch);
	logwatch = NULL;
	logwatch_fd = -1;
	loop_free();
	if (sigfd != -1)
		close(sigfd);
	sigfd = -1;
	auth_free();
	tls_free();
	access_free();
}

/* -t: the plugins read their parts of the file too (a [program:] with
 * a typo fails the check), loaded and unloaded without serving. */
static int
check_plugins(const struct config *c)
{
	int rc = 0;

	if (loop_init() == -1 || command_init() == -1 ||
	    plugin_host_init(c) == -1)
		rc = -1;
	else if (plugin_load_all(c) < 0)
		rc = -1;
	plugin_unload_all();
	plugin_host_fini();
	dispatch_free();
	command_free_all();
	loop_free();
	return rc;
}

/* Socket activation, first thing in main: the sockets systemd passed
 * are kept (LISTEN_* unset for whatever we start); what the variables
 * said is kept for activation_check, as the log is not open yet. */
static void
activation_begin(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");

	if (fds != NULL)
		snprintf(activation_env, sizeof(activation_env), "LISTEN_FDS="
		    "%.20s, LISTEN_PID=%.20s", fds, pid != NULL ? pid :
		    "(unset)");
	nactivated = sd_listen_fds(1);
}

/* The sockets systemd passed, each a listener (listen.c): 0, or -1
 * after logging why not.  Variables meant for another process (a
 * LISTEN_PID not ours) are a note, not an error: nothing was passed. */
static int
activation_check(void)
{
	if (nactivated < 0) {
		log_error("socket activation: %s: %s; procctld takes the "
		    "listening sockets systemd passes", activation_env,
		    strerror(-nactivated));
		return -1;
	}
	if (nactivated == 0 && activation_env[0] != '\0' &&
	    strncmp(activation_env, "LISTEN_FDS=0,", 13) != 0)
		log_info("socket activation: %s is not for procctld (pid "
		    "%ld): no socket taken", activation_env, (long)getpid());
	return listen_activated(nactivated);
}

/* The monitor-to-be binds what the server will accept on: the Unix
 * socket (a live daemon's is never taken) and the TCP addresses, each
 * unless systemd passed it bound (socket activation: *ACTIVATED says
 * whether the Unix socket was); an upgraded monitor was handed them.
 * How many, or -1 (bad_config: a passed socket is not a listener of
 * ours). */
static int
bind_all(const struct config *c, int *fds, size_t max, int *activated)
{
	size_t n = 0, i;
	int k;

	if (getenv(MON_ENV_UPGRADE) != NULL) {
		*activated = getenv(MON_ENV_ACTIVATED) != NULL;
		n = fd_list(getenv(MON_ENV_LISTEN), fds, max);
		for (i = 0; i < n; i++)	/* kept across the exec, not past */
			fcntl(fds[i], F_SETFD, FD_CLOEXEC);
		return (int)n;
	}
	if (activation_check() == -1) {
		bad_config = 1;
		return -1;
	}
	/* systemd's socket if it passed one for this path, else ours. */
	*activated = (fds[n] = listen_take_unix(c->socket)) != -1;
	if (!*activated && (fds[n] = listen_bind_unix(c->socket,
	    c->socket_mode, socket_gid)) == -1)
		return -1;
	n++;
	for (i = 0; i < c->ntcp; i++) {
		if ((k = listen_bind_tcp(c->tcp_listen[i], fds + n,
		    max - n)) == -1)
			goto fail;
		n += (size_t)k;
	}
	if (listen_activated_unused(c->socket) == 0)
		return (int)n;
	bad_config = 1;
fail:
	while (n > 0)
		close(fds[--n]);
	if (!*activated)	/* systemd's is not ours to remove */
		unlink(c->socket);
	return -1;
}

/* A copy of ARGV that set_title() cannot overwrite. */
static char **
copy_argv(int argc, char **argv)
{
	char **v;
	int i;

	if ((v = calloc((size_t)argc + 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < argc; i++)
		if ((v[i] = strdup(argv[i])) == NULL)
			return NULL;
	return v;
}

/* The state file: beside the socket, so each daemon has its own. */
static char *
state_path(const char *sock)
{
	char *p;

	if (asprintf(&p, "%s.state", sock) == -1)
		return NULL;
	return p;
}

static const struct config *monitor_cf;	/* the monitor's, for rebind */

/* The monitor's: the Unix socket bound again where the file says. */
static int
rebind(void)
{
	return listen_bind_unix(monitor_cf->socket, monitor_cf->socket_mode,
	    socket_gid);
}

/* Be the monitor: never returns. */
static void __attribute__((noreturn))
become_monitor(int argc, char **argv, struct config *cf)
{
	struct monitor_args ma;
	static int lfds[64];
	sigset_t set;
	int n;

	/* Blocked now: a signal that comes before the monitor has its
	 * signalfd waits for it instead of killing it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* The server loads these itself; the monitor needs none. */
	auth_free();
	tls_free();
	access_free();
	promhttp_stop();
	memset(&ma, 0, sizeof(ma));
	ma.server_fd = -1;
	if ((n = bind_all(cf, lfds, sizeof(lfds) / sizeof(lfds[0]),
	    &ma.socket_activated)) == -1)
		exit(bad_config ? EX_CONFIG_CODE : 1);
	ma.lfds = lfds;
	ma.nlfds = (size_t)n;
	ma.argv = copy_argv(argc, argv);
	ma.socket = cf->socket;
	monitor_cf = cf;
	ma.rebind = rebind;
	ma.state = state_path(cf->socket);
	ma.live_restore = cf->live_restore;
	ma.read_files = reload_read_files;
	ma.keep_files = reload_keep_files;
	ma.config_fd = reload_monitor_init(cf->file, &start_text);
	confread_text_free(&start_text);
	if (ma.argv == NULL || ma.state == NULL)
		fatal("out of memory");
	unsetenv(MON_ENV_UPGRADE);
	unsetenv(MON_ENV_LISTEN);
	unsetenv(MON_ENV_ACTIVATED);
	set_title(argc, argv, "procctld: monitor");
	monitor_main(&ma);
}

/* Be the server the monitor started: the exit status. */
static int
be_server(int argc, char **argv, struct config *cf)
{
	int lfds[64], monfd, keep;
	size_t n;

	monfd = atoi(getenv(MON_ENV_SERVER));
	n = fd_list(getenv(MON_ENV_LISTEN), lfds, sizeof(lfds) /
	    sizeof(lfds[0]));
	/* The monitor placed them at 3, 4...; nothing else is ours but
	 * the log's own fd (logq.c). */
	keep = logq_fd();
	if (keep >= 4 + (int)n) {
		if (keep > 4 + (int)n)
			close_range(4 + (unsigned)n, (unsigned)keep - 1, 0);
		close_range((unsigned)keep + 1, ~0U, 0);
	} else
		close_range(4 + (unsigned)n, ~0U, 0);
	fcntl(monfd, F_SETFD, FD_CLOEXEC);
	unsetenv(MON_ENV_SERVER);
	unsetenv(MON_ENV_LISTEN);
	/* Started by the monitor, which may already be gone. */
	if (monfd < 3 || getppid() == 1) {
		log_error("no monitor: procctld starts as one process, which "
		    "then runs the server");
		return 1;
	}
	/* Opened as root, kept when root is dropped; the server rotates
	 * it (the monitor only follows). */
	if (cf->log_file != NULL && logq_open_file(cf->log_file, cf->log_max,
	    cf->log_backups, 1) == -1)
		log_warn("[daemon] log_file = %s: %s; logging to stderr",
		    cf->log_file, strerror(errno));
	set_title(argc, argv, "procctld: server");
	prctl(PR_SET_NAME, "procctld-srv");
	active_config = cf;
	/* PLUGIN LOAD parses this copy until the monitor reads a newer. */
	plugin_host_config(&start_text);
	raise_nofile();
	if (start(cf, monfd, lfds, n) == -1) {
		stop(1);
		config_free(cf);
		return bad_config ? EX_CONFIG_CODE : 1;
	}
	if (loop_run() == -1)
		log_error("event loop failed; shutting down");
	stop(0);
	config_free(cf);
	log_info("stopped");
	return 0;
}

/* One line of FP without its line end, at most SIZE - 1 bytes, into
 * BUF: its length, or -1 (nothing, a NUL byte or too long). */
static ssize_t
read_secret(FILE *fp, char *buf, size_t size)
{
	size_t n = 0;
	int ch;

	while ((ch = getc(fp)) != EOF && ch != '\n') {
		if (ch == '\0' || n + 1 >= size)
			return -1;
		buf[n++] = (char)ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return n > 0 ? (ssize_t)n : -1;
}

/*
 * --hash-secret[=USER]: the line for the secrets file.  The secret is
 * the first line of standard input; on a terminal it is asked for,
 * without echo.  EX_DATAERR (65) when there is none usable.
 */
static int
hash_secret(const char *user)
{
	struct termios old, quiet;
	char secret[513], hash[256];
	int tty = isatty(STDIN_FILENO), rc;
	ssize_t n;

	if (user != NULL && (user[0] == '\0' || strpbrk(user, ":\n\r") !=
	    NULL)) {
		fprintf(stderr, "procctld: --hash-secret=%s: a user name "
		    "has no ':' and no line break\n", user);
		return 2;
	}
	if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		fprintf(stderr, "secret%s%s: ", user ? " for " : "",
		    user ? user : "");
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		n = read_secret(stdin, secret, sizeof(secret));
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	} else
		n = read_secret(stdin, secret, sizeof(secret));
	if (n == -1) {
		explicit_bzero(secret, sizeof(secret));
		fprintf(stderr, "procctld: --hash-secret: no secret on standard "
		    "input (one line of 1 to 512 bytes, no NUL)\n");
		return 65;
	}
	rc = auth_hash(secret, hash, sizeof(hash));
	explicit_bzero(secret, sizeof(secret));
	if (rc == -1) {
		fprintf(stderr, "procctld: --hash-secret: crypt(3) could not "
		    "hash it\n");
		return 70;
	}
	printf("%s%s%s\n", user ? user : "", user ? ":" : "", hash);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* What the checks loaded, for a procctld that goes no further. */
static void
release(struct config *c)
{
	auth_free();
	tls_free();
	access_free();
	promhttp_stop();
	config_free(c);
	confread_text_free(&start_text);
}

int
main(int argc, char **argv)
{
	struct config cf;
	const char *file = NULL, *sock = NULL, *level = NULL;
	char defsock[PATH_MAX], dropins[64] = "";
	int ch, test_only = 0, lvl, rc = 0;

	/* A fresh start owns no fd above stderr but the listening sockets
	 * systemd passed (socket activation: from fd 3 on, LISTEN_FDS
	 * unset for whatever we start): whatever else our parent left open
	 * must not reach the server or a child. */
	if (getenv(MON_ENV_SERVER) == NULL && getenv(MON_ENV_UPGRADE) ==
	    NULL) {
		activation_begin();
		close_range(SD_LISTEN_FDS_START + (nactivated > 0 ?
		    (unsigned)nactivated : 0), ~0U, 0);
	}
	/* A reader of stderr that has gone is EPIPE, not the end of the
	 * parent of every process (children get SIG_DFL back: spawn.c). */
	signal(SIGPIPE, SIG_IGN);
	logq_init();
	while ((ch = getopt_long(argc, argv, "c:s:l:tVh", long_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'l':
			level = optarg;
			break;
		case 't':
			test_only = 1;
			break;
		case 'V':
			printf("procctld %s (plugin ABI %d.%d)\n",
			    PROCCTLD_VERSION, PROCCTL_ABI_MAJOR,
			    PROCCTL_ABI_MINOR);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'H':
			return hash_secret(optarg);
		default:	/* getopt said which */
			fprintf(stderr, "procctld: try 'procctld --help'\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "procctld: unexpected argument '%s'; try "
		    "'procctld --help'\n", argv[optind]);
		return 2;
	}
	config_defaults(&cf);
	/* A server parses the bytes its monitor found usable, if it was
	 * given them; else the files. */
	if (file != NULL && getenv(MON_ENV_SERVER) != NULL &&
	    reload_handed_config(file, &start_text) == 0)
		rc = config_load_text(&cf, &start_text, 0);
	else if (file != NULL)
		rc = confread_load(&cf, file, &start_text);
	if (rc == -1) {
		log_error("%s: configuration unusable; not starting", file);
		release(&cf);
		return EX_CONFIG_CODE;
	}
	cf.load_all = file == NULL;
	if (level != NULL) {
		if ((lvl = log_level_parse(level)) < 0) {
			log_error("-l %s: expected error, warn, info or debug",
			    level);
			release(&cf);
			return 2;
		}
		cf.log_level = lvl;
	}
	log_init(cf.log_level);
	if (sock != NULL) {
		free(cf.socket);
		cf.socket = strdup(sock);
	} else if (cf.socket == NULL) {
		if (paths_default_socket(defsock, sizeof(defsock)) == -1) {
			log_error("default socket path too long");
			release(&cf);
			return EX_CONFIG_CODE;
		}
		cf.socket = strdup(defsock);
	}
	if (cf.socket == NULL || resolve_plugin_dir(&cf) == -1 ||
	    reload_beside(&cf, &cf.log_file) == -1)
		fatal("out of memory");
	if (check_tcp(&cf) == -1 || check_metrics(&cf) == -1 ||
	    access_load(&cf) == -1 ||
	    check_socket_group(&cf) == -1 ||
	    (test_only && check_plugins(&cf) == -1)) {
		log_error("%s: configuration unusable; not starting",
		    file ? file : "built-in defaults");
		release(&cf);
		return EX_CONFIG_CODE;
	}
	if (test_only) {
		if (cf.include != NULL)
			snprintf(dropins, sizeof(dropins), ", %zu drop-in "
			    "file%s", start_text.n - 1, start_text.n == 2 ?
			    "" : "s");
		printf("%s: configuration ok (socket %s, plugin directory "
		    "%s%s)\n", file ? file : "built-in defaults", cf.socket,
		    cf.plugin_dir, dropins);
		release(&cf);
		return 0;
	}
	if (getenv(MON_ENV_SERVER) != NULL)
		return be_server(argc, argv, &cf);
	/* The monitor's: it follows the server's rotation.  Re-executed
	 * for an upgrade, it is the parent of every process: it goes on
	 * without the file rather than end. */
	if (cf.log_file != NULL && logq_open_file(cf.log_file, 0, 0, 0) == -1) {
		if (getenv(MON_ENV_UPGRADE) != NULL)
			log_warn("[daemon] log_file = %s: %s; logging to "
			    "stderr", cf.log_file, strerror(errno));
		else {
			log_error("[daemon] log_file = %s: %s; not starting",
			    cf.log_file, strerror(errno));
			release(&cf);
			return EX_CONFIG_CODE;
		}
	}
	raise_nofile();
	become_monitor(argc, argv, &cf);
}
