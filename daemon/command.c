/*
 * The command table and the core's own commands.  The core knows no
 * command but these; everything else is registered by plugins.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "procctld.h"

#define NAME_MAX_LEN	64

static struct command **table;	/* sorted by name; owned */
static size_t ncommands, cap;
extern const struct config *active_config;

static int
cmp_name(const void *key, const void *elem)
{
	const struct command *const *c = elem;

	return strcmp(key, (*c)->name);
}

const struct command *
command_find(const char *name)
{
	char low[NAME_MAX_LEN + 1];
	struct command **c;
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		if (i == NAME_MAX_LEN)
			return NULL;
		low[i] = (char)tolower((unsigned char)name[i]);
	}
	low[i] = '\0';
	if (ncommands == 0)
		return NULL;
	c = bsearch(low, table, ncommands, sizeof(*table), cmp_name);
	return c ? *c : NULL;
}

static int
valid_name(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > NAME_MAX_LEN)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

int
command_add(const struct procctl_command *cmd, struct procctl_plugin *owner)
{
	const struct command *dup;
	struct command *c, **t;
	size_t i, pos;

	if (cmd == NULL || !valid_name(cmd->name) || cmd->fn == NULL ||
	    cmd->arity == 0) {
		log_error("plugin %s: refused a command with a missing or "
		    "invalid name, handler or arity", plugin_name(owner));
		return -1;
	}
	if ((dup = command_find(cmd->name)) != NULL) {
		log_error("plugin %s: command '%s' is already registered by "
		    "%s; refused", plugin_name(owner), cmd->name,
		    dup->plugin ? plugin_name(dup->plugin) : "the core");
		return -1;
	}
	if (ncommands == cap) {
		cap = cap ? cap * 2 : 32;
		if ((t = realloc(table, cap * sizeof(*t))) == NULL)
			return -1;
		table = t;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->name = strdup(cmd->name);
	c->usage = strdup(cmd->usage ? cmd->usage : cmd->name);
	c->summary = strdup(cmd->summary ? cmd->summary : "");
	if (c->name == NULL || c->usage == NULL || c->summary == NULL) {
		free(c->name);
		free(c->usage);
		free(c->summary);
		free(c);
		return -1;
	}
	for (i = 0; c->name[i] != '\0'; i++)
		c->name[i] = (char)tolower((unsigned char)c->name[i]);
	c->fn = cmd->fn;
	c->arity = cmd->arity;
	c->flags = cmd->flags;
	c->plugin = owner;
	for (pos = 0; pos < ncommands; pos++)
		if (strcmp(table[pos]->name, c->name) > 0)
			break;
	memmove(&table[pos + 1], &table[pos],
	    (ncommands - pos) * sizeof(*table));
	table[pos] = c;
	ncommands++;
	return 0;
}

static void
command_free(struct command *c)
{
	free(c->name);
	free(c->usage);
	free(c->summary);
	free(c);
}

void
command_remove_owner(struct procctl_plugin *owner)
{
	size_t i, j = 0;

	for (i = 0; i < ncommands; i++) {
		if (table[i]->plugin == owner && owner != NULL)
			command_free(table[i]);
		else
			table[j++] = table[i];
	}
	ncommands = j;
}

void
command_free_all(void)
{
	size_t i;

	for (i = 0; i < ncommands; i++)
		command_free(table[i]);
	free(table);
	table = NULL;
	ncommands = cap = 0;
}

static int
arity_ok(const struct command *c, int argc)
{
	if (c->arity > 0)
		return argc == c->arity;
	return argc >= -c->arity;
}

void
command_dispatch(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	const struct procctl_caller *who = conn_caller(ctx->conn);
	const struct command *c;

	/* A TCP peer proves who it is before anything else, even which
	 * commands exist. */
	if (!conn_authed(ctx->conn) && strcasecmp(argv[0].ptr, "hello") != 0
	    && strcasecmp(argv[0].ptr, "auth") != 0 &&
	    strcasecmp(argv[0].ptr, "quit") != 0) {
		reply_error(ctx, "AUTH", "authentication required: AUTH <user> "
		    "<secret>, or HELLO 3 AUTH <user> <secret>");
		return;
	}
	/* The policy on every command: it may have been reloaded. */
	if (!conn_recheck(ctx->conn)) {
		reply_error(ctx, "NOPERM", "user '%s' may no longer use this "
		    "procctld", who->user);
		log_warn("uid %u (%s) pid %d: no longer allowed by [access]; "
		    "closing", (unsigned)who->uid, who->user, (int)who->pid);
		conn_set_quit(ctx->conn);
		return;
	}
	if ((c = command_find(argv[0].ptr)) == NULL ||
	    strlen(argv[0].ptr) != argv[0].len) {
		reply_error(ctx, "ERR", "unknown command '%.64s'; 'help' lists "
		    "the commands", argv[0].ptr);
		return;
	}
	ctx->cmd = c;
	if (!arity_ok(c, argc)) {
		reply_error(ctx, "ARGS", "wrong number of arguments for '%s'; "
		    "usage: %s", c->name, c->usage);
		return;
	}
	if ((c->flags & PROCCTL_CMD_ADMIN) && !who->admin) {
		reply_error(ctx, "NOPERM", "'%s' is for admins only", c->name);
		return;
	}
	c->fn(ctx, argc, argv);
}

/* ---- built-in commands ---- */

static void
reply_doc(struct procctl_ctx *ctx, const struct command *c)
{
	reply_map(ctx, 6);
	reply_str(ctx, "name");
	reply_str(ctx, c->name);
	reply_str(ctx, "arity");
	reply_int(ctx, c->arity);
	reply_str(ctx, "usage");
	reply_str(ctx, c->usage);
	reply_str(ctx, "summary");
	reply_str(ctx, c->summary);
	reply_str(ctx, "flags");
	if (c->flags & PROCCTL_CMD_ADMIN) {
		reply_array(ctx, 1);
		reply_str(ctx, "admin");
	} else
		reply_array(ctx, 0);
	reply_str(ctx, "plugin");
	reply_str(ctx, c->plugin ? plugin_name(c->plugin) : "core");
}

void
command_reply_docs(struct procctl_ctx *ctx)
{
	size_t i;

	reply_array(ctx, ncommands);
	for (i = 0; i < ncommands; i++)
		reply_doc(ctx, table[i]);
}

#define AUTH_DELAY_MS	1000

static unsigned long auth_failures_total;

static void
auth_fail_later(void *arg)
{
	struct procctl_ctx *d = arg;

	reply_error(d, "AUTH", "invalid username or secret");
	conn_finish_deferred(d);
}

/*
 * Authenticate a TCP peer.  0 on success.  On failure the reply (one
 * generic error, whatever was wrong) is deferred by AUTH_DELAY_MS, which
 * also holds back anything the peer pipelined after it; -1.
 */
static int
authenticate(struct procctl_ctx *ctx, const struct procctl_arg *user,
    const struct procctl_arg *secret)
{
	struct conn *c = ctx->conn;
	struct procctl_ctx *d;
	unsigned long n;
	int rc;

	if (!conn_is_tcp(c)) {
		reply_error(ctx, "AUTH", "AUTH is for remote clients; on the "
		    "local socket you are '%s', as the kernel says",
		    conn_caller(c)->user);
		return -1;
	}
	if (conn_cert_user(c)) {
		reply_error(ctx, "AUTH", "you are '%s', as your client "
		    "certificate says; AUTH is not needed", conn_caller(c)->user);
		return -1;
	}
	if (auth_enabled() && strlen(user->ptr) == user->len &&
	    auth_check(user->ptr, secret->ptr, secret->len) == 0) {
		if ((rc = conn_set_user(c, user->ptr)) == 0) {
			log_info("client %llu (%s) authenticated as %s",
			    (unsigned long long)conn_id(c), conn_peer(c),
			    user->ptr);
			return 0;
		}
		if (rc == -2) {
			/* Who they are is proven: say why, and close. */
			reply_error(ctx, "NOPERM", "user '%.64s' may not use "
			    "this procctld", user->ptr);
			conn_set_quit(c);
			return -1;
		}
		log_warn("user '%.64s' has a secret but no local account; "
		    "refused", user->ptr);
	}
	n = conn_auth_failed(c);
	auth_failures_total++;
	log_warn("authentication failure from %s for user '%.64s' (%lu on "
	    "this connection, %lu since start)", conn_peer(c), user->ptr, n,
	    auth_failures_total);
	if ((d = conn_defer(ctx)) == NULL ||
	    loop_timer_add(AUTH_DELAY_MS, auth_fail_later, d) == 0) {
		if (d != NULL)
			auth_fail_later(d);
		else
			reply_error(ctx, "AUTH", "invalid username or secret");
	}
	return -1;
}

static void
cmd_auth(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	static const struct procctl_arg def = { "default", 7 };

	if (argc > 3) {
		reply_error(ctx, "ARGS", "usage: AUTH [user] secret");
		return;
	}
	/* AUTH <secret> is Redis's form for the user "default". */
	if (authenticate(ctx, argc == 3 ? &argv[1] : &def,
	    argc == 3 ? &argv[2] : &argv[1]) == 0)
		reply_simple(ctx, "OK");
}

static void
cmd_hello(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = conn_caller(ctx->conn);
	const struct config *cf = active_config;
	long ver;
	char *end;
	int i;

	if (argc >= 2) {
		ver = strtol(argv[1].ptr, &end, 10);
		if (*end != '\0' || (ver != 2 && ver != 3)) {
			reply_error(ctx, "NOPROTO", "unsupported protocol "
			    "version; this server speaks 2 and 3");
			return;
		}
		for (i = 2; i < argc; i++) {
			if (strcasecmp(argv[i].ptr, "AUTH") == 0 &&
			    i + 2 < argc) {
				if (authenticate(ctx, &argv[i + 1],
				    &argv[i + 2]) == -1)
					return;
				i += 2;
				continue;
			}
			if (strcasecmp(argv[i].ptr, "SETNAME") == 0 &&
			    i + 1 < argc) {
				i++;
				continue;
			}
			reply_error(ctx, "ARGS", "HELLO: unknown option "
			    "'%.64s'; usage: HELLO [2|3] [AUTH user secret] "
			    "[SETNAME name]", argv[i].ptr);
			return;
		}
		conn_set_proto(ctx->conn, (int)ver);
		ctx->proto = (int)ver;
	}
	reply_map(ctx, 10);
	reply_str(ctx, "server");
	reply_str(ctx, "procctld");
	reply_str(ctx, "version");
	reply_str(ctx, PROCCTLD_VERSION);
	reply_str(ctx, "proto");
	reply_int(ctx, ctx->proto);
	reply_str(ctx, "id");
	reply_int(ctx, (long long)who->conn_id);
	reply_str(ctx, "mode");
	reply_str(ctx, "standalone");
	reply_str(ctx, "role");
	reply_str(ctx, "master");
	reply_str(ctx, "user");
	reply_str(ctx, who->user);
	reply_str(ctx, "admin");
	reply_bool(ctx, who->admin);
	reply_str(ctx, "limits");
	reply_map(ctx, 4);
	reply_str(ctx, "max_request");
	reply_int(ctx, (long long)cf->max_request);
	reply_str(ctx, "max_args");
	reply_int(ctx, (long long)cf->max_args);
	reply_str(ctx, "max_output");
	reply_int(ctx, (long long)cf->max_output);
	reply_str(ctx, "max_clients");
	reply_int(ctx, (long long)cf->max_clients);
	reply_str(ctx, "commands");
	command_reply_docs(ctx);
}

static void
cmd_ping(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	if (argc > 2)
		reply_error(ctx, "ARGS", "usage: PING [message]");
	else if (argc == 2)
		reply_bulk(ctx, argv[1].ptr, argv[1].len);
	else
		reply_simple(ctx, "PONG");
}

static void
cmd_echo(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)argc;
	reply_bulk(ctx, argv[1].ptr, argv[1].len);
}

