/*
 * The command table: every command the daemon answers, registered by the
 * core's files and by plugins, kept sorted by name and described to
 * clients (COMMAND, help, HELLO) from what each registration declares.
 * A registration is copied: nothing here points into a plugin's memory
 * but its handler.  Also the core's commands that need nothing but the
 * table: PING, ECHO, COMMAND and help.
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

static const char *const type_names[] = {
	"word", "keyword", "int", "number", "program", "file",
};

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

size_t
command_count(void)
{
	return ncommands;
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

static void
command_free(struct command *c)
{
	size_t i;
	char **w;

	if (c == NULL)
		return;
	for (i = 0; i < c->nopts; i++) {
		free(c->opts[i].name);
		free(c->opts[i].value);
		free(c->opts[i].summary);
	}
	for (i = 0; i < c->nparams; i++) {
		free(c->params[i].name);
		for (w = c->params[i].words; w != NULL && *w != NULL; w++)
			free(*w);
		free(c->params[i].words);
		free(c->params[i].complete_command);
		free(c->params[i].complete_fields);
		free(c->params[i].complete_events);
	}
	free(c->opts);
	free(c->params);
	free(c->name);
	free(c->usage);
	free(c->summary);
	free(c->group);
	free(c->owner);
	free(c);
}

/* strdup that keeps NULL; *FAILED is set when memory ran out. */
static char *
dup_or_null(const char *s, int *failed)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*failed = 1;
	return d;
}

/* "all|details" as a NULL-ended array of lower-case words. */
static char **
split_words(const char *s, int *failed)
{
	char **w, *copy, *tok, *save, *p;
	size_t n = 0, i;

	if (s == NULL || (copy = strdup(s)) == NULL) {
		*failed |= s != NULL;
		return NULL;
	}
	for (p = copy, n = 1; *p != '\0'; p++)
		n += *p == '|';
	if ((w = calloc(n + 1, sizeof(*w))) == NULL) {
		free(copy);
		*failed = 1;
		return NULL;
	}
	n = 0;
	for (tok = strtok_r(copy, "|", &save); tok != NULL;
	    tok = strtok_r(NULL, "|", &save)) {
		for (i = 0; tok[i] != '\0'; i++)
			tok[i] = (char)tolower((unsigned char)tok[i]);
		if ((w[n++] = strdup(tok)) == NULL)
			*failed = 1;
	}
	free(copy);
	return w;
}

/* Copy the declared options and parameters of CMD (ABI minor 1). */
static int
copy_declaration(struct command *c, const struct procctl_command *cmd)
{
	const struct procctl_option *o;
	const struct procctl_param *p;
	struct cmd_param *cp;
	size_t n;
	int failed = 0;

	for (n = 0, o = cmd->options; o != NULL && o->name != NULL; o++)
		n++;
	if (n > 0 && (c->opts = calloc(n, sizeof(*c->opts))) == NULL)
		return -1;
	for (o = cmd->options; o != NULL && o->name != NULL; o++) {
		c->opts[c->nopts].name = dup_or_null(o->name, &failed);
		c->opts[c->nopts].letter = o->letter;
		c->opts[c->nopts].value = dup_or_null(o->value, &failed);
		c->opts[c->nopts].summary = dup_or_null(o->summary ?
		    o->summary : "", &failed);
		c->nopts++;
	}
	if (cmd->params == NULL)
		return failed ? -1 : 0;
	for (n = 0, p = cmd->params; p->name != NULL; p++)
		n++;
	if ((c->params = calloc(n + 1, sizeof(*c->params))) == NULL)
		return -1;
	for (p = cmd->params; p->name != NULL; p++) {
		cp = &c->params[c->nparams++];
		cp->name = dup_or_null(p->name, &failed);
		cp->type = p->type;
		cp->words = split_words(p->type == PROCCTL_PARAM_KEYWORD ?
		    (p->words ? p->words : p->name) : NULL, &failed);
		cp->min = p->min;
		cp->max = p->max;
		cp->flags = p->flags;
		cp->complete_command = dup_or_null(p->complete_command,
		    &failed);
		cp->complete_fields = dup_or_null(p->complete_fields, &failed);
		cp->complete_events = dup_or_null(p->complete_events, &failed);
	}
	return failed ? -1 : 0;
}

