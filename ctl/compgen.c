/*
 * procctl --complete WORD...: what a shell's completion offers for the
 * last WORD after the others, one candidate a line, for the bash and
 * zsh scripts (etc/completion/).  The same engine as the interactive
 * shell's Tab (complete.c), fed the same way: the daemon's command table
 * from the handshake, then the reply of each command an argument names
 * as its source of candidates (process names from `list`, programs from
 * `status`...).  Nothing here names a daemon command.  A line " files"
 * (a space: no candidate has one) asks the script for file names too.
 * A daemon that cannot be reached offers nothing, silently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Besides the daemon's commands, procctl's own first words. */
static const char *const cli_words[] = { "events", "help", "shell", NULL };

static void
offer(const char *cand, const char *text)
{
	if (strncmp(cand, text, strlen(text)) == 0)
		printf("%s\n", cand);
}

/* The sources' replies, noted for complete_words. */
static int
ask_sources(struct client *c, int timeout_ms)
{
	struct buf b = { 0 };
	struct resp_value v;
	size_t i, n = complete_nsources();
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (complete_put_source(&b, i) == -1) {
			buf_free(&b);
			return -1;
		}
	}
	if (n > 0 && client_send(c, &b, timeout_ms) != 0)
		rc = -1;
	for (i = 0; rc == 0 && i < n; i++) {
		if (client_read(c, &v, timeout_ms, NULL) != 0) {
			rc = -1;
			break;
		}
		complete_note_reply(i, &v);
		resp_value_free(&v);
	}
	buf_free(&b);
	return rc;
}

/* The words before the last, as one line the completer splits again. */
static int
join_words(struct buf *line, int argc, char **argv)
{
	int i;

	for (i = 0; i < argc - 1; i++)
		if (buf_append(line, argv[i], strlen(argv[i])) == -1 ||
		    buf_append(line, " ", 1) == -1)
			return -1;
	return buf_append(line, "", 1);	/* a string, not counted */
}

int
compgen_run(const struct target *t, int argc, char **argv, int timeout_ms)
{
	struct buf req = { 0 }, line = { 0 };
	struct resp_value hello = { 0 };
	struct cmd_table tab = { 0 };
	struct client c;
	const char *text = argc > 0 ? argv[argc - 1] : "";
	char **cands;
	size_t i;
	int files = 0, rc = EXIT_UNAVAIL;

	/* No password prompt for a Tab. */
	if (target_needs_secret(t) ||
	    client_connect(&c, t, timeout_ms, 1) != 0)
		return EXIT_UNAVAIL;
	if (client_put_hello(&req, t, "", NULL) == -1 ||
	    client_send(&c, &req, timeout_ms) != 0 ||
	    client_read(&c, &hello, timeout_ms, NULL) != 0 ||
	    hello.type == RESP_T_ERROR ||
	    cmdinfo_parse(&tab, resp_map_get(&hello, "commands")) == -1)
		goto done;
	rc = EXIT_OK;
	if (argc <= 1) {
		for (i = 0; cli_words[i] != NULL; i++)
			if (cmdinfo_find(&tab, cli_words[i]) == NULL)
				offer(cli_words[i], text);
		for (i = 0; i < tab.n; i++)
			offer(tab.v[i].name, text);
		goto done;
	}
	complete_set_commands(&tab);
	if (ask_sources(&c, timeout_ms) == -1 ||
	    join_words(&line, argc, argv) == -1) {
		rc = EXIT_ERROR;
		goto done;
	}
	cands = complete_words(line.data, (int)(line.len - 1), text, &files);
	for (i = 0; cands != NULL && cands[i] != NULL; i++) {
		offer(cands[i], text);
		free(cands[i]);
	}
	free(cands);
	if (files)
		printf(" files\n");
done:
	if (fflush(stdout) == EOF && rc == EXIT_OK)
		rc = EXIT_ERROR;
	complete_reset();
	cmdinfo_free(&tab);
	resp_value_free(&hello);
	buf_free(&line);
	buf_free(&req);
	client_close(&c);
	return rc;
}
