/*
 * Help for people: procctl's own options and commands, which are the only
 * ones written here, and the daemon's, which come from the daemon's own
 * description (cmdinfo.c) so that a plugin's command is documented the
 * moment it is loaded.  `procctl --help` asks the daemon quickly (a
 * second at most, never a secret) and says in one line when it cannot.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "paths.h"

#define HELP_WAIT_MS	1000	/* how long --help waits for the daemon */
#define USAGE_WIDTH	36	/* the usage column of a command table */
#define HELP_MIN_WIDTH	40	/* narrower: lines are cut as well as can be */
/* By the protocol's convention (docs/protocol.md), the group of the
 * commands clients send rather than people: listed last, by name. */
#define HELP_PROTOCOL_GROUP	"protocol"

#define USAGE_LINES \
"usage: procctl [-s SOCKET | -H URL [-u USER] [--tls] [--cacert F]\n" \
"               [--cert F --key F]] [--json] [-t SECONDS] [COMMAND [ARGS...]]\n"

static void	wrap(FILE *, const char *, int, int, int);
static void	wrapf(FILE *, int, int, int, const char *, ...)
		    __attribute__((format(printf, 5, 6)));

static void
own_usage(FILE *fp)
{
	fprintf(fp, USAGE_LINES
"\n"
"Talks to procctld: sends COMMAND, prints the reply and exits with a code\n"
"that says how it went.  The commands are the daemon's (listed below when it\n"
"can be reached); procctl's own are:\n"
"  shell                the interactive shell, also with no COMMAND: connect,\n"
"                       disconnect, exit; events appear as they happen; a\n"
"                       lost connection is made again until disconnect\n"
"  events               follow the event stream (NDJSON with --json)\n"
"  help [COMMAND]       ask the daemon for its commands, or one in full\n"
"\n"
"Options:\n"
"  -s, --socket PATH    the daemon's Unix socket\n"
"  -H, --host URL       unix:///path, a path, tcp://[user@]host:port or\n"
"                       tls://[user@]host:port\n"
"  -u, --user USER      the user for a tcp:// target (default: $PROCCTL_USER,\n"
"                       else your login); its secret: $PROCCTL_SECRET, else\n"
"                       asked on the terminal\n"
"      --tls            TLS to a tcp:// target (tls://host:port says the same)\n"
"      --cacert FILE    trust the server's certificate if FILE's CA signed it\n"
"                       (default: the system's CAs)\n"
"      --cert FILE, --key FILE\n"
"                       a client certificate, for daemons that require one\n"
"                       (its CN is the user; no secret needed)\n"
"  -j, --json           print the reply as JSON (errors stay on stderr)\n"
"  -t, --timeout SECS   give up waiting for a reply after SECS (default 60;\n"
"                       0 waits forever)\n"
"  -h, --help           this help;  -V, --version  the version\n"
"\n"
"The target: -s/-H, else $PROCCTL_HOST or $PROCCTL_SOCKET, else (a user)\n"
"$XDG_RUNTIME_DIR/procctl.sock or ~/.procctl/procctl.sock when it exists,\n"
"else %s.\n"
"Help fits $COLUMNS, else the terminal, else 80 columns.\n"
"\n"
"Exit status:\n"
"  0   success\n"
"  1   the daemon answered with an error (message on stderr)\n"
"  2   bad usage: here, a command the daemon lacks, or as it judged it\n"
"  3   no such process\n"
"  69  the daemon is unreachable or the connection was lost\n"
"  75  timeout, or the daemon is busy (a limit was reached)\n"
"  76  protocol error (a reply that breaks RESP3, or the protocol refused)\n"
"  77  permission denied\n"
"  130 interrupted (Ctrl-C) while following: logs -f, events\n",
	    PROCCTL_SYSTEM_SOCKET);
}