static void
cmd_command(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct command *c;
	int i;

	if (argc == 1 || strcasecmp(argv[0].ptr, "help") == 0) {
		if (argc == 1) {
			command_reply_docs(ctx);
			return;
		}
		if ((c = command_find(argv[1].ptr)) == NULL) {
			reply_error(ctx, "NOENT", "no command '%.64s'",
			    argv[1].ptr);
			return;
		}
		reply_doc(ctx, c);
		return;
	}
	if (strcasecmp(argv[1].ptr, "COUNT") == 0 && argc == 2) {
		reply_int(ctx, (long long)ncommands);
		return;
	}
	if (strcasecmp(argv[1].ptr, "INFO") == 0) {
		reply_array(ctx, (size_t)(argc - 2));
		for (i = 2; i < argc; i++) {
			if ((c = command_find(argv[i].ptr)) != NULL)
				reply_doc(ctx, c);
			else
				reply_null(ctx);
		}
		return;
	}
	reply_error(ctx, "ERR", "unknown subcommand '%.64s'; try COMMAND, "
	    "COMMAND COUNT or COMMAND INFO <name>...", argv[1].ptr);
}

static void
cmd_plugin(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct procctl_caller *who = conn_caller(ctx->conn);
	char err[256];

	if (argc == 2 && strcasecmp(argv[1].ptr, "list") == 0) {
		plugin_reply_list(ctx);
		return;
	}
	if (argc == 3 && strcasecmp(argv[1].ptr, "load") == 0) {
		if (!who->admin) {
			reply_error(ctx, "NOPERM", "plugin load is for admins "
			    "only");
			return;
		}
		if (plugin_load_named(active_config, argv[2].ptr, err,
		    sizeof(err)) == -1) {
			reply_error(ctx, "ERR", "%s", err);
			return;
		}
		log_info("plugin %s loaded at the request of %s (uid %u)",
		    argv[2].ptr, who->user, (unsigned)who->uid);
		reply_simple(ctx, "OK");
		return;
	}
	reply_error(ctx, "ARGS", "usage: PLUGIN LIST | PLUGIN LOAD <name>");
}