/* A declaration the parser can follow: known types, sane counts, a
 * `rest` parameter last, option names unique.  NULL, or why not. */
static const char *
bad_declaration(const struct command *c)
{
	size_t i, j;

	for (i = 0; i < c->nparams; i++) {
		if (c->params[i].type < PROCCTL_PARAM_WORD ||
		    c->params[i].type > PROCCTL_PARAM_FILE)
			return "a parameter of unknown type";
		if (c->params[i].max != 0 && c->params[i].min >
		    c->params[i].max)
			return "a parameter with min above max";
		if ((c->params[i].flags & PROCCTL_PARAM_REST) &&
		    i + 1 != c->nparams)
			return "a 'rest' parameter that is not the last";
	}
	for (i = 0; i < c->nopts; i++) {
		if (!valid_name(c->opts[i].name))
			return "an option with an invalid name";
		for (j = 0; j < i; j++)
			if (strcmp(c->opts[i].name, c->opts[j].name) == 0 ||
			    (c->opts[i].letter != 0 &&
			    c->opts[i].letter == c->opts[j].letter))
				return "two options with the same name or letter";
	}
	return NULL;
}

/* Redis's arity from a declaration: exact when every count is fixed and
 * there are no options, else a minimum. */
static int
derived_arity(const struct command *c)
{
	unsigned min = 1, max = 1;
	size_t i;
	int fixed = c->nopts == 0;

	for (i = 0; i < c->nparams; i++) {
		min += c->params[i].min;
		max += c->params[i].max;
		if (c->params[i].max == 0 ||
		    c->params[i].max != c->params[i].min)
			fixed = 0;
	}
	return fixed ? (int)max : -(int)min;
}

static int
table_insert(struct command *c)
{
	struct command **t;
	size_t pos;

	if (ncommands == cap) {
		if ((t = realloc(table, (cap ? cap * 2 : 32) * sizeof(*t)))
		    == NULL)
			return -1;
		table = t;
		cap = cap ? cap * 2 : 32;
	}
	for (pos = 0; pos < ncommands; pos++)
		if (strcmp(table[pos]->name, c->name) > 0)
			break;
	memmove(&table[pos + 1], &table[pos],
	    (ncommands - pos) * sizeof(*table));
	table[pos] = c;
	ncommands++;
	return 0;
}

/* Who registers, for log lines: "core" or "plugin NAME". */
static const char *
who(const void *plugin, const char *owner)
{
	static char text[96];

	if (plugin == NULL)
		return owner;
	snprintf(text, sizeof(text), "plugin %s", owner);
	return text;
}

