/*
 * Showing replies: for people (tables for lists of records, "key: value"
 * for one record, help for command maps (help.c), plain values otherwise)
 * and as JSON for scripts.  The renderer knows reply shapes, not commands,
 * so plugin commands render without changes here.  Whatever the daemon
 * sends, nothing a terminal would obey comes out (escape.c): for people
 * as \xNN, in JSON as \uXXXX, and the JSON stays valid.
 */
#include <sys/ioctl.h>

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "duration.h"
#include "escape.h"

int
error_exit_code(const char *err)
{
	static const struct { const char *code; int exit; } map[] = {
		{ "ARGS", EXIT_USAGE }, { "NOENT", EXIT_NOENT },
		{ "NOPERM", EXIT_NOPERM }, { "AUTH", EXIT_NOPERM },
		{ "NOAUTH", EXIT_NOPERM },
		{ "LIMIT", EXIT_TIMEOUT }, { "BUSY", EXIT_TIMEOUT },
		{ "PROTO", EXIT_PROTO }, { "NOPROTO", EXIT_PROTO },
	};
	size_t i, n;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		n = strlen(map[i].code);
		if (strncmp(err, map[i].code, n) == 0 &&
		    (err[n] == ' ' || err[n] == '\0'))
			return map[i].exit;
	}
	return EXIT_ERROR;
}

const char *
error_message(const char *err)
{
	const char *p = err;

	while ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
		p++;
	if (p != err && *p == ' ')
		return p + 1;
	return err;
}

static int
is_scalar(const struct resp_value *v)
{
	return v->type != RESP_T_ARRAY && v->type != RESP_T_MAP &&
	    v->type != RESP_T_PUSH && v->type != RESP_T_SET;
}

/* A scalar as one line of text for a person; control bytes escaped. */
static void
scalar_text(struct buf *b, const struct resp_value *v)
{
	size_t i;

	switch (v->type) {
	case RESP_T_NULL:
		buf_puts(b, "-");
		return;
	case RESP_T_BOOL:
		buf_puts(b, v->integer ? "yes" : "no");
		return;
	case RESP_T_INT:
		buf_printf(b, "%lld", v->integer);
		return;
	case RESP_T_ERROR:
		buf_printf(b, "(error) ");
		break;
	default:
		break;
	}
	if (!is_scalar(v)) {
		for (i = 0; i < v->n; i++) {
			if (i > 0)
				buf_puts(b, v->type == RESP_T_MAP && i % 2 ?
				    "=" : ",");
			scalar_text(b, &v->elem[i]);
		}
		return;
	}
	/* Nothing a terminal would obey: control bytes, broken UTF-8, C1
	 * and bidi controls as \xNN (a process's output, a name). */
	if (buf_reserve(b, 4 * v->len + 1) == 0)
		b->len += escape_display(b->data + b->len, 4 * v->len + 1,
		    v->str, v->len);
}

/*
 * A value of a record (a table's cell, a map's value): a double there is
 * a duration in seconds, by the protocol's convention (docs/protocol.md:
 * run_time, uptime, ...), shown as "3.2s" or "1h02m"; --json keeps the
 * number.  Anything else as scalar_text.
 */
static void
field_text(struct buf *b, const struct resp_value *v)
{
	char text[32];
	double secs;
	char *end;

	if (v->type == RESP_T_DOUBLE && v->str != NULL) {
		secs = strtod(v->str, &end);
		if (end != v->str && *end == '\0' && secs >= 0 &&
		    secs < 1e15) {
			duration_text(text, sizeof(text),
			    (uint64_t)(secs * 1000 + 0.0005));
			buf_puts(b, text);
			return;
		}
	}
	scalar_text(b, v);
}

size_t
render_width(const char *s, size_t n)
{
	size_t i, w = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

static int
is_table(const struct resp_value *v)
{
	size_t i;

	if (v->type != RESP_T_ARRAY || v->n == 0)
		return 0;
	for (i = 0; i < v->n; i++)
		if (v->elem[i].type != RESP_T_MAP ||
		    v->elem[i].n != v->elem[0].n)
			return 0;
	return 1;
}

/* The columns of the output: $COLUMNS (1 to 10000), else the terminal's
 * when standard output is one (the shell's too), else 0: a pipe, where a
 * table keeps one line per row whatever its width, for grep and cut. */
size_t
render_columns(void)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");
	char *end = NULL;
	long n = 0;

	if (env != NULL && *env != '\0')
		n = strtol(env, &end, 10);
	if (n > 0 && n <= 10000 && *end == '\0')
		return (size_t)n;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ,
	    &ws) == 0)
		return ws.ws_col;
	return 0;
}

