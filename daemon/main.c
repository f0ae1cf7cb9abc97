/*
 * procctld: options, configuration, start-up and orderly shutdown.  Once
 * the configuration is known to be usable, procctld splits in two: the
 * first process becomes the monitor (monitor/: the parent of every
 * managed process), its child the server (everything else).  They share
 * a socketpair and nothing else.
 */
#include <errno.h>
#include <grp.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor.h"
#include "paths.h"
#include "procctld.h"

#ifndef PROCCTL_PLUGIN_DIR
#define PROCCTL_PLUGIN_DIR "/usr/local/lib/procctl/plugins"
#endif

static const struct config *active_config;
static int sigfd = -1;
static struct watch *sigwatch;

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: procctld [-t] [-c FILE] [-s SOCKET] [-l LEVEL]\n"
"\n"
"  -c FILE    configuration file (INI); without it, built-in defaults and\n"
"             every plugin in the plugin directory\n"
"  -s SOCKET  Unix socket to listen on (overrides the file)\n"
"  -l LEVEL   log level: error, warn, info, debug (overrides the file)\n"
"  -t         check the configuration and exit\n"
"  -V         print the version and exit\n"
"  -h         this help\n"
"\n"
"Runs in the foreground and logs to stderr.  SIGTERM or SIGINT: stop\n"
"listening, unload the plugins (each ends what it manages), remove the\n"
"socket, exit 0.\n"
"Exit status: 0 ok, 1 start-up failure, 2 usage, 78 unusable configuration.\n");
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

