"""Metrics: the `metrics` command and [metrics] listen (HTTP at /metrics).
The page must parse as the Prometheus text format -- checked three ways:
python3-prometheus-client's parser, a strict checker written here, and
promtool when it is installed -- and its counts must follow what happens:
processes by user and state, restarts, spawns, requests, AUTH failures,
clients.  Only admins get it; the HTTP endpoint answers GET and HEAD of
/metrics and nothing else, and a scraper that stalls costs no client
anything."""
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import PROCCTLD, default_ini, eof, hashed, wait_for
from test_security import make_ca, make_cert
from test_tcp import free_port, redis, tcp_daemon, tcp_ini

HERE = Path(__file__).resolve().parent
TYPES = {"counter", "gauge", "histogram"}
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"


# ---- the format, checked strictly ----

def parse_labels(text, where):
    """{name: value} from the inside of {...}, escapes undone; only \\\\,
    \\" and \\n are escapes, and nothing but a label may be there."""
    labels, i = {}, 0
    while i < len(text):
        m = re.compile(r"(%s)=\"" % LABEL).match(text, i)
        assert m, "%s: bad label at %r" % (where, text[i:])
        name, i, value = m.group(1), m.end(), []
        assert not name.startswith("__"), where
        while True:
            assert i < len(text), "%s: unterminated value" % where
            c = text[i]
            if c == "\\":
                esc = text[i + 1:i + 2]
                assert esc in ("\\", '"', "n"), "%s: bad escape \\%s" % (
                    where, esc)
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                assert c != "\n", where
                value.append(c)
                i += 1
        assert name not in labels, "%s: label %s twice" % (where, name)
        labels[name] = "".join(value)
        if i < len(text):
            assert text[i] == ",", "%s: expected a comma at %r" % (
                where, text[i:])
            i += 1
    return labels


def parse_value(s, where):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", s), (
        "%s: bad value %r" % (where, s))
    return float(s)


def family_of(sample, families):
    if sample in families:
        return sample
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample[:-len(suffix)]
        if sample.endswith(suffix) and families.get(base, {}).get(
                "type") == "histogram":
            return base
    return None


def check_histogram(name, fam):
    series = {}
    for sample, labels, value in fam["samples"]:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None,
                                    "count": None})
        if sample == name + "_bucket":
            assert "le" in labels, name
            s["buckets"].append((parse_value(labels["le"], name), value))
        elif sample == name + "_sum":
            s["sum"] = value
        else:
            s["count"] = value
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        assert les == sorted(les) and les[-1] == float("inf"), (name, les)
        counts = [c for _, c in s["buckets"]]
        assert counts == sorted(counts), "%s: not cumulative" % name
        assert s["count"] == counts[-1], "%s: +Inf != _count" % name
        assert s["sum"] is not None, name


def check_exposition(text):
    """The families of TEXT, {name: {"type", "help", "samples": [(sample
    name, labels, value)]}}, after checking every rule of the format."""
    assert text.endswith("\n"), "the page ends with a newline"
    families, current, seen = {}, None, set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d %r" % (n, line)
        if line.startswith("# HELP "):
            m = re.fullmatch(r"# HELP (%s) (.*)" % NAME, line)
            assert m, where
            name = m.group(1)
            assert name not in families, "%s: family twice" % where
            help_text = m.group(2)
            assert not re.search(r"\\[^\\n]", help_text.replace(
                "\\\\", "")), where
            families[name] = {"help": help_text, "type": None,
                              "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            m = re.fullmatch(r"# TYPE (%s) (\w+)" % NAME, line)
            assert m and m.group(1) == current, "%s: TYPE after its " \
                "HELP" % where
            assert m.group(2) in TYPES, where
            assert not families[current]["samples"], where
            families[current]["type"] = m.group(2)
        else:
            assert not line.startswith("#") and line, where
            m = re.fullmatch(r"(%s)(?:\{(.*)\})? (\S+)" % NAME, line)
            assert m, where
            sample, labels = m.group(1), parse_labels(m.group(2) or "",
                                                      where)
            fam = family_of(sample, families)
            assert fam is not None and fam == current, \
                "%s: a sample outside its family's group" % where
            assert families[fam]["type"], "%s: no TYPE before it" % where
            key = (sample, tuple(sorted(labels.items())))
            assert key not in seen, "%s: sample twice" % where
            seen.add(key)
            families[fam]["samples"].append(
                (sample, labels, parse_value(m.group(3), where)))
    for name, fam in families.items():
        if fam["type"] == "counter":
            assert name.endswith("_total"), name
            assert all(v >= 0 for _, _, v in fam["samples"]), name
        else:
            assert not name.endswith("_total"), name
        if fam["type"] == "histogram":
            check_histogram(name, fam)
        assert name.startswith("procctl_"), name
    return families


def client_parse(text):
    """The same page through python3-prometheus-client's parser."""
    from prometheus_client.parser import text_string_to_metric_families
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families, name, **labels):
    """The value of NAME's sample with exactly LABELS, or None."""
    fam = family_of(name, families)
    if fam is None:
        return None
    for sample, l, v in families[fam]["samples"]:
        if sample == name and l == labels:
            return v
    return None