/* The rows of a table too wide for the terminal, one record each
 * ("key: value" lines, as a single map shows), a blank line between:
 * `list details` on 80 columns reads as records instead of wrapped
 * lines. */
static void
render_records(FILE *fp, const struct resp_value *v, struct buf *cells,
    int indent)
{
	size_t ncols = v->elem[0].n / 2, r, k, kw = 0;
	struct buf key = { 0 };

	for (k = 0; k < ncols; k++)
		if (v->elem[0].elem[2 * k].len > kw)
			kw = v->elem[0].elem[2 * k].len;
	for (r = 0; r < v->n; r++) {
		if (r > 0)
			fputc('\n', fp);
		for (k = 0; k < ncols; k++) {
			const struct buf *c = &cells[(r + 1) * ncols + k];

			buf_reset(&key);
			scalar_text(&key, &v->elem[0].elem[2 * k]);
			fprintf(fp, "%*s%.*s:%*s %.*s\n", indent, "",
			    (int)key.len, key.data ? key.data : "",
			    (int)(kw > key.len ? kw - key.len : 0), "",
			    (int)c->len, c->data ? c->data : "");
		}
	}
	buf_free(&key);
}

/* V, an array of maps with the same keys, as a table of columns (the
 * keys its headings), each line after INDENT spaces; as records when it
 * is wider than the terminal. */
static void
render_table(FILE *fp, const struct resp_value *v, int indent)
{
	size_t ncols = v->elem[0].n / 2, nrows = v->n, r, k, w, *widths;
	size_t room;
	struct buf *cells;

	widths = calloc(ncols, sizeof(*widths));
	cells = calloc((nrows + 1) * ncols, sizeof(*cells));
	if (widths == NULL || cells == NULL) {
		free(widths);
		free(cells);
		return;
	}
	for (k = 0; k < ncols; k++) {
		struct buf *h = &cells[k];
		const struct resp_value *key = &v->elem[0].elem[2 * k];
		size_t i;

		scalar_text(h, key);
		for (i = 0; i < h->len; i++)
			h->data[i] = h->data[i] == '_' ? ' ' :
			    (char)toupper((unsigned char)h->data[i]);
	}
	for (r = 0; r < nrows; r++)
		for (k = 0; k < ncols; k++)
			field_text(&cells[(r + 1) * ncols + k],
			    &v->elem[r].elem[2 * k + 1]);
	for (r = 0; r <= nrows; r++)
		for (k = 0; k < ncols; k++) {
			w = render_width(cells[r * ncols + k].data,
			    cells[r * ncols + k].len);
			if (w > widths[k])
				widths[k] = w;
		}
	for (k = 0, w = (size_t)indent; k < ncols; k++)
		w += widths[k] + (k + 1 < ncols ? 2 : 0);
	if ((room = render_columns()) > 0 && w > room) {
		render_records(fp, v, cells, indent);
		nrows = 0;	/* the table is not drawn; the cells go */
	}
	for (r = 0; nrows > 0 && r <= nrows; r++) {
		fprintf(fp, "%*s", indent, "");
		for (k = 0; k < ncols; k++) {
			struct buf *c = &cells[r * ncols + k];

			fwrite(c->data ? c->data : "", 1, c->len, fp);
			if (k + 1 < ncols)
				fprintf(fp, "%*s", (int)(widths[k] -
				    render_width(c->data, c->len) + 2), "");
		}
		fputc('\n', fp);
	}
	for (r = 0; r < (v->n + 1) * ncols; r++)
		buf_free(&cells[r]);
	free(cells);
	free(widths);
}

