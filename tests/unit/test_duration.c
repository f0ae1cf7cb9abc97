/* Durations for people (common/duration.c) at the edges of each unit,
 * and into buffers too small for them. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "duration.h"

static const struct {
	uint64_t	 ms;
	const char	*text;
} cases[] = {
	{ 0, "0.0s" },
	{ 99, "0.0s" },			/* tenths cut, not rounded */
	{ 100, "0.1s" },
	{ 59999, "59.9s" },
	{ 60000, "1m00s" },
	{ 245900, "4m05s" },
	{ 3599999, "59m59s" },
	{ 3600000, "1h00m" },
	{ 86399999, "23h59m" },
	{ 86400000, "1d00h" },
	{ 183600000, "2d03h" },
	{ UINT64_MAX, "213503982334d14h" },
};

int
main(void)
{
	char out[32], small[5];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		duration_text(out, sizeof(out), cases[i].ms);
		CHECK(strcmp(out, cases[i].text) == 0, "%llu ms: '%s', not "
		    "'%s'", (unsigned long long)cases[i].ms, out,
		    cases[i].text);
	}
	/* Cut, and still a string. */
	memset(small, 'x', sizeof(small));
	duration_text(small, sizeof(small), UINT64_MAX);
	CHECK(strcmp(small, "2135") == 0, "cut to '%s'", small);
	duration_text(small, 1, 1000);
	CHECK(small[0] == '\0', "a 1-byte buffer holds '%s'", small);
	return check_report("test_duration");
}