def metrics(d):
    r = d.ctl("metrics")
    assert r.returncode == 0, r.stderr
    return check_exposition(r.stdout)


def wait_value(d, pred, name, **labels):
    """Wait until pred(value of NAME{LABELS}) holds; that value."""
    got = []

    def ok():
        got.append(value(metrics(d), name, **labels))
        return got[-1] is not None and pred(got[-1])
    wait_for(ok, timeout=60, describe=lambda: "%s%r = %r" % (
        name, labels, got[-1:]))
    return got[-1]


# ---- the command ----

def test_metrics_page_parses_every_way(daemon):
    assert daemon.ctl("run", "sleep", "100").returncode == 0
    r = daemon.ctl("metrics")
    assert r.returncode == 0, r.stderr
    fams = check_exposition(r.stdout)
    parsed = client_parse(r.stdout)
    # prometheus_client names a counter without its _total.
    assert {n[:-6] if n.endswith("_total") else n for n in fams} == \
        set(parsed)
    for name in ["procctl_build_info", "procctl_server_start_time_seconds",
                 "procctl_clients", "procctl_requests_total",
                 "procctl_received_bytes_total", "procctl_sent_bytes_total",
                 "procctl_auth_failures_total",
                 "procctl_events_dropped_total",
                 "procctl_metrics_pages_total",
                 "procctl_log_lines_dropped_total",
                 "procctl_output_lines_dropped_total",
                 "procctl_spawn_duration_seconds", "procctl_processes",
                 "procctl_programs", "procctl_program_state",
                 "procctl_restarts_total", "procctl_adhoc_restarts_total"]:
        assert name in fams, name
    assert fams["procctl_spawn_duration_seconds"]["type"] == "histogram"
    assert value(fams, "procctl_processes", user="root",
                 state="running") == 1
    assert value(fams, "procctl_clients", transport="unix") == 1
    assert value(fams, "procctl_build_info", version="0.1.0",
                 abi="1.9") == 1
    # The same through redis-cli (RESP3: a verbatim string, shown as is).
    r = daemon.redis("-3", "metrics")
    assert r.returncode == 0 and "# TYPE procctl_clients gauge" in r.stdout
    # --json: one string.
    r = daemon.ctl("metrics", json=True)
    assert r.returncode == 0 and r.stdout.startswith('"# HELP ')


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool (Debian: prometheus) is not installed")
def test_promtool_checks_the_page(daemon):
    daemon.ctl("run", "sleep", "100")
    text = daemon.ctl("metrics").stdout
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_requests_spawns_and_clients_are_counted(daemon):
    for _ in range(3):
        assert daemon.ctl("run", "sleep", "100").returncode == 0
    assert daemon.ctl("add", "1", "2").stdout == "3\n"
    assert daemon.ctl("ADD", "1", "2").stdout == "3\n"
    assert daemon.ctl("frobnicate-zz").returncode != 0
    raw = daemon.raw()
    assert raw.call("PING") == "PONG"
    fams = metrics(daemon)
    # Each spawn observed once: the histogram's count is the spawns.
    assert value(fams, "procctl_spawn_duration_seconds_count") == 3
    assert value(fams, "procctl_spawn_duration_seconds_bucket",
                 le="+Inf") == 3
    assert value(fams, "procctl_requests_total", command="add") == 2
    assert value(fams, "procctl_requests_total", command="run") == 3
    assert value(fams, "procctl_requests_total", command="unknown") == 1
    # An unknown name is no label of its own.
    assert "frobnicate" not in daemon.ctl("metrics").stdout
    # raw and the client asking.
    assert value(fams, "procctl_clients", transport="unix") == 2
    raw.close()
    wait_value(daemon, lambda v: v == 1, "procctl_clients",
               transport="unix")
    before = value(fams, "procctl_received_bytes_total")
    sent = value(fams, "procctl_sent_bytes_total")
    assert before > 0 and sent > 0
    fams = metrics(daemon)
    assert value(fams, "procctl_received_bytes_total") > before
    assert value(fams, "procctl_sent_bytes_total") > sent


