/* MON_FILES records as the server reads them (children_files_parse), for
 * a reload's message and for the config memfd a restarted server
 * inherits: every size is checked before it is used, and any record out
 * of place refuses the whole. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "procctld.h"

static char msg[MON_MAX_PAYLOAD + PATH_MAX];
static size_t len;

/* A record: ROLE, and LEN bytes of P (its `len` field says FIELD, which
 * is LEN unless a test lies). */
static void
put(uint32_t role, const char *p, size_t n, uint32_t field)
{
	struct mon_file f = { role, field };

	memcpy(msg + len, &f, sizeof(f));
	memcpy(msg + len + sizeof(f), p, n);
	len += sizeof(f) + n;
}

static void
rec(uint32_t role, const char *p, size_t n)
{
	put(role, p, n, (uint32_t)n);
}

static int
parse(struct mon_files *f)
{
	return children_files_parse(msg, len, f);
}

/* Refused, and F left empty. */
static void
refused(const char *what)
{
	struct mon_files f;

	CHECK(parse(&f) == -1 && f.inc == NULL && f.ninc == 0 &&
	    f.data[MON_FILE_CONFIG] == NULL, "%s: refused", what);
	len = 0;
}

static void
test_well_formed(void)
{
	struct mon_files f;
	size_t i;

	len = 0;
	CHECK(parse(&f) == 0 && f.data[MON_FILE_CONFIG] == NULL,
	    "no record: nothing");
	rec(MON_FILE_CONFIG, "[daemon]\n", 9);
	rec(MON_FILE_INCLUDE, "/c/a.ini\0[program:a]\n", 21);
	rec(MON_FILE_INCLUDE, "/c/b.ini\0", 9);
	rec(MON_FILE_SECRETS, "u:s\n", 4);
	CHECK(parse(&f) == 0, "config, drop-ins, secrets");
	CHECK(f.len[MON_FILE_CONFIG] == 9 && f.ninc == 2 &&
	    strcmp(f.inc[0].name, "/c/a.ini") == 0 && f.inc[0].len == 12 &&
	    memcmp(f.inc[0].data, "[program:a]\n", 12) == 0 &&
	    strcmp(f.inc[1].name, "/c/b.ini") == 0 && f.inc[1].len == 0 &&
	    f.len[MON_FILE_SECRETS] == 4, "what they hold");
	children_files_free(&f);
	len = 0;
	rec(MON_FILE_ERROR, "a.ini:1: no", 11);
	CHECK(parse(&f) == 0 && f.data[MON_FILE_CONFIG] == NULL &&
	    f.len[MON_FILE_ERROR] == 11, "an error alone");
	children_files_free(&f);
	len = 0;
	rec(MON_FILE_CONFIG, "", 0);
	for (i = 0; i < MON_MAX_INCLUDES; i++)
		rec(MON_FILE_INCLUDE, "x\0", 2);
	CHECK(parse(&f) == 0 && f.ninc == MON_MAX_INCLUDES,
	    "as many drop-ins as allowed");
	children_files_free(&f);
	rec(MON_FILE_INCLUDE, "x\0", 2);
	refused("one drop-in too many");
}

static void
test_malformed(void)
{
	char name[PATH_MAX + 2];

	rec(MON_FILE_INCLUDE, "a\0x", 3);
	rec(MON_FILE_CONFIG, "", 0);
	refused("a drop-in before the configuration");
	rec(MON_FILE_CONFIG, "", 0);
	rec(MON_FILE_INCLUDE, "a.ini", 5);
	refused("a drop-in name without its NUL");
	rec(MON_FILE_CONFIG, "", 0);
	rec(MON_FILE_INCLUDE, "\0x", 2);
	refused("an empty drop-in name");
	rec(MON_FILE_CONFIG, "", 0);
	rec(MON_FILE_INCLUDE, "", 0);
	refused("an empty drop-in record");
	memset(name, 'n', sizeof(name));
	name[PATH_MAX] = '\0';
	rec(MON_FILE_CONFIG, "", 0);
	rec(MON_FILE_INCLUDE, name, sizeof(name));
	refused("a drop-in name longer than PATH_MAX");
	rec(MON_FILE_CONFIG, "", 0);
	rec(MON_FILE_CONFIG, "", 0);
	refused("the configuration twice");
	rec(MON_FILE_CONFIG, "", 0);
	rec(MON_FILE_ERROR, "why", 3);
	refused("an error with files");
	rec(MON_FILE_ERROR, name, MON_MAX_ERROR + 1);
	refused("an error too long");
	rec(0, "", 0);
	refused("role 0");
	rec(MON_FILE_MAX, "", 0);
	refused("a role past the last");
	put(MON_FILE_CONFIG, "abc", 3, 4);
	refused("a length past the end");
	put(MON_FILE_CONFIG, "abc", 3, UINT32_MAX);
	refused("a huge length");
	rec(MON_FILE_CONFIG, "abc", 3);
	len--;
	refused("a record cut short");
	rec(MON_FILE_CONFIG, "", 0);
	len -= 3;
	refused("a header cut short");
}

int
main(void)
{
	log_init(LOG_ERROR);
	test_well_formed();
	test_malformed();
	return check_report("test_files");
}