/* The daemon's commands from HELLO, or -1 with WHY set. */
static int
ask_commands(const struct target *t, struct cmd_table *tab, char *why,
    size_t whysize)
{
	struct resp_value v;
	struct client c;
	struct buf req = { 0 };
	int rc;

	if (target_needs_secret(t)) {
		snprintf(why, whysize, "%s:%s needs a secret, which "
		    "'procctl help' asks for", t->host, t->port);
		return -1;
	}
	if (client_connect(&c, t, HELP_WAIT_MS, 1) != 0) {
		snprintf(why, whysize, "%s", c.why);
		return -1;
	}
	if (client_put_hello(&req, t, "", NULL) == -1 ||
	    (rc = client_send(&c, &req, HELP_WAIT_MS)) != 0 ||
	    (rc = client_read(&c, &v, HELP_WAIT_MS, NULL)) != 0) {
		snprintf(why, whysize, "%s", c.why[0] ? c.why :
		    "the connection was closed");
		rc = -1;
	} else {
		if (v.type == RESP_T_ERROR) {
			struct buf msg = { 0 };

			render_error(&msg, &v);
			snprintf(why, whysize, "%s: %.*s", c.target,
			    (int)msg.len, msg.data ? msg.data : "");
			buf_free(&msg);
			rc = -1;
		} else
			rc = cmdinfo_parse(tab, resp_map_get(&v, "commands"));
		resp_value_free(&v);
	}
	buf_free(&req);
	client_close(&c);
	return rc;
}

/* Ours, then the daemon's if it answers within HELP_WAIT_MS. */
void
help_usage(FILE *fp, const struct target *t)
{
	struct cmd_table tab = { 0 };
	char why[600];

	own_usage(fp);
	if (t == NULL)
		return;
	fputc('\n', fp);
	if (ask_commands(t, &tab, why, sizeof(why)) == -1) {
		wrapf(fp, 0, 0, help_width(), "The commands come from the "
		    "daemon, not reached here: %s", why);
		return;
	}
	wrapf(fp, 0, 0, help_width(), "Commands of procctld at %s%s%s "
	    "('procctl help COMMAND' for one):", t->tcp ? t->host : t->path,
	    t->tcp ? ":" : "", t->tcp ? t->port : "");
	fputc('\n', fp);
	help_commands(fp, &tab);
	cmdinfo_free(&tab);
}

/* Where a command's group goes: the plugins' groups first (what a person
 * came for), then the daemon's own, then "other", then "protocol" (what
 * clients and scripts send, listed by name only). */
static int
rank_of(const struct cmd_info *ci)
{
	if (strcmp(ci->group, HELP_PROTOCOL_GROUP) == 0)
		return 3;
	if (strcmp(ci->group, "other") == 0)
		return 2;
	return strcmp(ci->plugin, "core") == 0 ? 1 : 0;
}

struct ranked {
	const struct cmd_info	*ci;
	int			 rank;	/* of its group: see rank_of */
};

/* Groups by name; the daemon's order within one. */
static int
by_name(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int c;

	if ((c = strcmp(x->ci->group, y->ci->group)) != 0)
		return c;
	return x->ci < y->ci ? -1 : x->ci > y->ci;
}

static int
by_group(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	/* By rank, then as by_name. */
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return by_name(a, b);
}

/* The N commands in V in the order help lists them: by their group's
 * rank (rank_of), which is its lowest command's, so that a group stays
 * in one piece; then as by_name.  NULL if out of memory. */