def test_processes_of_users_in_turn_are_counted_per_user(make_daemon,
                                                         public_sock):
    """The count per owner tries the owner found last first (the bench's
    2,000 processes of 10 users): owners that take turns in the list
    still get one sample each, with their own counts."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run processes as another user")
    d = make_daemon(default_ini(extra_daemon="socket_mode = 0666"),
                    sock=public_sock)
    nobody = pwd.getpwnam("nobody")
    theirs = d.raw_as(nobody.pw_uid, nobody.pw_gid)
    for i in range(5):
        if i % 2 == 0:
            assert d.ctl("run", "sleep", "3600").returncode == 0
        else:
            pid = theirs.call("RUN", "--detach", "/bin/sleep", "3600")
            assert isinstance(pid, int), pid
    fams = metrics(d)
    assert value(fams, "procctl_processes", user="root",
                 state="running") == 3
    assert value(fams, "procctl_processes", user="nobody",
                 state="running") == 2
    owners = [l["user"] for n, l, _ in fams["procctl_processes"]["samples"]
              if l["state"] == "running"]
    assert sorted(owners) == ["nobody", "root"], owners


def prog_ini(programs):
    return default_ini() + programs


def test_a_failing_programs_restarts_go_up(make_daemon):
    d = make_daemon(prog_ini("""
[program:crash]
command = /bin/sh -c 'exit 3'
start_secs = 0
backoff = 50ms..100ms
start_limit = 30/60s
restart = on-failure