static void
render_map(FILE *fp, const struct resp_value *v)
{
	struct buf k = { 0 }, val = { 0 };
	size_t i, kw = 0;

	for (i = 0; i < v->n; i += 2) {
		buf_reset(&k);
		scalar_text(&k, &v->elem[i]);
		if (k.len > kw)
			kw = k.len;
	}
	for (i = 0; i + 1 < v->n; i += 2) {
		buf_reset(&k);
		buf_reset(&val);
		scalar_text(&k, &v->elem[i]);
		/* A list of records (`why`'s runs): a table under its key. */
		if (is_table(&v->elem[i + 1])) {
			fprintf(fp, "%.*s:\n", (int)k.len, k.data);
			render_table(fp, &v->elem[i + 1], 2);
			continue;
		}
		field_text(&val, &v->elem[i + 1]);
		fprintf(fp, "%.*s:%*s %.*s\n", (int)k.len, k.data,
		    (int)(kw - k.len), "", (int)val.len,
		    val.data ? val.data : "");
	}
	buf_free(&k);
	buf_free(&val);
}

void
render_human(FILE *fp, const struct resp_value *v)
{
	struct buf b = { 0 };
	size_t i;

	if (help_render(fp, v) == 0)
		return;
	switch (v->type) {
	case RESP_T_NULL:
		return;
	case RESP_T_BULK:
	case RESP_T_VERBATIM:
		/* A value as text: its lines as they are, anything else a
		 * terminal would obey escaped (--json has it exactly). */
		if (buf_reserve(&b, 4 * v->len + 1) == 0) {
			b.len = escape_lines(b.data, 4 * v->len + 1, v->str,
			    v->len);
			fwrite(b.data, 1, b.len, fp);
		}
		if (b.len == 0 || b.data[b.len - 1] != '\n')
			fputc('\n', fp);
		buf_free(&b);
		return;
	case RESP_T_MAP:
		render_map(fp, v);
		return;
	case RESP_T_ARRAY:
	case RESP_T_SET:
	case RESP_T_PUSH:
		/* Said, not left blank: the same in the shell and one-shot. */
		if (v->n == 0) {
			fputs("(empty)\n", fp);
			return;
		}
		if (is_table(v)) {
			render_table(fp, v, 0);
			return;
		}
		for (i = 0; i < v->n; i++) {
			if (i > 0 && !is_scalar(&v->elem[i]))
				fputc('\n', fp);
			render_human(fp, &v->elem[i]);
		}
		return;
	default:
		scalar_text(&b, v);
		fprintf(fp, "%.*s\n", (int)b.len, b.data ? b.data : "");
		buf_free(&b);
	}
}

/* S as a JSON string: what JSON must escape, and what a terminal would
 * obey (C1 controls, bidirectional overrides: escape_hidden) as \uXXXX,
 * so that the text is the same and a person can look at it safely.  A
 * byte that is not UTF-8 cannot be carried at all: U+FFFD instead. */
static void
json_string(FILE *fp, const char *s, size_t n)
{
	size_t i = 0, l;
	uint32_t cp;

	fputc('"', fp);
	while (i < n) {
		if ((l = escape_utf8(s + i, n - i, &cp)) == 0) {
			fputs("\\ufffd", fp);
			i++;
		} else if (cp == '"' || cp == '\\') {
			fprintf(fp, "\\%c", (int)cp);
			i++;
		} else if (cp == '\n') {
			fputs("\\n", fp);
			i++;
		} else if (cp == '\t') {
			fputs("\\t", fp);
			i++;
		} else if (escape_hidden(cp)) {
			fprintf(fp, "\\u%04x", (unsigned)cp);
			i += l;
		} else {
			fwrite(s + i, 1, l, fp);
			i += l;
		}
	}
	fputc('"', fp);
}

/* A RESP3 double or big number (checked when it was read: [sign] digits
 * [. digits] [e [sign] digits], or inf, -inf, nan) as a JSON number: no
 * '+', no leading zeros; inf and nan, which JSON lacks, as null. */
static void
json_number(FILE *fp, const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || strcmp(s, "inf") == 0 || strcmp(s, "-inf") == 0 ||
	    strcmp(s, "nan") == 0) {
		fputs("null", fp);
		return;
	}
	if (s[i] == '+')
		i++;
	else if (s[i] == '-')
		fputc(s[i++], fp);
	while (i + 1 < n && s[i] == '0' && isdigit((unsigned char)s[i + 1]))
		i++;
	fwrite(s + i, 1, n - i, fp);
}