int
command_add(const struct procctl_command *cmd, unsigned minor,
    unsigned extra_flags, const void *plugin, const char *owner)
{
	const struct command *dup;
	struct command *c;
	const char *why;
	int failed = 0;
	size_t i;

	if (cmd == NULL || !valid_name(cmd->name) || cmd->fn == NULL) {
		log_error("%s: refused a command with a missing or invalid "
		    "name or handler", who(plugin, owner));
		return -1;
	}
	if ((cmd->flags & ~CMD_PUBLIC_FLAGS) != 0) {
		log_error("%s: command '%s' has unknown flags %#x; refused",
		    who(plugin, owner), cmd->name,
		    cmd->flags & ~CMD_PUBLIC_FLAGS);
		return -1;
	}
	if ((dup = command_find(cmd->name)) != NULL) {
		log_error("%s: command '%s' is already registered by %s; "
		    "refused", who(plugin, owner), cmd->name, dup->owner);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->name = dup_or_null(cmd->name, &failed);
	c->summary = dup_or_null(cmd->summary ? cmd->summary : "", &failed);
	c->owner = dup_or_null(owner, &failed);
	c->fn = cmd->fn;
	c->arity = cmd->arity;
	c->flags = cmd->flags | extra_flags;
	c->plugin = plugin;
	/* Members of minor 1 exist only in plugins built with it. */
	if (minor >= 1) {
		c->group = dup_or_null(cmd->group, &failed);
		if (copy_declaration(c, cmd) == -1)
			failed = 1;
	}
	if (failed)
		goto oom;
	if ((why = bad_declaration(c)) != NULL) {
		log_error("%s: command '%s' declares %s; refused",
		    who(plugin, owner), cmd->name, why);
		goto fail;
	}
	if (c->params != NULL)
		c->arity = derived_arity(c);
	if (c->arity == 0) {
		log_error("%s: command '%s' has no arity and declares no "
		    "arguments; refused", who(plugin, owner), cmd->name);
		goto fail;
	}
	if (cmd->usage != NULL)
		c->usage = strdup(cmd->usage);
	else if (c->params != NULL)
		c->usage = args_usage(c);
	else
		c->usage = strdup(cmd->name);
	if (c->group == NULL)
		c->group = strdup(plugin == NULL ? "daemon" : owner);
	if (c->usage == NULL || c->group == NULL)
		goto oom;
	for (i = 0; c->name[i] != '\0'; i++)
		c->name[i] = (char)tolower((unsigned char)c->name[i]);
	if (table_insert(c) == -1)
		goto oom;
	return 0;
oom:
	log_error("%s: out of memory registering '%s'", who(plugin, owner),
	    cmd->name);
fail:
	command_free(c);
	return -1;
}

void
command_remove_owner(const void *plugin)
{
	size_t i, j = 0;

	for (i = 0; i < ncommands; i++) {
		if (plugin != NULL && table[i]->plugin == plugin)
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

/* ---- describing commands ---- */

/* "a b c" as an array of words. */
static void
reply_word_list(struct procctl_ctx *ctx, const char *s)
{
	char copy[256], *tok, *save, *words[32];
	size_t n = 0, i;

	snprintf(copy, sizeof(copy), "%s", s);
	for (tok = strtok_r(copy, " ", &save); tok != NULL && n < 32;
	    tok = strtok_r(NULL, " ", &save))
		words[n++] = tok;
	reply_array(ctx, n);
	for (i = 0; i < n; i++)
		reply_str(ctx, words[i]);
}

static void
reply_param(struct procctl_ctx *ctx, const struct cmd_param *p)
{
	char *const *w;
	size_t n = 0;

	reply_map(ctx, 7);
	reply_str(ctx, "name");
	reply_str(ctx, p->name);
	reply_str(ctx, "type");
	reply_str(ctx, type_names[p->type]);
	reply_str(ctx, "words");
	for (w = p->words; w != NULL && *w != NULL; w++)
		n++;
	reply_array(ctx, n);
	for (w = p->words; w != NULL && *w != NULL; w++)
		reply_str(ctx, *w);
	reply_str(ctx, "min");
	reply_int(ctx, p->min);
	reply_str(ctx, "max");
	reply_int(ctx, p->max);
	reply_str(ctx, "rest");
	reply_bool(ctx, (p->flags & PROCCTL_PARAM_REST) != 0);
	reply_str(ctx, "complete");
	if (p->complete_command == NULL) {
		reply_null(ctx);
		return;
	}
	reply_map(ctx, 3);
	reply_str(ctx, "command");
	reply_str(ctx, p->complete_command);
	reply_str(ctx, "fields");
	reply_word_list(ctx, p->complete_fields ? p->complete_fields : "");
	reply_str(ctx, "events");
	reply_word_list(ctx, p->complete_events ? p->complete_events : "");
}

static void
reply_options(struct procctl_ctx *ctx, const struct command *c)
{
	char letter[2] = { 0, 0 };
	size_t i;

	reply_array(ctx, c->nopts);
	for (i = 0; i < c->nopts; i++) {
		reply_map(ctx, 4);
		reply_str(ctx, "name");
		reply_str(ctx, c->opts[i].name);
		reply_str(ctx, "letter");
		letter[0] = c->opts[i].letter;
		if (letter[0] != 0)
			reply_str(ctx, letter);
		else
			reply_null(ctx);
		reply_str(ctx, "value");
		if (c->opts[i].value != NULL)
			reply_str(ctx, c->opts[i].value);
		else
			reply_null(ctx);
		reply_str(ctx, "summary");
		reply_str(ctx, c->opts[i].summary);
	}
}

void
command_reply_doc(struct procctl_ctx *ctx, const struct command *c)
{
	size_t i;

	reply_map(ctx, 9);
	reply_str(ctx, "name");
	reply_str(ctx, c->name);
	reply_str(ctx, "arity");
	reply_int(ctx, c->arity);
	reply_str(ctx, "usage");
	reply_str(ctx, c->usage);
	reply_str(ctx, "summary");
	reply_str(ctx, c->summary);
	reply_str(ctx, "group");
	reply_str(ctx, c->group);
	reply_str(ctx, "flags");
	reply_array(ctx, ((c->flags & PROCCTL_CMD_ADMIN) != 0) +
	    ((c->flags & CMD_NO_AUTH) != 0));
	if (c->flags & PROCCTL_CMD_ADMIN)
		reply_str(ctx, "admin");
	if (c->flags & CMD_NO_AUTH)
		reply_str(ctx, "noauth");
	reply_str(ctx, "plugin");
	reply_str(ctx, c->owner);
	reply_str(ctx, "options");
	reply_options(ctx, c);
	reply_str(ctx, "args");
	if (c->params == NULL) {
		reply_null(ctx);
		return;
	}
	reply_array(ctx, c->nparams);
	for (i = 0; i < c->nparams; i++)
		reply_param(ctx, &c->params[i]);
}

void
command_reply_docs(struct procctl_ctx *ctx)
{
	size_t i;

	reply_array(ctx, ncommands);
	for (i = 0; i < ncommands; i++)
		command_reply_doc(ctx, table[i]);
}

/* ---- the core's commands that need only the table ---- */

static void
cmd_ping(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	if (argc == 2)
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
cmd_help(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct command *c;

	if (argc == 1) {
		command_reply_docs(ctx);
		return;
	}
	if ((c = command_find(argv[1].ptr)) == NULL) {
		reply_error(ctx, "NOENT", "no command '%.64s'", argv[1].ptr);
		return;
	}
	command_reply_doc(ctx, c);
}

static void
cmd_command(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	const struct command *c;
	int i;

	if (argc == 1) {
		command_reply_docs(ctx);
		return;
	}
	if (strcasecmp(argv[1].ptr, "count") == 0) {
		if (argc != 2) {
			reply_error(ctx, "ARGS", "COUNT takes no names; "
			    "usage: %s", ctx->cmd->usage);
			return;
		}
		reply_int(ctx, (long long)ncommands);
		return;
	}
	reply_array(ctx, (size_t)(argc - 2));
	for (i = 2; i < argc; i++) {
		if ((c = command_find(argv[i].ptr)) != NULL)
			command_reply_doc(ctx, c);
		else
			reply_null(ctx);
	}
}

static const struct procctl_param ping_params[] = {
	{ "message", PROCCTL_PARAM_WORD, NULL, 0, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param echo_params[] = {
	{ "message", PROCCTL_PARAM_WORD, NULL, 1, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param help_params[] = {
	{ "command", PROCCTL_PARAM_WORD, NULL, 0, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param command_params[] = {
	{ "count|info", PROCCTL_PARAM_KEYWORD, NULL, 0, 1, 0, NULL, NULL,
	  NULL },
	{ "name", PROCCTL_PARAM_WORD, NULL, 0, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command builtins[] = {
	{ "ping", cmd_ping, 0, "PING [message]", "Check the connection", 0,
	  NULL, ping_params, "protocol" },
	{ "echo", cmd_echo, 0, "ECHO message",
	  "Reply with the message (redis-cli --pipe ends its stream with "
	  "it)", 0, NULL, echo_params, "protocol" },
	{ "command", cmd_command, 0, "COMMAND [COUNT | INFO name...]",
	  "List the commands with their arguments, usage and summary", 0,
	  NULL, command_params, "protocol" },
	{ "help", cmd_help, 0, "help [command]",
	  "Describe all commands, or one", 0, NULL, help_params, "daemon" },
};

int
command_init(void)
{
	size_t i;

	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (command_add(&builtins[i], PROCCTL_ABI_MINOR, 0, NULL,
		    "core") == -1)
			return -1;
	return 0;
}