[program:idle]
command = sleep 100
"""))
    wait_value(d, lambda v: v >= 3, "procctl_restarts_total",
               program="crash")
    wait_value(d, lambda v: v == 1, "procctl_program_state",
               program="idle", state="RUNNING")
    fams = metrics(d)
    assert value(fams, "procctl_restarts_total", program="idle") == 0
    assert value(fams, "procctl_program_state", program="idle",
                 state="FATAL") == 0
    assert sum(v for s, l, v in fams["procctl_programs"]["samples"]) == 2
    # Ad hoc ones (run --restart), per user.
    assert d.ctl("run", "--restart", "always", "/bin/sh", "-c",
                 "exit 1").returncode == 0
    wait_value(d, lambda v: v >= 2, "procctl_adhoc_restarts_total",
               user="root")


def test_auth_failures_over_tcp_are_counted(make_daemon, tmp_path):
    d = tcp_daemon(make_daemon, lambda ports: tcp_ini(
        tmp_path, ["127.0.0.1:%d" % ports[0]]))
    assert value(metrics(d), "procctl_auth_failures_total") == 0
    r = redis(d.port, "ping", secret="wrong")
    assert "invalid username or secret" in r.stdout + r.stderr
    wait_value(d, lambda v: v == 1, "procctl_auth_failures_total")
    assert redis(d.port, "ping").stdout.strip() == "PONG"
    fams = metrics(d)
    assert value(fams, "procctl_auth_failures_total") == 1


@pytest.fixture(scope="module")
def demo_plugins(tmp_path_factory):
    out = tmp_path_factory.mktemp("metricsdemo")
    for name, minor in (("metricsdemo", []), ("metricsold",
                                              ["-DDEMO_MINOR=8"])):
        subprocess.run(["cc", "-std=c17", "-Wall", "-Werror", "-shared",
                        "-fPIC", "-I", str(HERE.parents[1] / "include")] +
                       minor + ["-o", str(out / (name + ".so")),
                                str(HERE / "plugins" / "metricsdemo.c")],
                       check=True)
    return out


def test_plugin_families_escaped_and_checked(make_daemon, demo_plugins):
    d = make_daemon(default_ini() + "\n[plugin:metricsdemo]\npath = "
                    "%s/metricsdemo.so\n" % demo_plugins)
    text = d.ctl("metrics").stdout
    fams = check_exposition(text)
    client_parse(text)
    assert value(fams, "procctl_demo_escaped", value="back\\slash "
                 "\"quoted\"\nnew line \ufffd") == 1
    assert 'value="back\\\\slash \\"quoted\\"\\nnew line \ufffd"} 1' in \
        text
    assert "# HELP procctl_demo_escaped label values with \\\\ and \" " \
        "and a newline\\nin the help too" in text
    assert value(fams, "procctl_demo_events_total") == 42
    assert value(fams, "procctl_demo_ratio") == 0.25
    # What would break the format is left out.
    for name in ["demo_no_prefix", "procctl_demo_counter",
                 "procctl_demo_gauge_total", "procctl_demo_hist",
                 "procctl_demo bad"]:
        assert name + " " not in text and name + "\n" not in text, name
    assert len(fams["procctl_demo_escaped"]["samples"]) == 1
    assert len(fams["procctl_demo_events_total"]["samples"]) == 1
    assert len(fams["procctl_clients"]["samples"]) == 2
    assert "metrics from metricsdemo: a sample with no counter or gauge " \
        "family begun before it; left out" in d.log()


def test_a_plugin_of_abi_1_8_still_loads(make_daemon, demo_plugins):
    d = make_daemon(default_ini() + "\n[plugin:metricsold]\npath = "
                    "%s/metricsold.so\n" % demo_plugins)
    assert d.ctl("demo").stdout == "OK\n"
    fams = metrics(d)
    assert "procctl_demo_events_total" not in fams
    assert "procctl_processes" in fams


# ---- HTTP ----

def http_daemon(make_daemon, extra="", tls=None):
    def ini(ports):
        text = default_ini() + "\n[metrics]\nlisten = %s:%d\n%s" % (
            tls or "127.0.0.1", ports[0], extra)
        return text
    d = tcp_daemon(make_daemon, ini)
    d.wait_log(r"metrics on https?://")
    return d


def get(port, method="GET", path="/metrics", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def answers(port):
    """True once PORT serves /metrics (a server restarting: not yet)."""
    try:
        return get(port)[0] == 200
    except OSError:
        return False


def families_only(text):
    return {n: f["type"] for n, f in check_exposition(text).items()}


def test_http_serves_metrics_and_nothing_else(make_daemon):
    d = http_daemon(make_daemon)
    status, headers, body = get(d.port)
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; " \
        "charset=utf-8"
    assert families_only(body) == families_only(d.ctl("metrics").stdout)
    client_parse(body)
    status, headers, body = get(d.port, "HEAD")
    assert status == 200 and body == ""
    for path in ["/", "/x", "/metrics/", "/metricsx"]:
        assert get(d.port, path=path)[0] == 404, path
    for method in ["POST", "PUT", "DELETE", "OPTIONS"]:
        status, headers, _ = get(d.port, method, body="x=1")
        assert status == 405, method
        assert headers["Allow"] == "GET, HEAD"
    assert get(d.port, "GET", body="x" * 100)[0] == 413
    # The scrapes are counted as nobody's requests: no client, no command.
    assert value(metrics(d), "procctl_clients", transport="tcp") == 0


def test_http_restarted_server_binds_again(make_daemon):
    d = http_daemon(make_daemon)
    assert get(d.port)[0] == 200
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: d.server_pid != old, timeout=60)
    d.wait_log(r"(?s)metrics on http://.*metrics on http://")

    wait_for(lambda: answers(d.port), timeout=60)


def test_restarted_server_goes_on_without_a_taken_port(make_daemon):
    """Metrics are not worth a supervisor: a server restarted after a
    crash that finds its metrics port taken serves everything else."""
    d = http_daemon(make_daemon)
    old = d.server_pid
    os.kill(d.proc.pid, signal.SIGSTOP)     # the monitor restarts later
    try:
        os.kill(old, signal.SIGKILL)
        taker = socket.socket()
        taker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


        def bound():
            try:
                taker.bind(("127.0.0.1", d.port))
                return True
            except OSError:             # the dead server's, for a moment
                return False
        wait_for(bound, timeout=60)
        taker.listen()
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    d.wait_log(r"not served by this restarted server")
    wait_for(lambda: d.ctl("add", "1", "2").stdout == "3\n", timeout=60)
    assert d.ctl("metrics").returncode == 0
    taker.close()


def test_reload_refuses_what_the_next_start_would(make_daemon):
    """[metrics] listen applies at the next start, but a reload checks it
    now: plain HTTP off loopback is refused (file:line, nothing changes),
    as the start would; a change it takes is said to wait for a start."""
    d = http_daemon(make_daemon)
    text = d.ini.read_text()
    d.ini.write_text(text.replace("listen = 127.0.0.1:",
                                  "listen = 0.0.0.0:"))
    r = d.ctl("reload")
    assert r.returncode != 0
    assert re.search(r"procctld\.ini:\d+: \[metrics\] listen = 0\.0\.0\.0:"
                     r"\d+: not a loopback address", r.stderr), r.stderr
    assert "nothing changes" in r.stderr
    d.ini.write_text(text.replace("listen = 127.0.0.1:",
                                  "listen = [::1]:"))
    r = d.ctl("reload", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\[metrics\] listen changed \(127\.0\.0\.1:\d+ -> "
                     r"\[::1\]:\d+\): at the next start", r.stdout), r.stdout
    secrets = d.ini.parent / "secrets"
    secrets.write_text(hashed("alice:s3cret\n"))
    secrets.chmod(0o600)
    d.ini.write_text(text + "\n[tcp]\nlisten = 0.0.0.0:1\nsecrets = %s\n"
                     % secrets)
    r = d.ctl("reload")
    assert r.returncode != 0
    assert "[tcp] listen = 0.0.0.0:1: not a loopback address; plaintext " \
        "TCP is allowed only on loopback" in r.stderr, r.stderr


def test_restarted_server_goes_on_without_an_unusable_section(make_daemon):
    """A reload takes a [metrics] section whose TLS files cannot be read
    (they are read at the next start); a server restarted after a crash
    meanwhile serves everything but the metrics over HTTP."""
    d = http_daemon(make_daemon)
    d.ini.write_text(d.ini.read_text().replace(
        "listen = 127.0.0.1:", "listen = 0.0.0.0:") +
        "tls_cert = /nonexistent/metrics.crt\n"
        "tls_key = /nonexistent/metrics.key\n")
    r = d.ctl("reload")
    assert r.returncode == 0, r.stderr
    assert "[metrics] listen changed" in r.stdout, r.stdout
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    d.wait_log(r"this restarted server serves no metrics over HTTP")
    wait_for(lambda: d.ctl("add", "1", "2").stdout == "3\n", timeout=60)
    assert d.server_pid != old
    assert d.ctl("metrics").returncode == 0


def test_http_stalled_scrapers_cost_clients_nothing(make_daemon):
    d = http_daemon(make_daemon)
    # Half a request, then nothing: as many as one address may hold, and
    # more, which are turned away.
    idle = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=60)
        s.sendall(b"GET /metr")
        idle.append(s)
    assert d.ctl("add", "1", "2").stdout == "3\n"
    assert d.ctl("metrics").returncode == 0
    # Past the per-address cap (4) they are refused: libmicrohttpd's word
    # for it, from its thread, logged by the loop, and closed (no fixed
    # time: a loaded machine may take seconds to get there).
    d.wait_log(r"info: metrics http: .*connection limit")
    assert sum(eof(s, timeout=60) for s in idle[4:]) == 4
    # The rest are closed once idle for the timeout (10 s); meanwhile the
    # daemon goes on serving.
    assert d.ctl("run", "sleep", "100").returncode == 0
    for s in idle[:4]:
        assert eof(s, timeout=60)
        s.close()
    for s in idle[4:]:
        s.close()
    assert get(d.port)[0] == 200


def scrape_many(port, threads, each):
    """EACH scrapes from each of THREADS threads at once: their statuses."""
    import threading
    got, lock = [], threading.Lock()

    def scraper():
        for _ in range(each):
            status = get(port)[0]
            with lock:
                got.append(status)
    ts = [threading.Thread(target=scraper) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    return got


def test_http_many_scrapers_one_page_a_second(make_daemon):
    """Scrapes are served from a snapshot: the loop writes a page only when
    the last is a second old, however many scrapers ask, so the pages
    written are at most one per second the scrapes took, plus the
    first."""
    d = http_daemon(make_daemon)
    pages = "procctl_metrics_pages_total"
    assert value(metrics(d), pages) == 0, "a page written with no scrape"
    start = time.monotonic()
    got = scrape_many(d.port, 4, 25)
    took = time.monotonic() - start
    assert got == [200] * 100, got
    n = value(metrics(d), pages)
    assert 1 <= n <= 1 + int(took), (n, took)
    # The `metrics` command writes its own page, counted nowhere.
    assert value(metrics(d), pages) == n


@pytest.fixture
def stall_fifo():
    """A FIFO the server can open once it runs as nobody (pytest's own
    directory is 0700)."""
    pub = tempfile.mkdtemp(prefix="procctl-test-")
    os.chmod(pub, 0o711)
    fifo = os.path.join(pub, "stall.fifo")
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    yield fifo
    shutil.rmtree(pub, ignore_errors=True)


def stall_loop(d, fifo):
    """The server's loop stuck in metricsdemo's `stall` FIFO: the
    connection that asked and an fd whose one byte lets the loop go."""
    raw = d.raw(timeout=120)
    raw.send(raw.command("stall", str(fifo)))

    def writer():
        try:                            # ENXIO until the plugin opened it
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return None
    fd = wait_for(writer, timeout=60, describe=lambda: "stall not called")
    return raw, fd


def test_http_scrape_while_the_loop_is_stuck_is_refused(make_daemon,
                                                       demo_plugins,
                                                       stall_fifo):
    """A scrape that needs a page the loop does not write in time (2 s)
    gets 503 with Retry-After, and the scrapes after it get 503 at once
    rather than each waiting; the loop, back, writes the page and says
    how many were refused.  The daemon's clients are not blocked by the
    HTTP side either way."""
    d = http_daemon(make_daemon, "\n[plugin:metricsdemo]\npath = "
                    "%s/metricsdemo.so\n" % demo_plugins)
    raw, fd = stall_loop(d, stall_fifo)
    try:
        for method in ("GET", "GET", "HEAD"):
            status, headers, body = get(d.port, method)
            assert status == 503, (method, status, body)
            assert headers["Retry-After"] == "1"
        assert "did not write the metrics in time" in body or \
            method == "HEAD"
        # 404 and 405 need no page.
        assert get(d.port, path="/x")[0] == 404
    finally:
        os.write(fd, b"x")
        os.close(fd)
    assert raw.reply() == "OK"
    wait_for(lambda: get(d.port)[0] == 200, timeout=60)
    d.wait_log(r"metrics: [3-9]\d* scrapes refused \(503\): the page "
               r"asked for was written \d+ ms later")
    fams = families_only(get(d.port)[2])
    assert "procctl_demo_events_total" in fams


def test_http_thread_stops_for_upgrade_and_stop(make_daemon):
    """`daemon upgrade`: the old server stops its HTTP thread and exits 0,
    the new one serves the metrics again; then a stop ends it cleanly."""
    d = http_daemon(make_daemon)
    assert scrape_many(d.port, 2, 5) == [200] * 10
    old = d.server_pid
    assert d.ctl("daemon", "upgrade").returncode == 0
    wait_for(lambda: d.server_pid not in (None, old), timeout=60)
    d.wait_log(r"(?s)upgrade: re-executing.*metrics on http://")

    wait_for(lambda: answers(d.port), timeout=60)
    assert scrape_many(d.port, 2, 5) == [200] * 10
    assert d.stop() == 0


def check_config(tmp_path, text):
    ini = tmp_path / "t.ini"
    ini.write_text(text)
    return ini, subprocess.run([str(PROCCTLD), "-t", "-c", str(ini)],
                               capture_output=True, text=True, timeout=60)


def test_http_refused_off_loopback_without_tls(make_daemon, tmp_path):
    text = default_ini() + "\n[metrics]\nlisten = 0.0.0.0:%d\n" % \
        free_port()
    ini, r = check_config(tmp_path, text)
    assert r.returncode == 78, r.stderr
    line = text.split("\n").index("[metrics]") + 1
    assert re.search(r"%s:%d: \[metrics\] listen = 0\.0\.0\.0:\d+: not a "
                     "loopback address; plain HTTP is allowed only on "
                     "loopback" % (re.escape(str(ini)), line), r.stderr)
    d = make_daemon(text, start=False)
    d.start(wait=False)
    assert d.proc.wait(timeout=60) == 78
    assert "not a loopback address" in d.log()


def test_metrics_section_checked(tmp_path):
    text = default_ini() + "\n[metrics]\nlisten = 127.0.0.1:%d\n" \
        "listne = 1\ntls_cert = /nonexistent.crt\n" % free_port()
    _, r = check_config(tmp_path, text)
    assert r.returncode == 78
    assert re.search(r"t\.ini:\d+: unknown key 'listne' in \[metrics\], "
                     "ignored", r.stderr), r.stderr
    assert "[metrics] tls_cert and tls_key go together" in r.stderr
    _, r = check_config(tmp_path, default_ini() +
                        "\n[metrics]\nlisten = 127.0.0.1\n")
    assert r.returncode == 78 and "expected HOST:PORT" in r.stderr
    _, r = check_config(tmp_path, default_ini() +
                        "\n[metrics]\nlisten = 127.0.0.1:%d\n" % free_port())
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a certificate for 127.0.0.1 (test_security's pki is a
    fixture of that module: used here, pytest would make it twice)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    d = str(tmp_path_factory.mktemp("pki"))
    make_ca(d, "ca")
    make_cert(d, "ca", "server", "localhost", "IP:127.0.0.1")
    return d


def test_https_off_loopback(make_daemon, pki, tmp_path):
    tls = "tls_cert = %s/server.crt\ntls_key = %s/server.key\n" % (pki, pki)
    d = http_daemon(make_daemon, tls, tls="0.0.0.0")
    assert re.search(r"metrics on https://0\.0\.0\.0:\d+/metrics", d.log())
    ctx = ssl.create_default_context(cafile="%s/ca.crt" % pki)
    c = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=60,
                                    context=ctx)
    c.request("GET", "/metrics")
    r = c.getresponse()
    assert r.status == 200
    check_exposition(r.read().decode())
    c.close()
    # A key others may read is refused, as [tcp]'s is.
    key = tmp_path / "open.key"
    shutil.copy("%s/server.key" % pki, key)
    os.chmod(key, 0o644)
    _, r = check_config(tmp_path, default_ini() + "\n[metrics]\nlisten = "
                        "0.0.0.0:%d\ntls_cert = %s/server.crt\ntls_key = "
                        "%s\n" % (free_port(), pki, key))
    assert r.returncode == 78
    assert "[metrics] tls_key %s: mode 0644 lets others read it" % key in \
        r.stderr


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool (Debian: prometheus) is not installed")
def test_fleet_md_alert_rules_are_valid(tmp_path):
    """docs/fleet.md's alert rules, as promtool reads a rules file."""
    text = (HERE.parents[1] / "docs" / "fleet.md").read_text()
    m = re.search(r"```yaml\n(# procctl\.rules\.yml\n.*?)```", text, re.S)
    assert m, "no rules block in docs/fleet.md"
    rules = tmp_path / "procctl.rules.yml"
    rules.write_text(m.group(1))
    r = subprocess.run(["promtool", "check", "rules", str(rules)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 5 rules found" in r.stdout, r.stdout