static void
json_value(FILE *fp, const struct resp_value *v)
{
	size_t i;

	switch (v->type) {
	case RESP_T_NULL:
		fputs("null", fp);
		break;
	case RESP_T_BOOL:
		fputs(v->integer ? "true" : "false", fp);
		break;
	case RESP_T_INT:
		fprintf(fp, "%lld", v->integer);
		break;
	case RESP_T_DOUBLE:
	case RESP_T_BIGNUM:
		json_number(fp, v->str, v->len);
		break;
	case RESP_T_ERROR:
		fputs("{\"error\":", fp);
		json_string(fp, v->str, strcspn(v->str, " "));
		fputs(",\"message\":", fp);
		json_string(fp, error_message(v->str),
		    strlen(error_message(v->str)));
		fputc('}', fp);
		break;
	case RESP_T_MAP:
		fputc('{', fp);
		for (i = 0; i + 1 < v->n; i += 2) {
			struct buf k = { 0 };

			if (i > 0)
				fputc(',', fp);
			if (is_scalar(&v->elem[i]) && v->elem[i].str != NULL)
				json_string(fp, v->elem[i].str,
				    v->elem[i].len);
			else {
				scalar_text(&k, &v->elem[i]);
				json_string(fp, k.data ? k.data : "", k.len);
				buf_free(&k);
			}
			fputc(':', fp);
			json_value(fp, &v->elem[i + 1]);
		}
		fputc('}', fp);
		break;
	case RESP_T_ARRAY:
	case RESP_T_SET:
	case RESP_T_PUSH:
		fputc('[', fp);
		for (i = 0; i < v->n; i++) {
			if (i > 0)
				fputc(',', fp);
			json_value(fp, &v->elem[i]);
		}
		fputc(']', fp);
		break;
	default:
		json_string(fp, v->str ? v->str : "", v->len);
	}
}

void
render_json(FILE *fp, const struct resp_value *v)
{
	json_value(fp, v);
	fputc('\n', fp);
}

int
render_is_followed(const struct resp_value *v)
{
	return v->n >= 1 && v->elem[0].str != NULL &&
	    strcmp(v->elem[0].str, "follow") == 0;
}

/* A push that goes on a command's output (`logs -f`): its "text" alone,
 * or as any event. */
int
render_followed(struct buf *out, const struct resp_value *v)
{
	const struct resp_value *text;

	if (v->n >= 3 && (text = resp_map_get(&v->elem[2], "text")) != NULL &&
	    is_scalar(text)) {
		scalar_text(out, text);
		return 0;
	}
	return render_event(out, v);
}

int
render_event(struct buf *out, const struct resp_value *v)
{
	const struct resp_value *kind, *rec, *pid, *name, *result, *owner,
	    *text;

	if (v->n < 3 || v->elem[0].str == NULL ||
	    strcmp(v->elem[0].str, "event") != 0 || v->elem[1].str == NULL)
		return -1;
	kind = &v->elem[1];
	rec = &v->elem[2];
	if (strcmp(kind->str, "dropped") == 0) {
		buf_printf(out, "[event] %lld events dropped: this client read "
		    "too slowly", rec->integer);
		return 0;
	}
	/* An event that says itself in one line (a plugin's own kind). */
	if ((text = resp_map_get(rec, "text")) != NULL && is_scalar(text)) {
		buf_puts(out, "[event] ");
		scalar_text(out, text);
		return 0;
	}
	pid = resp_map_get(rec, "pid");
	name = resp_map_get(rec, "name");
	result = resp_map_get(rec, "result");
	owner = resp_map_get(rec, "owner");
	buf_puts(out, "[event] ");
	if (pid != NULL && pid->type == RESP_T_INT)
		buf_printf(out, "%lld ", pid->integer);
	if (name != NULL)
		scalar_text(out, name);
	if (result != NULL && result->type != RESP_T_NULL) {
		buf_puts(out, " ");
		scalar_text(out, result);
	} else {
		buf_puts(out, " ");
		scalar_text(out, kind);
		if (owner != NULL && owner->str != NULL) {
			buf_puts(out, " (");
			scalar_text(out, owner);
			buf_puts(out, ")");
		}
	}
	return 0;
}

/* An error reply's message, without its code, as a person may see it. */
void
render_error(struct buf *out, const struct resp_value *v)
{
	const char *msg;
	size_t len;

	if (v->str == NULL)
		return;
	msg = error_message(v->str);
	len = v->len - (size_t)(msg - v->str);
	if (buf_reserve(out, 4 * len + 1) == 0)
		out->len += escape_display(out->data + out->len, 4 * len + 1,
		    msg, len);
}