static struct ranked *
ranked_commands(const struct cmd_info *v, size_t n)
{
	struct ranked *r;
	size_t i, from, end;
	int low;

	if ((r = calloc(n + 1, sizeof(*r))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		r[i].ci = &v[i];
		r[i].rank = rank_of(&v[i]);
	}
	/* Each group together, then its lowest rank for all of it. */
	qsort(r, n, sizeof(*r), by_name);
	for (from = 0; from < n; from = end) {
		low = r[from].rank;
		for (end = from; end < n && strcmp(r[end].ci->group,
		    r[from].ci->group) == 0; end++)
			low = r[end].rank < low ? r[end].rank : low;
		for (i = from; i < end; i++)
			r[i].rank = low;
	}
	qsort(r, n, sizeof(*r), by_group);
	return r;
}

/* "arithmetic (arith):", naming the plugins that fill the group. */
static void
group_heading(FILE *fp, const struct ranked *sorted, size_t n, size_t from,
    int width)
{
	const char *group = sorted[from].ci->group;
	struct strv plugins = { 0 };
	struct buf names = { 0 };
	size_t i;

	for (i = from; i < n && strcmp(sorted[i].ci->group, group) == 0; i++)
		if (sorted[i].ci->plugin[0] != '\0')
			strv_add(&plugins, sorted[i].ci->plugin);
	for (i = 0; i < plugins.n; i++)
		buf_printf(&names, "%s%s", i == 0 ? " (" : ", ", plugins.v[i]);
	if (from > 0)
		fputc('\n', fp);
	wrapf(fp, 0, 2, width, "%s%.*s%s:", group, (int)names.len,
	    names.data ? names.data : "", plugins.n > 0 ? ")" : "");
	buf_free(&names);
	strv_free(&plugins);
}

/*
 * TEXT from column AT, where the cursor is, broken at spaces so that no
 * line passes WIDTH; the lines after the first start at column INDENT.
 * A word longer than a line is written whole rather than cut.
 */
static void
wrap(FILE *fp, const char *text, int at, int indent, int width)
{
	const char *w = text, *e;
	int col = at, len, first = 1;

	for (;;) {
		while (*w == ' ')
			w++;
		if (*w == '\0')
			break;
		for (e = w; *e != '\0' && *e != ' '; e++)
			;
		len = (int)render_width(w, (size_t)(e - w));
		if (!first && col + 1 + len > width) {
			fprintf(fp, "\n%*s", indent, "");
			col = indent;
			first = 1;
		}
		if (!first) {
			fputc(' ', fp);
			col++;
		}
		fwrite(w, 1, (size_t)(e - w), fp);
		col += len;
		first = 0;
		w = e;
	}
	fputc('\n', fp);
}

/* wrap, for the text FMT makes. */
static void
wrapf(FILE *fp, int at, int indent, int width, const char *fmt, ...)
{
	struct buf text = { 0 };
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&text, fmt, ap);
	va_end(ap);
	buf_append(&text, "", 1);	/* a string for wrap */
	wrap(fp, text.data ? text.data : "", at, indent, width);
	buf_free(&text);
}

int
help_width(void)
{
	size_t n = render_columns();

	if (n == 0)
		n = 80;
	return n < HELP_MIN_WIDTH ? HELP_MIN_WIDTH : (int)n;
}

/* One command: usage, then its summary in the next column, both wrapped
 * to WIDTH; a usage wider than its column has a line of its own. */
static void
command_line(FILE *fp, const struct cmd_info *ci, int ucol, int width)
{
	int w = (int)render_width(ci->usage, strlen(ci->usage));

	if (w > ucol) {
		fputs("  ", fp);
		wrap(fp, ci->usage, 2, 6, width);
		fprintf(fp, "%*s", ucol + 4, "");
	} else
		fprintf(fp, "  %s%*s  ", ci->usage, ucol - w, "");
	wrapf(fp, ucol + 4, ucol + 4, width, "%s%s", ci->summary, ci->admin ?
	    " (admins only)" : "");
}

/* The protocol's commands, by name: people rarely type them. */
static void
protocol_line(FILE *fp, const struct ranked *sorted, size_t n, size_t from,
    int width)
{
	struct buf text = { 0 };
	size_t i;

	/* Each as its usage spells it (AUTH, as Redis does). */
	for (i = from; i < n && strcmp(sorted[i].ci->group,
	    sorted[from].ci->group) == 0; i++)
		buf_printf(&text, "%s%.*s", i > from ? " " : "",
		    (int)strcspn(sorted[i].ci->usage, " "),
		    sorted[i].ci->usage);
	fputs("  ", fp);
	wrapf(fp, 2, 2, width, "%.*s ('help NAME' describes one)",
	    (int)text.len, text.data ? text.data : "");
	buf_free(&text);
}

/* Two columns, usage and summary, under a heading per group, within the
 * terminal's width (help_width); the protocol's group last, in one
 * paragraph of names. */
void
help_commands(FILE *fp, const struct cmd_table *tab)
{
	struct ranked *sorted;
	size_t i, j;
	int width = help_width(), ucol;

	/* The usage column: 36 on 80 columns, less on a narrower one; too
	 * narrow for two, each summary goes under its usage. */
	ucol = width >= 80 ? USAGE_WIDTH : width < 64 ? 2 :
	    width * USAGE_WIDTH / 80;
	if ((sorted = ranked_commands(tab->v, tab->n)) == NULL)
		return;
	for (i = 0; i < tab->n; i++) {
		if (i > 0 && strcmp(sorted[i].ci->group,
		    sorted[i - 1].ci->group) == 0)
			continue;
		group_heading(fp, sorted, tab->n, i, width);
		if (strcmp(sorted[i].ci->group, HELP_PROTOCOL_GROUP) == 0) {
			protocol_line(fp, sorted, tab->n, i, width);
			continue;
		}
		for (j = i; j < tab->n && strcmp(sorted[j].ci->group,
		    sorted[i].ci->group) == 0; j++)
			command_line(fp, sorted[j].ci, ucol, width);
	}
	free(sorted);
}