static void
cmd_subscribe(struct procctl_ctx *ctx, int argc,
    const struct procctl_arg *argv)
{
	(void)argc;
	(void)argv;
	conn_set_subscribed(ctx->conn);
	reply_simple(ctx, "OK");
}

static void
cmd_quit(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)argc;
	(void)argv;
	reply_simple(ctx, "OK");
	conn_set_quit(ctx->conn);
}

static const struct procctl_command builtins[] = {
	{ "auth", cmd_auth, -2, "AUTH [user] secret",
	  "Authenticate a TCP connection (local peers are known from the "
	  "kernel)", 0 },
	{ "hello", cmd_hello, -1, "HELLO [2|3] [AUTH user secret] "
	  "[SETNAME name]",
	  "Choose the protocol version; describes the server and its "
	  "commands", 0 },
	{ "ping", cmd_ping, -1, "PING [message]",
	  "Check the connection", 0 },
	{ "echo", cmd_echo, 2, "ECHO message",
	  "Reply with the message (redis-cli --pipe ends its stream with "
	  "it)", 0 },
	{ "command", cmd_command, -1, "COMMAND [COUNT | INFO name...]",
	  "List the commands with arity, usage and summary", 0 },
	{ "help", cmd_command, -1, "help [command]",
	  "Describe all commands, or one", 0 },
	{ "subscribe", cmd_subscribe, -1, "SUBSCRIBE",
	  "Receive push events (your processes starting and ending) on "
	  "this connection", 0 },
	{ "plugin", cmd_plugin, -2, "PLUGIN LIST | PLUGIN LOAD <name>",
	  "The loaded plugins; LOAD (admins) adds one from the config", 0 },
	{ "quit", cmd_quit, 1, "QUIT",
	  "Close the connection after the reply", 0 },
};

int
command_init(void)
{
	size_t i;

	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (command_add(&builtins[i], NULL) == -1)
			return -1;
	return 0;
}
