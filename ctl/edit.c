/*
 * The line editor, built as the module edit.so (linked with libreadline)
 * so that procctl loads readline only for an interactive shell.  It
 * implements struct editor with GNU readline's callback interface: the
 * shell owns the poll loop and hands keystrokes in; lines and Tab come
 * back through the shell's hooks.  Here too the history: kept in
 * HISTFILE, 1000 lines.  It calls nothing in procctl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "ctl.h"

static struct {
	const struct edit_hooks	*hooks;
	char			*prompt;	/* owned */
	char			 histfile[4096];
	char			*saved;		/* the line, while hidden */
	int			 point;
	char			**cands;	/* the last Tab's; owned */
	size_t			 next;		/* the generator's place */
	size_t			 nfiles;	/* file names given so far */
	int			 files;		/* file names after cands */
} ed;

static void
free_cands(void)
{
	size_t i;

	for (i = 0; ed.cands != NULL && ed.cands[i] != NULL; i++)
		free(ed.cands[i]);
	free(ed.cands);
	ed.cands = NULL;
}

/* readline asks for matches one at a time: the shell's words that start
 * with TEXT, then (if asked for) file names. */
static char *
generate(const char *text, int state)
{
	size_t len = strlen(text);
	const char *w;

	if (state == 0)
		ed.next = ed.nfiles = 0;
	while (ed.cands != NULL && (w = ed.cands[ed.next]) != NULL) {
		ed.next++;
		if (strncmp(w, text, len) == 0)
			return strdup(w);
	}
	if (ed.files)
		return rl_filename_completion_function(text, ed.nfiles++ != 0);
	return NULL;
}

static char **
attempt(const char *text, int start, int end)
{
	char **m;

	rl_attempted_completion_over = 1;	/* no file names unless asked */
	free_cands();
	ed.files = 0;
	ed.cands = ed.hooks->complete(rl_line_buffer, start, text, &ed.files);
	if (ed.cands == NULL && !ed.files)
		return NULL;
	if (ed.files)
		rl_filename_completion_desired = 1;
	m = rl_completion_matches(text, generate);
	return m;
}

static void
on_line(char *line)
{
	if (line != NULL && *line != '\0') {
		add_history(line);
		if (ed.histfile[0] != '\0') {
			if (append_history(1, ed.histfile) != 0)
				write_history(ed.histfile);
			history_truncate_file(ed.histfile, 1000);
		}
	}
	ed.hooks->line(line);
}

/* readline in callback mode, with our completion and the history. */
static void
edit_start(const char *prompt, const char *histfile,
    const struct edit_hooks *hooks)
{
	ed.hooks = hooks;
	free(ed.prompt);
	ed.prompt = strdup(prompt);
	snprintf(ed.histfile, sizeof(ed.histfile), "%s", histfile);
	rl_readline_name = "procctl";
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_attempted_completion_function = attempt;
	using_history();
	stifle_history(1000);
	if (ed.histfile[0] != '\0')
		read_history(ed.histfile);
	rl_callback_handler_install(prompt, on_line);
}

static void
edit_stop(void)
{
	rl_callback_handler_remove();
	free_cands();
	free(ed.prompt);
	ed.prompt = NULL;
}

static void
edit_input(void)
{
	rl_callback_read_char();
}

static void
edit_hide(void)
{
	free(ed.saved);
	ed.saved = rl_copy_text(0, rl_end);
	ed.point = rl_point;
	rl_set_prompt("");
	rl_replace_line("", 0);
	rl_redisplay();
}

static void
edit_show(void)
{
	rl_set_prompt(ed.prompt != NULL ? ed.prompt : "");
	rl_replace_line(ed.saved != NULL ? ed.saved : "", 0);
	rl_point = ed.point;
	rl_redisplay();
	free(ed.saved);
	ed.saved = NULL;
}

static void
edit_prompt(const char *prompt, int redraw)
{
	char *p;

	if ((p = strdup(prompt)) == NULL)
		return;
	free(ed.prompt);
	ed.prompt = p;
	/* Also between lines: readline shows this prompt for the next line
	 * when the line handler returns. */
	rl_set_prompt(ed.prompt);
	if (redraw)
		rl_redisplay();
}

static void
edit_cancel(void)
{
	rl_replace_line("", 0);
	rl_crlf();
	rl_on_new_line();
	rl_redisplay();
}

static void
edit_resize(void)
{
	rl_resize_terminal();
}

__attribute__((visibility("default")))
const struct editor procctl_ctl_edit = {
	CTL_MODULE_ABI, edit_start, edit_stop, edit_input, edit_hide,
	edit_show, edit_prompt, edit_cancel, edit_resize,
};