/* "keyword: all | details, optional". */
static void
describe_param(FILE *fp, const struct cmd_param *p)
{
	size_t i;

	fprintf(fp, "  %-20s %s", p->name, p->type);
	for (i = 0; i < p->words.n; i++)
		fprintf(fp, "%s%s", i == 0 ? ": " : " | ", p->words.v[i]);
	if (p->min == 0 && p->max == 1)
		fputs(", optional", fp);
	else if (p->max == 0 && p->min == 0)
		fputs(", any number", fp);
	else if (p->max == 0)
		fprintf(fp, ", %lld or more", p->min);
	else if (p->min != p->max)
		fprintf(fp, ", %lld to %lld", p->min, p->max);
	else if (p->min != 1)
		fprintf(fp, ", %lld", p->min);
	if (p->rest)
		fputs("; taken as they are, options too", fp);
	if (p->source != NULL)
		fprintf(fp, "; Tab offers what '%s' lists", p->source);
	fputc('\n', fp);
}

/* usage, summary, then the options and arguments as declared. */
void
help_command(FILE *fp, const struct cmd_info *ci)
{
	char opt[300];
	size_t i;
	int width = help_width();

	fputs("usage: ", fp);
	wrap(fp, ci->usage, 7, 11, width);
	wrapf(fp, 0, 0, width, "%s%s", ci->summary, ci->admin ?
	    " (admins only)" : "");
	if (ci->nopts > 0)
		fputs("options:\n", fp);
	for (i = 0; i < ci->nopts; i++) {
		const struct cmd_option *o = &ci->opts[i];

		if (o->letter != 0)
			snprintf(opt, sizeof(opt), "-%c, --%s %s", o->letter,
			    o->name, o->value ? o->value : "");
		else
			snprintf(opt, sizeof(opt), "    --%s %s", o->name,
			    o->value ? o->value : "");
		fprintf(fp, "  %-20s ", opt);
		wrap(fp, o->summary, strlen(opt) > 20 ? 3 + (int)strlen(opt) :
		    23, 23, width);
	}
	if (ci->nparams > 0)
		fputs("arguments:\n", fp);
	for (i = 0; i < ci->nparams; i++)
		describe_param(fp, &ci->params[i]);
	fprintf(fp, "group: %s%s%s\n", ci->group,
	    ci->plugin[0] ? "; plugin: " : "", ci->plugin);
}

/* A command map: a map with a name, a usage and an arity. */
static int
is_command_map(const struct resp_value *v)
{
	const struct resp_value *a = resp_map_get(v, "arity");

	return v->type == RESP_T_MAP && a != NULL && a->type == RESP_T_INT &&
	    resp_map_get(v, "name") != NULL && resp_map_get(v, "usage") != NULL;
}

/* A reply of `help` or `COMMAND`, recognised by its shape. */
int
help_render(FILE *fp, const struct resp_value *v)
{
	struct cmd_table tab;
	struct resp_value one = { .type = RESP_T_ARRAY, .n = 1 };
	size_t i;

	if (v->type == RESP_T_MAP) {
		if (!is_command_map(v))
			return -1;
		one.elem = (struct resp_value *)v;
		if (cmdinfo_parse(&tab, &one) == -1 || tab.n != 1) {
			cmdinfo_free(&tab);
			return -1;
		}
		help_command(fp, &tab.v[0]);
		cmdinfo_free(&tab);
		return 0;
	}
	if (v->type != RESP_T_ARRAY || v->n == 0)
		return -1;
	for (i = 0; i < v->n; i++)
		if (!is_command_map(&v->elem[i]))
			return -1;
	if (cmdinfo_parse(&tab, v) == -1)
		return -1;
	help_commands(fp, &tab);
	cmdinfo_free(&tab);
	return 0;
}