/* PATH as written in the config file: relative to the file's directory. */
static char *
beside_config(const struct config *c, const char *path)
{
	char tmp[PATH_MAX], out[PATH_MAX + 1];

	if (path[0] == '/' || c->file == NULL)
		return strdup(path);
	snprintf(tmp, sizeof(tmp), "%s", c->file);
	snprintf(out, sizeof(out), "%s/%s", dirname(tmp), path);
	return strdup(out);
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

/* A relative file name in the config is relative to the config. */
static int
resolve_beside(struct config *c, char **path)
{
	char *p;

	if (*path == NULL)
		return 0;
	if ((p = beside_config(c, *path)) == NULL)
		return -1;
	free(*path);
	*path = p;
	return 0;
}

static int
check_tcp(struct config *c)
{
	char err[128];
	size_t i;
	int lo;

	for (i = 0; i < c->ntcp; i++) {
		lo = listen_is_loopback(c->tcp_listen[i], err, sizeof(err));
		if (lo == -1) {
			log_error("[tcp] listen = %s: %s", c->tcp_listen[i],
			    err);
			return -1;
		}
		if (lo == 0 && c->tls_cert == NULL) {
			log_error("[tcp] listen = %s: not a loopback address; "
			    "plaintext TCP is allowed only on loopback: set "
			    "tls_cert and tls_key, or listen on 127.0.0.1 or "
			    "[::1]", c->tcp_listen[i]);
			return -1;
		}
	}
	if (resolve_beside(c, &c->tls_cert) == -1 ||
	    resolve_beside(c, &c->tls_key) == -1 ||
	    resolve_beside(c, &c->tls_client_ca) == -1 ||
	    resolve_beside(c, &c->tcp_secrets) == -1)
		return -1;
	if (c->ntcp > 0 && tls_init(c) == -1)
		return -1;
	if (c->tcp_secrets == NULL)
		return 0;
	return auth_load(c->tcp_secrets);
}

/* A relative plugin_dir in a file is relative to that file. */
static int
resolve_plugin_dir(struct config *c)
{
	char tmp[PATH_MAX], out[PATH_MAX + 1];
	char *dir;

	if (c->plugin_dir == NULL)
		return (c->plugin_dir = default_plugin_dir()) ? 0 : -1;
	if (c->plugin_dir[0] == '/' || c->file == NULL)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s", c->file);
	dir = dirname(tmp);
	snprintf(out, sizeof(out), "%s/%s", dir, c->plugin_dir);
	free(c->plugin_dir);
	return (c->plugin_dir = strdup(out)) ? 0 : -1;
}

static int
listen_all_tcp(const struct config *c)
{
	size_t i;

	for (i = 0; i < c->ntcp; i++)
		if (listen_tcp(c->tcp_listen[i]) == -1)
			return -1;
	return 0;
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

/*
 * SIGHUP: read the file again and apply its [access] policy; connections
 * are checked against it on their next command.  Everything else (socket,
 * listeners, plugins) keeps its start-up value until a restart.
 */
static void
reload(void)
{
	struct config nc;

	if (active_config == NULL || active_config->file == NULL) {
		log_warn("SIGHUP: no configuration file to reload");
		return;
	}
	config_defaults(&nc);
	if (config_load(&nc, active_config->file) == -1 ||
	    access_load(&nc) == -1) {
		log_error("SIGHUP: %s not reloaded: the running policy stays",
		    active_config->file);
		config_free(&nc);
		return;
	}
	log_info("SIGHUP: [access] policy reloaded from %s (other changes "
	    "take effect at restart)", active_config->file);
	config_free(&nc);
	session_policy_changed();
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
			reload();
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

/*
 * Split: the monitor stays in this process (it never returns from
 * monitor_main), the server goes on in a child.  The server's end of the
 * socketpair, or -1.
 */
static int
split(int argc, char **argv)
{
	pid_t pid, monitor = getpid();
	sigset_t set;
	int sv[2];

	/* Blocked before the split: a signal that comes before either
	 * process has its signalfd waits for it instead of killing it (the
	 * server may be listening before the monitor is set up). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(sv[1]);
		set_title(argc, argv, "procctld: monitor");
		prctl(PR_SET_NAME, "procctld-mon");
		monitor_main(sv[0], pid);
	}
	close(sv[0]);
	/* A server without its monitor can manage nothing: it goes too. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != monitor)
		_exit(1);
	set_title(argc, argv, "procctld: server");
	prctl(PR_SET_NAME, "procctld-srv");
	return sv[1];
}

/* The layers from the bottom up, then the plugins, then the doors. */
static int
start(const struct config *c, int monfd)
{
	struct conn_limits cl;
	struct session_limits sl;
	int nplugins;

	memset(&cl, 0, sizeof(cl));
	cl.max_clients = c->max_clients;
	cl.max_output = c->max_output;
	memset(&sl, 0, sizeof(sl));
	sl.max_request = c->max_request;
	sl.max_args = c->max_args;
	sl.max_output = c->max_output;
	sl.max_clients = c->max_clients;
	sl.max_batch = c->max_batch;
	if (loop_init() == -1 || setup_signals() == -1 ||
	    children_init(monfd) == -1 || command_init() == -1 ||
	    session_init(&sl) == -1 || plugin_host_init(c) == -1)
		return -1;
	conn_init(&cl);
	loop_set_before_sleep(conn_before_sleep);
	nplugins = plugin_load_all(c);
	if (listen_unix(c->socket, c->socket_mode, socket_gid) == -1 ||
	    listen_all_tcp(c) == -1)
		return -1;
	log_info("procctld %s listening on %s (%d plugin%s); try: procctl "
	    "-s %s help", PROCCTLD_VERSION, c->socket, nplugins,
	    nplugins == 1 ? "" : "s", c->socket);
	return 0;
}

/* Everything start() made, in reverse; safe after a partial start. */
static void
stop(void)
{
	listen_close();
	conn_close_all();
	/* The monitor ends every process gracefully (SIGTERM, then SIGKILL
	 * after each one's stop time); after this, unloading a plugin
	 * kills nothing. */
	children_shutdown();
	plugin_unload_all();
	conn_before_sleep();	/* what the plugins' last words woke */
	children_free();
	plugin_host_fini();
	dispatch_free();
	session_fini();
	command_free_all();
	if (sigwatch != NULL)
		loop_unwatch(sigwatch);
	sigwatch = NULL;
	loop_free();
	if (sigfd != -1)
		close(sigfd);
	sigfd = -1;
	auth_free();
	tls_free();
	access_free();
}

int
main(int argc, char **argv)
{
	struct config cf;
	const char *file = NULL, *sock = NULL, *level = NULL;
	char defsock[PATH_MAX];
	int ch, test_only = 0, lvl, monfd;

	while ((ch = getopt(argc, argv, "c:s:l:tVh")) != -1) {
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
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	config_defaults(&cf);
	if (file != NULL && config_load(&cf, file) == -1) {
		log_error("%s: configuration unusable; not starting", file);
		config_free(&cf);
		return EX_CONFIG_CODE;
	}
	cf.load_all = file == NULL;
	if (level != NULL) {
		if ((lvl = log_level_parse(level)) < 0) {
			log_error("-l %s: expected error, warn, info or debug",
			    level);
			config_free(&cf);
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
			config_free(&cf);
			return EX_CONFIG_CODE;
		}
		cf.socket = strdup(defsock);
	}
	if (cf.socket == NULL || resolve_plugin_dir(&cf) == -1)
		fatal("out of memory");
	if (check_tcp(&cf) == -1 || access_load(&cf) == -1 ||
	    check_socket_group(&cf) == -1) {
		log_error("%s: configuration unusable; not starting",
		    file ? file : "built-in defaults");
		auth_free();
		tls_free();
		access_free();
		config_free(&cf);
		return EX_CONFIG_CODE;
	}
	if (test_only) {
		printf("%s: configuration ok (socket %s, plugin directory %s)\n",
		    file ? file : "built-in defaults", cf.socket,
		    cf.plugin_dir);
		auth_free();
		tls_free();
		access_free();
		config_free(&cf);
		return 0;
	}
	active_config = &cf;
	raise_nofile();
	if ((monfd = split(argc, argv)) == -1 || start(&cf, monfd) == -1) {
		stop();
		config_free(&cf);
		return 1;
	}
	if (loop_run() == -1)
		log_error("event loop failed; shutting down");
	stop();
	config_free(&cf);
	log_info("stopped");
	return 0;
}
