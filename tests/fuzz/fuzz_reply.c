/*
 * libFuzzer harness for procctl's side of a connection: the bytes a
 * server sends, parsed as the client parses them (common/resp.c), then
 * every value shown as procctl would show it (ctl/render.c: render_human,
 * render_json, events, followed lines, errors; help and the command table
 * through render_human and cmdinfo.c).  Beyond "no crash", two promises
 * are checked on what is printed:
 *
 * - for people: valid UTF-8 with no control character but newline and
 *   tab (no C0, DEL, C1, bidirectional override): nothing a terminal
 *   would obey;
 * - --json: one valid JSON text per value, with no such character raw.
 *
 * `make fuzz` builds and runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "escape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Text for a person: valid UTF-8, nothing hidden but '\n' and '\t'. */
static void
check_shown(const char *s, size_t n)
{
	size_t i = 0, l;
	uint32_t cp;

	while (i < n) {
		if ((l = escape_utf8(s + i, n - i, &cp)) == 0)
			abort();	/* not UTF-8 */
		if (escape_hidden(cp) && cp != '\n' && cp != '\t')
			abort();	/* a terminal would obey it */
		i += l;
	}
}

/* ---- a JSON checker (RFC 8259), strict, and no hidden character ---- */

struct json {
	const char	*s;
	size_t		 n, i;
	int		 depth;
};

static void json_value(struct json *j);

static void
ws(struct json *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' ||
	    j->s[j->i] == '\n' || j->s[j->i] == '\r'))
		j->i++;
}

static int
peek(struct json *j)
{
	return j->i < j->n ? (unsigned char)j->s[j->i] : -1;
}

static void
expect(struct json *j, int c)
{
	if (peek(j) != c)
		abort();
	j->i++;
}

static void
digits(struct json *j)
{
	size_t from = j->i;

	while (peek(j) >= '0' && peek(j) <= '9')
		j->i++;
	if (j->i == from)
		abort();
}

static void
json_number(struct json *j)
{
	if (peek(j) == '-')
		j->i++;
	if (peek(j) == '0')
		j->i++;		/* no leading zeros */
	else
		digits(j);
	if (peek(j) == '.') {
		j->i++;
		digits(j);
	}
	if (peek(j) == 'e' || peek(j) == 'E') {
		j->i++;
		if (peek(j) == '+' || peek(j) == '-')
			j->i++;
		digits(j);
	}
}

static void
json_string(struct json *j)
{
	size_t l, k;
	uint32_t cp;

	expect(j, '"');
	for (;;) {
		if (peek(j) == '"') {
			j->i++;
			return;
		}
		if (peek(j) == '\\') {
			j->i++;
			if (peek(j) == 'u') {
				j->i++;
				for (k = 0; k < 4; k++, j->i++)
					if (j->i >= j->n || !strchr(
					    "0123456789abcdefABCDEF", j->s[j->i]))
						abort();
			} else if (peek(j) < 0 || !strchr("\"\\/bfnrt",
			    peek(j)))
				abort();
			else
				j->i++;
			continue;
		}
		if ((l = escape_utf8(j->s + j->i, j->n - j->i, &cp)) == 0 ||
		    escape_hidden(cp))
			abort();	/* raw control, or not UTF-8 */
		j->i += l;
	}
}

static void
json_word(struct json *j, const char *w)
{
	size_t n = strlen(w);

	if (j->n - j->i < n || memcmp(j->s + j->i, w, n) != 0)
		abort();
	j->i += n;
}

static void
json_value(struct json *j)
{
	if (++j->depth > 100)
		abort();	/* deeper than any reply may be */
	ws(j);
	switch (peek(j)) {
	case '{':
		j->i++;
		ws(j);
		if (peek(j) == '}') {
			j->i++;
			break;
		}
		for (;;) {
			ws(j);
			json_string(j);
			ws(j);
			expect(j, ':');
			json_value(j);
			ws(j);
			if (peek(j) == '}') {
				j->i++;
				break;
			}
			expect(j, ',');
		}
		break;
	case '[':
		j->i++;
		ws(j);
		if (peek(j) == ']') {
			j->i++;
			break;
		}
		for (;;) {
			json_value(j);
			ws(j);
			if (peek(j) == ']') {
				j->i++;
				break;
			}
			expect(j, ',');
		}
		break;
	case '"':
		json_string(j);
		break;
	case 't':
		json_word(j, "true");
		break;
	case 'f':
		json_word(j, "false");
		break;
	case 'n':
		json_word(j, "null");
		break;
	default:
		json_number(j);
	}
	ws(j);
	j->depth--;
}

/* One JSON text, then its newline. */
static void
check_json(const char *s, size_t n)
{
	struct json j = { s, n, 0, 0 };

	json_value(&j);
	if (j.i != n)
		abort();
}

/* ---- the harness ---- */

/* What FN prints of V into memory, checked by CHECK. */
static void
printed(void (*fn)(FILE *, const struct resp_value *),
    const struct resp_value *v, void (*check)(const char *, size_t))
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return;
	fn(fp, v);
	fclose(fp);
	check(text, len);
	free(text);
}

/* As the event and follow paths of main.c and shell.c do. */
static void
lines(const struct resp_value *v)
{
	struct buf b = { 0 };

	if (v->type == RESP_T_ERROR) {
		render_error(&b, v);
		check_shown(b.data ? b.data : "", b.len);
		(void)error_exit_code(v->str);
	}
	buf_reset(&b);
	if (render_event(&b, v) == 0)
		check_shown(b.data ? b.data : "", b.len);
	buf_reset(&b);
	if (v->n > 0 && render_is_followed(v) &&
	    render_followed(&b, v) == 0)
		check_shown(b.data ? b.data : "", b.len);
	buf_free(&b);
}

/* The command table HELLO would give, as the shell reads it. */
static void
commands(const struct resp_value *v)
{
	struct cmd_table tab;
	const struct cmd_info *ci;
	const char *argv[3] = { "x", "--follow", "-f" };

	if (cmdinfo_parse(&tab, resp_map_get(v, "commands")) == -1)
		return;
	if (tab.n > 0 && (ci = cmdinfo_find(&tab, tab.v[0].name)) != NULL)
		(void)cmdinfo_option_given(ci, 3, argv, CMD_FOLLOW_OPTION);
	cmdinfo_free(&tab);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resp_value v;
	const char *err;
	size_t off = 0, used;

	while (off < size) {
		if (resp_parse_value((const char *)data + off, size - off,
		    &used, &v, &err) != RESP_OK)
			break;
		if (used == 0)
			abort();	/* progress, always */
		printed(render_human, &v, check_shown);
		printed(render_json, &v, check_json);
		lines(&v);
		(void)client_hello_reply(&v);
		commands(&v);
		resp_value_free(&v);
		off += used;
	}
	return 0;
}
