/* The Prometheus text format as expo.c writes it: families, samples,
 * escaping, values, histograms, and what it refuses; and the verbatim
 * reply that carries it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "procctld.h"

static struct buf out;
static struct procctl_metrics m;

static void
begin(void)
{
	buf_reset(&out);
	expo_begin(&m, &out);
}

static int
page_is(const char *want)
{
	int ok = buf_avail(&out) == strlen(want) &&
	    memcmp(buf_head(&out), want, strlen(want)) == 0;

	if (!ok)
		fprintf(stderr, "got: %.*s\nwant: %s\n", (int)buf_avail(&out),
		    buf_head(&out), want);
	return ok;
}

static void
test_samples(void)
{
	const char *l[] = { "user", "a\\b\"c\nd", "state", "running", NULL };
	const char *bad[] = { "x", "\xff\xc3\xa9", NULL };

	begin();
	CHECK(expo_family(&m, "procctl_x", EXPO_GAUGE, "one\\two\nthree") ==
	    0, "family");
	CHECK(expo_sample(&m, NULL, 3) == 0, "sample");
	CHECK(expo_sample(&m, l, 0.25) == 0, "labels");
	CHECK(expo_sample(&m, bad, -2) == 0, "not UTF-8");
	CHECK(page_is("# HELP procctl_x one\\\\two\\nthree\n"
	    "# TYPE procctl_x gauge\n"
	    "procctl_x 3\n"
	    "procctl_x{user=\"a\\\\b\\\"c\\nd\",state=\"running\"} 0.25\n"
	    "procctl_x{x=\"\xef\xbf\xbd\xc3\xa9\"} -2\n"), "page");
	expo_end(&m);
}

static void
test_values(void)
{
	static const struct {
		double		 v;
		const char	*text;
	} t[] = {
		{ 0, "0" }, { 42, "42" }, { 1e15, "1e+15" }, { 0.1, "0.1" },
		{ 1795674097.907, "1795674097.907" }, { 1.0 / 3,
		  "0.33333333333333331" }, { INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" }, { NAN, "NaN" },
	};
	char want[128];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		begin();
		expo_family(&m, "procctl_v", EXPO_GAUGE, "v");
		expo_sample(&m, NULL, t[i].v);
		snprintf(want, sizeof(want), "# HELP procctl_v v\n# TYPE "
		    "procctl_v gauge\nprocctl_v %s\n", t[i].text);
		CHECK(page_is(want), "value %s", t[i].text);
		expo_end(&m);
	}
}

static void
test_refusals(void)
{
	const char *twice[] = { "a", "1", "a", "2", NULL };
	const char *dunder[] = { "__a", "1", NULL };
	const char *digit[] = { "1a", "1", NULL };
	const char *novalue[] = { "a", NULL };

	begin();
	CHECK(expo_sample(&m, NULL, 1) == -1, "no family");
	CHECK(expo_family(&m, "x_total", EXPO_COUNTER, "") == -1, "prefix");
	CHECK(expo_family(&m, "procctl_a-b", EXPO_GAUGE, "") == -1, "dash");
	CHECK(expo_family(&m, "procctl_c", EXPO_COUNTER, "") == -1,
	    "counter without _total");
	CHECK(expo_sample(&m, NULL, 1) == -1, "after a refused family");
	CHECK(expo_family(&m, "procctl_g_total", EXPO_GAUGE, "") == -1,
	    "gauge with _total");
	CHECK(expo_plugin_family(&m, "procctl_h", EXPO_HISTOGRAM, "") == -1,
	    "plugin histogram");
	CHECK(expo_family(&m, "procctl_c_total", EXPO_COUNTER, "") == 0,
	    "counter");
	CHECK(expo_family(&m, "procctl_c_total", EXPO_COUNTER, "") == -1,
	    "twice");
	CHECK(expo_sample(&m, NULL, -1) == -1, "counter below zero");
	CHECK(expo_sample(&m, twice, 1) == -1, "label twice");
	CHECK(expo_sample(&m, dunder, 1) == -1, "reserved label");
	CHECK(expo_sample(&m, digit, 1) == -1, "label with a digit first");
	CHECK(expo_sample(&m, novalue, 1) == -1, "label without value");
	CHECK(page_is("# HELP procctl_c_total \n# TYPE procctl_c_total "
	    "counter\n"), "only the good family");
	expo_end(&m);
}

static void
test_histogram(void)
{
	static const double bounds[] = { 0.1, 1 };
	static const uint64_t counts[] = { 2, 0, 1 };

	begin();
	CHECK(expo_family(&m, "procctl_d_seconds", EXPO_HISTOGRAM, "d") == 0,
	    "histogram");
	CHECK(expo_sample(&m, NULL, 1) == -1, "plain sample in a histogram");
	CHECK(expo_histogram(&m, NULL, bounds, counts, 2, 1.5) == 0,
	    "samples");
	CHECK(page_is("# HELP procctl_d_seconds d\n"
	    "# TYPE procctl_d_seconds histogram\n"
	    "procctl_d_seconds_bucket{le=\"0.1\"} 2\n"
	    "procctl_d_seconds_bucket{le=\"1\"} 2\n"
	    "procctl_d_seconds_bucket{le=\"+Inf\"} 3\n"
	    "procctl_d_seconds_sum 1.5\n"
	    "procctl_d_seconds_count 3\n"), "cumulative");
	expo_end(&m);
}

static void
test_verbatim(void)
{
	struct buf b = { 0 };

	resp_put_verbatim(&b, 3, "txt", "a\nb", 3);
	CHECK(buf_avail(&b) == 13 && memcmp(buf_head(&b),
	    "=7\r\ntxt:a\nb\r\n", 13) == 0, "RESP3 verbatim");
	buf_reset(&b);
	resp_put_verbatim(&b, 2, "txt", "a\nb", 3);
	CHECK(buf_avail(&b) == 9 && memcmp(buf_head(&b), "$3\r\na\nb\r\n",
	    9) == 0, "RESP2 bulk");
	buf_free(&b);
}

int
main(void)
{
	log_init(-1);	/* the refusals are logged; expected here */
	test_samples();
	test_values();
	test_refusals();
	test_histogram();
	test_verbatim();
	buf_free(&out);
	return check_report("test_expo");
}
