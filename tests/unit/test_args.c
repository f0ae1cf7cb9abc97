/* The argument parser: each case is a request's words and what parsing
 * them against a declaration must give (the positional words, the
 * options, or the one error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "procctld.h"

static void
noop(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
}

static const struct procctl_option greet_opts[] = {
	{ "loud", 'l', NULL, "shout" },
	{ "from", 'f', "NAME", "who greets" },
	{ NULL, 0, NULL, NULL },
};
static const struct procctl_param greet_params[] = {
	{ "who", PROCCTL_PARAM_KEYWORD, "world|moon", 1, 1, 0, NULL, NULL,
	  NULL },
	{ "times", PROCCTL_PARAM_INT, NULL, 0, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_option run_opts[] = {
	{ "detach", 'd', NULL, "outlive the session" },
	{ NULL, 0, NULL, NULL },
};
static const struct procctl_param run_params[] = {
	{ "path", PROCCTL_PARAM_PROGRAM, NULL, 1, 1, 0, NULL, NULL, NULL },
	{ "args", PROCCTL_PARAM_WORD, NULL, 0, 0, PROCCTL_PARAM_REST, NULL,
	  NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
/* Optional words before a required one: the later one keeps its due. */
static const struct procctl_param mid_params[] = {
	{ "a", PROCCTL_PARAM_WORD, NULL, 0, 2, 0, NULL, NULL, NULL },
	{ "b", PROCCTL_PARAM_WORD, NULL, 1, 1, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};
static const struct procctl_param num_params[] = {
	{ "number", PROCCTL_PARAM_NUMBER, NULL, 2, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
};

static const struct procctl_command decls[] = {
	{ "greet", noop, 0, NULL, "", 0, greet_opts, greet_params, "t" },
	{ "run", noop, 0, NULL, "", 0, run_opts, run_params, "t" },
	{ "mid", noop, 0, NULL, "", 0, NULL, mid_params, "t" },
	{ "sum", noop, 0, NULL, "", 0, NULL, num_params, "t" },
};

struct args_case {
	const char	*words;		/* space-separated, the name first */
	const char	*positional;	/* joined by '|', or NULL: an error */
	const char	*options;	/* "loud=,from=ann": set ones */
	const char	*error;		/* expected start of the error */
};

static const struct args_case cases[] = {
	{ "greet world", "world", "", NULL },
	/* A keyword is handed on as declared, whatever its case. */
	{ "greet MOON 3", "moon|3", "", NULL },
	{ "greet --loud world", "world", "loud=", NULL },
	{ "greet world -l", "world", "loud=", NULL },
	{ "greet --from=ann moon", "moon", "from=ann", NULL },
	{ "greet --from ann moon", "moon", "from=ann", NULL },
	{ "greet -fbob moon", "moon", "from=bob", NULL },
	{ "greet -lf cy moon", "moon", "loud=,from=cy", NULL },
	{ "greet --from= moon", "moon", "from=", NULL },
	{ "greet", NULL, NULL, "<who> missing" },
	{ "greet mars", NULL, NULL, "'mars' is not one of: world, moon" },
	{ "greet world x", NULL, NULL, "times: 'x' is not an integer" },
	{ "greet world 1x", NULL, NULL, "times: '1x' is not an integer" },
	{ "greet world -5", "world|-5", "", NULL },
	{ "greet world 1 2", NULL, NULL, "too many arguments ('2' and" },
	{ "greet --quiet world", NULL, NULL, "unknown option '--quiet'" },
	{ "greet -q world", NULL, NULL, "unknown option '-q'" },
	{ "greet --loud=yes world", NULL, NULL, "option '--loud' takes no" },
	{ "greet world --from", NULL, NULL, "option '--from' needs a value" },
	{ "greet -- --loud", NULL, NULL, "'--loud' is not one of" },
	{ "greet -- world", "world", "", NULL },
	/* A rest parameter: options stop at the first word. */
	{ "run ls -l", "ls|-l", "", NULL },
	{ "run -d ls --detach", "ls|--detach", "detach=", NULL },
	{ "run -- -d", "-d", "", NULL },
	{ "run", NULL, NULL, "<path> missing" },
	{ "mid x", "x", "", NULL },
	{ "mid x y", "x|y", "", NULL },
	{ "mid x y z", "x|y|z", "", NULL },
	{ "mid w x y z", NULL, NULL, "too many arguments ('z'" },
	{ "mid", NULL, NULL, "<b> missing" },
	/* No options declared: everything is a word. */
	{ "sum -1 -2", "-1|-2", "", NULL },
	{ "sum --x 2", "--x|2", "", NULL },
	{ "sum 1", NULL, NULL, "at least 2 <number> needed" },
};

/* Split WORDS (a test's own text, no NULs) into an argv. */
static int
split(const char *words, struct procctl_arg *argv, char *store)
{
	char *tok, *save;
	int argc = 0;

	strcpy(store, words);
	for (tok = strtok_r(store, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		argv[argc].ptr = tok;
		argv[argc++].len = strlen(tok);
	}
	return argc;
}

static void
run_case(const struct args_case *tc, struct cmd_args *a)
{
	const struct command *c;
	struct procctl_arg argv[16];
	char store[256], got[256], opts[256], err[512];
	size_t i, len = 0;
	int argc, rc;

	argc = split(tc->words, argv, store);
	c = command_find(argv[0].ptr);
	rc = args_parse(c, argc, argv, a, err, sizeof(err));
	if (tc->positional == NULL) {
		CHECK(rc == -1, "%s: parsed, expected '%s'", tc->words,
		    tc->error);
		CHECK(rc == -1 && strncmp(err, tc->error, strlen(tc->error))
		    == 0, "%s: error '%s', expected '%s'", tc->words, err,
		    tc->error);
		CHECK(rc == -1 && strstr(err, "; usage: ") != NULL,
		    "%s: error without usage: %s", tc->words, err);
		return;
	}
	CHECK(rc == 0, "%s: %s", tc->words, rc == 0 ? "" : err);
	if (rc != 0)
		return;
	got[0] = '\0';
	for (i = 1; i < (size_t)a->argc; i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s",
		    i > 1 ? "|" : "", a->argv[i].ptr);
	CHECK(strcmp(got, tc->positional) == 0, "%s: words '%s', expected "
	    "'%s'", tc->words, got, tc->positional);
	CHECK(strcmp(a->argv[0].ptr, argv[0].ptr) == 0, "%s: name",
	    tc->words);
	len = 0;
	opts[0] = '\0';
	for (i = 0; i < c->nopts; i++)
		if (a->optv[i] != NULL)
			len += (size_t)snprintf(opts + len, sizeof(opts) - len,
			    "%s%s=%s", len ? "," : "", c->opts[i].name,
			    a->optv[i]);
	CHECK(strcmp(opts, tc->options) == 0, "%s: options '%s', expected "
	    "'%s'", tc->words, opts, tc->options);
}

int
main(void)
{
	struct cmd_args a;
	const struct command *c;
	size_t i;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < sizeof(decls) / sizeof(decls[0]); i++)
		CHECK(command_add(&decls[i], PROCCTL_ABI_MINOR, 0, NULL,
		    "test") == 0, "register %s", decls[i].name);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], &a);

	/* Usage and arity come from the declaration. */
	c = command_find("greet");
	CHECK(strcmp(c->usage, "greet [--loud] [--from NAME] <who> [times]")
	    == 0, "usage '%s'", c->usage);
	CHECK(c->arity == -2, "greet arity %d", c->arity);
	c = command_find("run");
	CHECK(strcmp(c->usage, "run [--detach] <path> [args...]") == 0,
	    "usage '%s'", c->usage);
	c = command_find("sum");
	CHECK(c->arity == -3, "sum arity %d", c->arity);
	CHECK(args_option(c, &a, "nothing") == NULL, "undeclared option");

	/* A keyword by its place in the declaration, whatever its case. */
	{
		struct procctl_arg moon = { "MoOn", 4 }, mars = { "mars", 4 };

		c = command_find("greet");
		CHECK(args_keyword(c, 0, &moon) == 1, "keyword index");
		CHECK(args_keyword(c, 0, &mars) == -1, "not a keyword");
		CHECK(args_keyword(c, 5, &moon) == -1, "no such parameter");
	}

	/* A repeated option: every value, in order; the last for option(). */
	{
		struct procctl_arg w[] = { { "greet", 5 }, { "-f", 2 },
		    { "ann", 3 }, { "--from=bob", 10 }, { "world", 5 } };
		char err[256];

		c = command_find("greet");
		CHECK(args_parse(c, 5, w, &a, err, sizeof(err)) == 0, "%s",
		    err);
		CHECK(strcmp(args_option_at(c, &a, "from", 0), "ann") == 0 &&
		    strcmp(args_option_at(c, &a, "from", 1), "bob") == 0 &&
		    args_option_at(c, &a, "from", 2) == NULL &&
		    strcmp(args_option(c, &a, "from"), "bob") == 0,
		    "repeated option");
	}

	/* Declarations the parser cannot follow are refused. */
	{
		static const struct procctl_param bad_rest[] = {
			{ "x", PROCCTL_PARAM_WORD, NULL, 0, 0,
			  PROCCTL_PARAM_REST, NULL, NULL, NULL },
			{ "y", PROCCTL_PARAM_WORD, NULL, 1, 1, 0, NULL, NULL,
			  NULL },
			{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
		};
		static const struct procctl_param bad_count[] = {
			{ "x", PROCCTL_PARAM_WORD, NULL, 3, 1, 0, NULL, NULL,
			  NULL },
			{ NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL },
		};
		static const struct procctl_option twice[] = {
			{ "a", 'x', NULL, "" }, { "b", 'x', NULL, "" },
			{ NULL, 0, NULL, NULL },
		};
		struct procctl_command bad = { "bad", noop, 0, NULL, "", 0,
		    NULL, bad_rest, NULL };

		CHECK(command_add(&bad, 1, 0, NULL, "test") == -1,
		    "rest not last");
		bad.params = bad_count;
		CHECK(command_add(&bad, 1, 0, NULL, "test") == -1,
		    "min over max");
		bad.params = NULL;
		bad.options = twice;
		bad.arity = 1;
		CHECK(command_add(&bad, 1, 0, NULL, "test") == -1,
		    "one letter twice");
		/* ABI 1.0: the same struct's later members are not read. */
		CHECK(command_add(&bad, 0, 0, NULL, "test") == 0,
		    "minor 0 ignores options");
		c = command_find("bad");
		CHECK(c != NULL && c->nopts == 0 && c->params == NULL,
		    "minor 0 read past its size");
		bad.flags = 0x80;
		bad.name = "badflags";
		CHECK(command_add(&bad, 0, 0, NULL, "test") == -1,
		    "unknown flags");
	}
	args_free(&a);
	command_free_all();
	return check_report("test_args");
}
