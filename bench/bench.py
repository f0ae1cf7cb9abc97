#!/usr/bin/env python3
"""procctl benchmarks: each figure a ratio to a baseline measured in the
same run on the same machine, with the goal beside it (bench/README.md,
docs/performance.md).  Not a test: it reports, it never fails a build.

    python3 bench/bench.py [--build DIR] [--only NAME[,NAME...]] [--list]
                           [--markdown FILE]
"""
import argparse
import csv
import http.client
import io
import os
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = ("raw_server", "raw_spawn", "rtt", "fairness", "exitev",
           "stamp_exit", "min_client", "runmany", "raw_clone3", "logwriter",
           "scrape")

ADD = ["add", "1", "2"]
ADD_RESP = b"*3\r\n$3\r\nadd\r\n$1\r\n1\r\n$1\r\n2\r\n"
# What redis-server answers in place of `add 1 2`: a 3-word request that
# parses a decimal, adds, and answers an integer (docs/performance.md).
REDIS_ADD = ["INCRBY", "bench:n", "2"]
IDLE_CLIENTS = 10000


# The latency and throughput figures run server and client (procctld and
# its baseline alike) on one CPU, the last: a figure is then the CPU work
# per request of client plus server, alternating, which is what a
# server's system calls and parsing cost.  Spread over two CPUs, a
# wake-up across CPUs (~25 us in this VM, more than a whole round trip on
# one CPU) hides the difference, and whatever else the machine runs on
# the other CPU swings the result.  Figures that spawn processes are not
# pinned (children inherit the CPU, and raw_spawn's would not), except
# exit -> event, where the spawned process and the baseline's share it.
CPUS = sorted(os.sched_getaffinity(0))
BENCH_CPU = CPUS[-1]


def on_cpu(cpu):
    if len(CPUS) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def median(v):
    return statistics.median(v)


# ---- processes ------------------------------------------------------------

def wait_socket(path, proc, what):
    for _ in range(1000):
        if proc.poll() is not None:
            sys.exit("bench: %s exited with status %s" % (what,
                                                          proc.returncode))
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.close()
                return
            except OSError:
                pass
        time.sleep(0.01)
    sys.exit("bench: %s did not start on %s" % (what, path))


class Server:
    """A server process on a Unix socket, stopped with SIGTERM."""

    def __init__(self, cmd, sock, what, logfile=None, pin=False):
        self.sock, self.what = sock, what
        err = open(logfile, "ab") if logfile else subprocess.DEVNULL
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                  stdout=err, stderr=err,
                                  preexec_fn=on_cpu(BENCH_CPU) if pin
                                  else None)
        self.pid = self.p.pid
        wait_socket(sock, self.p, what)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Bench:
    def __init__(self, build, tmp):
        self.build, self.tmp = build, tmp
        self.n = 0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def helper(self, name):
        return self.path(name)

    def daemon(self, extra="", pin=False, proc="", sockdir=None):
        """A fresh procctld with the build's proc and arith plugins; EXTRA
        goes in [daemon], PROC in [plugin:proc]; its socket in SOCKDIR
        (default: the bench's own directory, 0700)."""
        self.n += 1
        ini = self.path("d%d.ini" % self.n)
        sock = os.path.join(sockdir or self.tmp, "d%d.sock" % self.n)
        with open(ini, "w") as f:
            f.write("[daemon]\nplugin_dir = %s\nlog_level = warn\n%s\n"
                    "[plugin:proc]\npath = proc.so\n%s\n"
                    "[plugin:arith]\npath = arith.so\n" % (
                        os.path.join(self.build, "plugins"), extra, proc))
        return Server([os.path.join(self.build, "procctld"), "-c", ini,
                       "-s", sock], sock, "procctld",
                      self.path("procctld.log"), pin)

    def raw_server(self, lines):
        self.n += 1
        sock = self.path("raw%d.sock" % self.n)
        return Server([self.helper("raw_server"), sock, str(lines)], sock,
                      "raw_server", pin=True)

    def redis(self):
        self.n += 1
        sock = self.path("redis%d.sock" % self.n)
        return Server(["redis-server", "--port", "0", "--unixsocket", sock,
                       "--unixsocketperm", "700", "--save", "",
                       "--appendonly", "no", "--dir", self.tmp,
                       "--logfile", self.path("redis.log")], sock,
                      "redis-server", pin=True)

    def run(self, cmd, what, cpu=None):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                           preexec_fn=None if cpu is None else on_cpu(cpu))
        if r.returncode != 0:
            sys.exit("bench: %s failed (%d): %s%s" % (
                what, r.returncode, r.stdout, r.stderr))
        return r.stdout

    def stats(self, cmd, what, cpu=None):
        """Run a helper; its "label n p50 p90 p99 max mean" lines."""
        out = {}
        for line in self.run(cmd, what, cpu).splitlines():
            f = line.split()
            if len(f) == 7:
                out[f[0]] = dict(zip(("n", "p50", "p90", "p99", "max",
                                      "mean"), map(float, f[1:])))
            elif len(f) == 2:
                out[f[0]] = float(f[1])
        return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def wait_quiet(pid, quiet=0.3, cap=15.0):
    """Until the process used no CPU for `quiet` seconds."""
    end = time.monotonic() + cap
    t = cpu_ticks(pid)
    while time.monotonic() < end:
        time.sleep(quiet)
        t2 = cpu_ticks(pid)
        if t2 == t:
            return
        t = t2


def wait_rss_settled(pid, still=2.0, cap=20.0):
    """RSS once it has not changed for `still` seconds (at most `cap`)."""
    end = time.monotonic() + cap
    last, since = rss_kib(pid), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.1)
        r = rss_kib(pid)
        if r != last:
            last, since = r, time.monotonic()
        elif time.monotonic() - since >= still:
            break
    return last


def connect_many(path, n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        socks.append(s)
    # Accepts are in order: once the last one is answered, all are in.
    socks[-1].sendall(b"PING\r\n")
    if socks[-1].recv(100) != b"+PONG\r\n":
        sys.exit("bench: PING on the last of %d clients failed" % n)
    return socks


def close_all(socks):
    for s in socks:
        s.close()


def check_reply(sock, args, want):
    r = subprocess.run(["redis-cli", "-s", sock] + args, capture_output=True,
                       text=True)
    if r.returncode != 0 or r.stdout.strip() != want:
        sys.exit("bench: %s on %s answered %r, not %r (%s)" % (
            " ".join(args), sock, r.stdout.strip(), want, r.stderr.strip()))


def redis_benchmark(sock, args):
    """Requests per second; the caller has checked the command's reply."""
    r = subprocess.run(["redis-benchmark", "-s", sock, "--csv"] + args,
                       capture_output=True, text=True, timeout=900,
                       preexec_fn=on_cpu(BENCH_CPU))
    rows = [row for row in csv.reader(io.StringIO(r.stdout)) if row]
    if r.returncode != 0 or len(rows) < 2:
        sys.exit("bench: redis-benchmark %s failed: %s%s" % (
            " ".join(args), r.stdout, r.stderr))
    return float(rows[-1][1])


def us(x):
    return "%.1f us" % x if x < 10000 else "%.1f ms" % (x / 1000)


# ---- figures -------------------------------------------------------------
# Each returns rows: (figure, procctld, baseline, ratio, op, goal, note).
# op is "<=" or ">=" (a ratio goal), "KiB<=" (KiB more per client), or
# "info" (no goal: shown for context).

ROUNDS = 5      # rounds for the cheap latency figures (median taken)
RTT_COUNT = 30000


def fig_rtt(b):
    """PING and add 1 2, one request in flight, vs raw AF_UNIX ping-pong."""
    rows = []
    with b.daemon(pin=True) as d:
        for name, args, lines, want in (("PING", ["PING"], 3, "+PONG"),
                                        ("add 1 2", ADD, 7, ":3")):
            ours, base, ratio = [], [], []
            with b.raw_server(lines) as raw:
                for r in range(ROUNDS):
                    # One client, alternating procctld / raw per request.
                    s = b.stats([b.helper("rtt"), "-e", want,
                                 "%s,%s" % (d.sock, raw.sock),
                                 str(RTT_COUNT)] + args, "rtt",
                                cpu=BENCH_CPU)
                    ours.append(s["rtt0"]["p50"])
                    base.append(s["rtt1"]["p50"])
                    ratio.append(ours[-1] / base[-1])
            rows.append(("`%s` round trip, one in flight" % name,
                         us(median(ours)),
                         us(median(base)) + " (raw ping-pong)",
                         median(ratio), "<=", 1.3,
                         "p50 of %d alternating pairs, median of %d rounds"
                         % (RTT_COUNT, ROUNDS)))
    return rows


PIPE_N = {1: 200000, 50: 600000}
PIPE_REPS = 9


def fig_pipelined(b):
    """-P 16 with 1 and 50 clients vs redis-server, same redis-benchmark."""
    rows = []
    with b.daemon(pin=True) as d, b.redis() as rs:
        check_reply(d.sock, ["PING"], "PONG")
        check_reply(d.sock, ADD, "3")
        check_reply(rs.sock, ["PING"], "PONG")
        check_reply(rs.sock, ["DEL", REDIS_ADD[1]], "0")
        check_reply(rs.sock, REDIS_ADD, "2")
        for ours_cmd, redis_cmd in ((["PING"], ["PING"]), (ADD, REDIS_ADD)):
            for c in (1, 50):
                ours, base = [], []
                a = ["-P", "16", "-c", str(c), "-n", str(PIPE_N[c])]
                for r in range(PIPE_REPS):
                    for srv, acc, cmd in ([(d, ours, ours_cmd),
                                           (rs, base, redis_cmd)]
                                          [::1 if r % 2 else -1]):
                        acc.append(redis_benchmark(srv.sock, a + cmd))
                log("  %s, %d clients: procctld/redis per pair: %s" % (
                    " ".join(ours_cmd), c, " ".join(
                        "%.2f" % (o / bs) for o, bs in zip(ours, base))))
                rows.append((
                    "`%s` pipelined, -P 16, %d client%s" % (
                        " ".join(ours_cmd), c, "s" if c > 1 else ""),
                    "%.0f/s" % median(ours), "%.0f/s (redis `%s`)" % (
                        median(base), " ".join(redis_cmd)),
                    median([o / bs for o, bs in zip(ours, base)]), ">=",
                    1.0, "%d requests a run; median of %d back-to-back "
                    "pairs" % (PIPE_N[c], PIPE_REPS)))
    return rows


FAIR_RUNS = 10000
FAIR_IDLE = 300
FAIR_GAP_US = 1000


def fig_fairness(b):
    """B's add 1 2 round trip while A pipelines 10,000 run /bin/true."""
    idle, load, mx, secs = [], [], [], []
    t_end = time.monotonic() + 90
    with b.daemon() as d:
        for r in range(3):
            wait_quiet(d.pid)
            s = b.stats([b.helper("fairness"), d.sock, str(FAIR_RUNS),
                         "/bin/true", str(FAIR_IDLE), str(FAIR_GAP_US)],
                        "fairness")
            idle.append(s["idle"]["p50"])
            load.append(s["load"]["p50"])
            mx.append(s["load"]["max"])
            secs.append(s["pipeline"])
            log("  fairness round %d: idle p50 %s, loaded p50 %s, max %s "
                "(%d probes), pipeline %.1f s" % (
                    r + 1, us(idle[-1]), us(load[-1]), us(mx[-1]),
                    s["load"]["n"], secs[-1]))
            if time.monotonic() > t_end:
                break   # a slow daemon: fewer rounds, said in the note
    o, bs = median(load), median(idle)
    return [("another client's round trip while one pipelines %d "
             "`run /bin/true`" % FAIR_RUNS,
             "%s (max %s)" % (us(o), us(max(mx))), us(bs) + " (idle)",
             median([x / y for x, y in zip(load, idle)]), "<=", 5.0,
             "p50 of probes 1 ms apart; %d round%s; pipeline took %.1f s" % (
                 len(load), "s" if len(load) > 1 else "", median(secs)))]


EXIT_SAMPLES = 400
EXIT_ROUNDS = 5


def fig_exit_event(b):
    """run -> exited push, timed from the process's own exit stamp."""
    stamp, f = b.helper("stamp_exit"), b.path("stamp")
    base, loaded, raw, ratio = [], [], [], []
    # Two daemons, one with 10,000 idle clients, and one client running
    # a process on each in turn: both timed under the same load.  On one
    # CPU, like the latency figures: the walk over idle clients is CPU
    # work, and spread over two CPUs the figure swings with whatever else
    # runs.  The stamp processes inherit the CPU, as do the raw floor's.
    with b.daemon(pin=True) as dl, b.daemon(pin=True) as d0:
        socks = connect_many(dl.sock, IDLE_CLIENTS)
        wait_quiet(dl.pid)
        try:
            for r in range(EXIT_ROUNDS):
                pair = [("l", dl), ("0", d0)][::1 if r % 2 else -1]
                s = b.stats([b.helper("exitev"), "daemon",
                             ",".join(d.sock for _, d in pair), stamp, f,
                             str(EXIT_SAMPLES)], "exitev", BENCH_CPU)
                got = {k: s["exit%d" % i]["p50"]
                       for i, (k, _) in enumerate(pair)}
                loaded.append(got["l"])
                base.append(got["0"])
                ratio.append(got["l"] / got["0"])
                s = b.stats([b.helper("exitev"), "raw", stamp, f,
                             str(EXIT_SAMPLES)], "exitev raw", BENCH_CPU)
                raw.append(s["exit"]["p50"])
        finally:
            close_all(socks)
    o, bs, rw = median(loaded), median(base), median(raw)
    log("  exit -> event, loaded/idle per round: %s" % " ".join(
        "%.2f" % x for x in ratio))
    note = "p50 of %d alternating pairs, median of %d rounds" % (
        EXIT_SAMPLES, EXIT_ROUNDS)
    return [("exit → event latency, %d idle clients connected" %
             IDLE_CLIENTS, us(o), us(bs) + " (no idle clients)",
             median(ratio), "<=", 1.2, note),
            ("exit → event latency, no idle clients (context)", us(bs),
             us(rw) + " (raw pidfd wake-up)",
             median([x / y for x, y in zip(base, raw)]), "info", None,
             "p50 of %d exits each, median of %d rounds" % (
                 EXIT_SAMPLES, EXIT_ROUNDS))]


BURSTS = 5


def burst(path, n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        socks.append(s)
    for s in socks:
        s.sendall(ADD_RESP)
    for s in socks:
        got = b""
        while not got.endswith(b"\r\n"):
            chunk = s.recv(100)
            if not chunk:
                break
            got += chunk
        if got != b":3\r\n":
            sys.exit("bench: add 1 2 in a burst answered %r" % got)
    close_all(socks)


def fig_rss(b):
    """Daemon RSS after each of 5 bursts of 10,000 clients vs idle RSS."""
    with b.daemon() as d:
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.sock)
        s.sendall(ADD_RESP + b"PING\r\n")
        got = b""
        while not got.endswith(b"+PONG\r\n"):
            got += s.recv(100)
        s.close()
        wait_quiet(d.pid)
        idle = wait_rss_settled(d.pid)
        after = []
        for i in range(BURSTS):
            burst(d.sock, IDLE_CLIENTS)
            wait_quiet(d.pid)
            after.append(wait_rss_settled(d.pid))
        log("  RSS: idle %d KiB, after each burst: %s KiB" % (
            idle, ", ".join(map(str, after))))
    return [("RSS after %d bursts of %d clients (each `add 1 2`)" % (
        BURSTS, IDLE_CLIENTS), "%.1f MiB" % (after[-1] / 1024),
        "%.1f MiB (idle)" % (idle / 1024), after[-1] / idle, "<=", 2.0,
        "after each burst: %s MiB" % " ".join("%.0f" % (a / 1024)
                                             for a in after))]


ONESHOT_COUNT = 200


def fig_oneshot(b):
    """procctl add 1 2, a whole process, vs bench/min_client."""
    procctl = os.path.join(b.build, "procctl")
    with b.daemon(pin=True) as d:
        ctl = [procctl, "-s", d.sock] + ADD
        mini = [b.helper("min_client"), d.sock] + ADD
        for cmd in (ctl, mini):
            out = b.run(cmd, cmd[0]).strip()
            if out != "3":
                sys.exit("bench: %s answered %r" % (" ".join(cmd), out))
        ours, base, ratio = [], [], []
        for r in range(ROUNDS):
            s = b.stats([b.helper("runmany"), str(ONESHOT_COUNT)] + ctl +
                        ["::"] + mini, "runmany", cpu=BENCH_CPU)
            ours.append(s["proc0"]["p50"])
            base.append(s["proc1"]["p50"])
            ratio.append(ours[-1] / base[-1])
    return [("one-shot `procctl add 1 2`, whole process", us(median(ours)),
             us(median(base)) + " (min_client)", median(ratio), "<=", 1.5,
             "p50 of %d alternating pairs, median of %d rounds" % (
                 ONESHOT_COUNT, ROUNDS))]


CONC_REPS = 3


def fig_concurrent(b):
    """add 1 2, one at a time per client, 50 clients, vs raw_server."""
    args = ["-c", "50", "-n", "200000"] + ADD
    ours, base = [], []
    with b.daemon(pin=True) as d, b.raw_server(7) as raw:
        check_reply(d.sock, ADD, "3")
        for r in range(CONC_REPS):
            base.append(redis_benchmark(raw.sock, args))
            ours.append(redis_benchmark(d.sock, args))
    o, bs = median(ours), median(base)
    return [("`add 1 2` one at a time, 50 clients", "%.0f/s" % o,
             "%.0f/s (raw epoll server)" % bs,
             median([x / y for x, y in zip(ours, base)]), ">=", 0.5,
             "redis-benchmark -c 50 -n 200000; median of %d pairs" %
             CONC_REPS)]


def idle_cost(pid, path):
    """KiB of server memory per idle connected client."""
    wait_quiet(pid)
    before = rss_kib(pid)
    socks = connect_many(path, IDLE_CLIENTS)
    wait_quiet(pid)
    after = rss_kib(pid)
    close_all(socks)
    return (after - before) / IDLE_CLIENTS


def fig_idle_memory(b):
    """RSS growth per idle client (10,000) vs raw_server holding them."""
    with b.raw_server(1) as raw:
        base = idle_cost(raw.pid, raw.sock)
    with b.daemon() as d:
        ours = idle_cost(d.pid, d.sock)
    return [("memory per idle client (%d clients)" % IDLE_CLIENTS,
             "%.2f KiB" % ours, "%.2f KiB (raw epoll server)" % base,
             ours - base, "KiB<=", 4.0, "RSS growth / clients")]


SPAWNS = 1000
EXITED = b">3\r\n$5\r\nevent\r\n$6\r\nexited\r\n"


def spawn_rate_procctld(path):
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    c.sendall(b"HELLO 3\r\nSUBSCRIBE\r\n")
    t0 = time.monotonic()
    c.sendall(b"run /bin/true\r\n" * SPAWNS)
    data, seen = b"", 0
    while seen < SPAWNS:
        chunk = c.recv(1 << 20)
        if not chunk:
            sys.exit("bench: procctld closed the spawning connection")
        data += chunk
        # The push header, once per exited push (the record inside it has
        # `state exited` too: count headers, not that word).
        n = data.count(EXITED)
        if n:
            seen += n
            data = data[data.rfind(EXITED) + len(EXITED):]
        data = data[-(len(EXITED) - 1):]
    t = time.monotonic() - t0
    c.close()
    return SPAWNS / t


def fig_spawn(b):
    """1,000 pipelined run /bin/true until every exited push vs raw_spawn."""
    ours, base = [], []
    with b.daemon() as d:
        for r in range(3):
            t = float(b.run([b.helper("raw_spawn"), str(SPAWNS),
                             "/bin/true"], "raw_spawn"))
            base.append(SPAWNS / t)
            wait_quiet(d.pid)
            ours.append(spawn_rate_procctld(d.sock))
    o, bs = median(ours), median(base)
    return [("`run /bin/true` to its exit event, %d pipelined" % SPAWNS,
             "%.0f/s" % o, "%.0f/s (fork+exec+wait loop)" % bs,
             median([x / y for x, y in zip(ours, base)]),
             ">=", 0.5, "median of 3 pairs")]


# ---- issue 9: spawning through the monitor --------------------------------

SPAWN9 = 1000
SPAWN9_ROUNDS = 5
SLEEPERS = 2000


class RespError(Exception):
    pass


def resp_parse(buf, i=0):
    """One RESP2/RESP3 value at buf[i:]: (value, next index), or None when
    the buffer ends first.  An error reply is a RespError value; a push is
    ("push", [items]); a map a list of pairs (order kept)."""
    end = buf.find(b"\r\n", i)
    if end == -1:
        return None
    t, line, j = buf[i:i + 1], buf[i + 1:end], end + 2
    if t in (b"+", b"(", b","):
        return line.decode(), j
    if t == b"-":
        return RespError(line.decode()), j
    if t == b":":
        return int(line), j
    if t == b"_":
        return None, j
    if t == b"#":
        return line == b"t", j
    if t in (b"$", b"=", b"!"):
        n = int(line)
        if n < 0:
            return None, j
        if len(buf) < j + n + 2:
            return None
        return buf[j:j + n].decode(), j + n + 2
    if t in (b"*", b">", b"~", b"%", b"|"):
        n = int(line) * (2 if t in (b"%", b"|") else 1)
        items = []
        for _ in range(max(n, 0)):
            r = resp_parse(buf, j)
            if r is None:
                return None
            items.append(r[0])
            j = r[1]
        if t in (b"%", b"|"):
            items = list(zip(items[::2], items[1::2]))
        return (("push", items) if t == b">" else items), j
    raise ValueError("bench: unknown RESP type %r at %d" % (t, i))


def resp_all(buf):
    """Every whole value in buf, and the bytes left over."""
    out, i = [], 0
    while i < len(buf):
        r = resp_parse(buf, i)
        if r is None:
            break
        out.append(r[0])
        i = r[1]
    return out, buf[i:]


def subscribed(path):
    """A RESP3 connection that has subscribed (HELLO map and +OK read)."""
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    c.sendall(b"HELLO 3\r\nSUBSCRIBE\r\n")
    data = b""
    while True:
        chunk = c.recv(1 << 20)
        if not chunk:
            sys.exit("bench: procctld closed a subscribing connection")
        data += chunk
        vals, rest = resp_all(data)
        if len(vals) == 2 and not rest:
            break
    if vals[1] != "OK" or not isinstance(vals[0], list):
        sys.exit("bench: HELLO 3 / SUBSCRIBE answered %r" % (vals[1],))
    return c


def check_spawn_stream(data, n, what):
    """n `run /bin/true` on a subscribed connection: exactly n integer
    replies, n `started` and n `exited` pushes, every exit code 0."""
    vals, rest = resp_all(data)
    pids, started, exited = [], 0, []
    for v in vals:
        if isinstance(v, int):
            pids.append(v)
        elif isinstance(v, tuple) and v[0] == "push" and v[1][:1] == \
                ["event"]:
            if v[1][1] == "started":
                started += 1
            elif v[1][1] == "exited":
                exited.append(dict(v[1][2]))
        else:
            sys.exit("bench: %s: `run /bin/true` got %r" % (what, v))
    bad = [e for e in exited if e.get("exit_code") != 0]
    if (rest or len(pids) != n or started != n or len(exited) != n or bad
            or sorted(pids) != sorted(e.get("pid") for e in exited)):
        sys.exit("bench: %s: %d runs gave %d pids, %d started, %d exited "
                 "(%d not status 0: %r), %d bytes left over" % (
                     what, n, len(pids), started, len(exited), len(bad),
                     bad[:1], len(rest)))


def spawn9_rate(path, n, what):
    """n pipelined `run /bin/true` on a subscribed connection, timed from
    the write to the n-th `exited` push; every reply checked after."""
    c = subscribed(path)
    req = b"run /bin/true\r\n" * n
    chunks, seen, tail = [], 0, b""
    t0 = time.monotonic()
    c.sendall(req)
    while seen < n:
        chunk = c.recv(1 << 20)
        if not chunk:
            sys.exit("bench: procctld closed the spawning connection")
        chunks.append(chunk)
        # Headers, once per exited push (the record inside says `state
        # exited` too: count headers, not the word); one may straddle.
        w = tail + chunk
        seen += w.count(EXITED)
        tail = w[w.rfind(EXITED) + len(EXITED):] if EXITED in w else w
        tail = tail[-(len(EXITED) - 1):]
    t = time.monotonic() - t0
    c.close()
    check_spawn_stream(b"".join(chunks), n, what)
    return n / t


def raw_clone3(b, n, cgroups=True):
    """raw_clone3's rate, and where its leaves went."""
    out = b.run([b.helper("raw_clone3")] + ([] if cgroups else ["-n"]) +
                [str(n), "/bin/true"], "raw_clone3")
    f = dict(line.split(" ", 1) for line in out.splitlines())
    return n / float(f["seconds"]), f["cgroup"]


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def server_of(monitor):
    # The monitor binds the socket before it starts the server, which
    # names itself after its exec: a connectable socket does not mean
    # the server is there yet.
    for _ in range(500):
        for c in children(monitor):
            try:
                with open("/proc/%d/cmdline" % c, "rb") as f:
                    if f.read().startswith(b"procctld: server"):
                        return c
            except OSError:
                pass
        time.sleep(0.01)
    sys.exit("bench: no `procctld: server` under the monitor %d" % monitor)


def start_sleepers(path, monitor, n):
    """n `run /bin/sleep 3600` from a plain (unsubscribed) connection: all
    n pids answered, and n + 1 children (with the server) under the
    monitor.  The connection is returned; stopping the daemon ends them."""
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    run_sleepers(c, n)
    kids = len(children(monitor))
    if kids != n + 1:
        sys.exit("bench: %d sleepers started but the monitor has %d "
                 "children" % (n, kids))
    return c


# Each condition has a fresh daemon.  The idle clients are held by this
# process and the sleepers by the daemon's monitor, so raw_clone3 runs on
# the same machine state, alternating with the daemon round by round.  The
# sleepers come from an unsubscribed connection (one-shot scope: they
# outlive it) and end when the daemon is stopped.  Not pinned, like
# `spawn`: procctld pipelines over both CPUs (server, monitor, children),
# raw_clone3 is one process at a time.
def fig_spawn9(b):
    """run -> exited vs raw_clone3: idle, 10,000 clients, 2,000 children."""
    rows = []
    conds = (("idle", "no other clients or processes"),
             ("clients", "{:,} idle clients connected".format(IDLE_CLIENTS)),
             ("children", "{:,} running children (`run /bin/sleep "
              "3600`)".format(SLEEPERS)))
    nocg, cg_idle = [], []
    for key, label in conds:
        ours, base, ratio = [], [], []
        with b.daemon() as d:
            held = []
            try:
                if key == "clients":
                    held = connect_many(d.sock, IDLE_CLIENTS)
                elif key == "children":
                    held = [start_sleepers(d.sock, d.pid, SLEEPERS)]
                srv = server_of(d.pid)
                # Replies checked before timing: one run, every answer.
                spawn9_rate(d.sock, 1, "spawn9 check")
                spawn9_rate(d.sock, 100, "spawn9 warm-up")
                for r in range(SPAWN9_ROUNDS):
                    for who in (("raw", "daemon") if r % 2 == 0 else
                                ("daemon", "raw")):
                        if who == "raw":
                            rate, cg = raw_clone3(b, SPAWN9)
                            base.append(rate)
                        else:
                            wait_quiet(srv)
                            wait_quiet(d.pid)
                            ours.append(spawn9_rate(d.sock, SPAWN9,
                                                    "spawn9 " + key))
                    ratio.append(ours[-1] / base[-1])
                    if key == "idle":
                        nocg.append(raw_clone3(b, SPAWN9, False)[0])
                        cg_idle.append(base[-1])
            finally:
                close_all(held)
        log("  spawn9 %s: procctld %s/s, raw_clone3 %s/s, ratio per round "
            "%s (leaves: %s)" % (
                key, " ".join("%.0f" % x for x in ours),
                " ".join("%.0f" % x for x in base),
                " ".join("%.2f" % x for x in ratio), cg))
        rows.append(("`run /bin/true` to its `exited` push, {:,} pipelined, "
                     "{}".format(SPAWN9, label), "%.0f/s" % median(ours),
                     "%.0f/s (raw clone3 + pidfd%s)" % (
                         median(base), "" if cg.startswith("none")
                         else ", a cgroup each"),
                     median(ratio), ">=", 0.7,
                     "median of %d alternating pairs" % SPAWN9_ROUNDS))
    if nocg and not cg.startswith("none"):
        # What a cgroup per process costs the baseline itself.
        rows.append(("*context, no goal:* raw clone3 + pidfd, a cgroup each "
                     "(idle)", "%.0f/s" % median(cg_idle),
                     "%.0f/s (the same, no cgroups)" % median(nocg),
                     median([x / y for x, y in zip(cg_idle, nocg)]),
                     "info", None, "the idle rounds' baseline runs, each "
                     "followed by a `raw_clone3 -n`"))
    return rows


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rps_tcp(port, user, args, cacert=None):
    conn = ["-h", "127.0.0.1", "-p", str(port), "--user", user, "-a",
            "benchpw"] + (["--tls", "--cacert", cacert] if cacert else [])
    # redis-benchmark counts error replies as replies: check first.
    r = subprocess.run(["redis-cli"] + conn + ADD, capture_output=True,
                       text=True)
    if r.stdout.strip() != "3":
        sys.exit("bench: add 1 2 over %s failed: %s%s" % (
            "TLS" if cacert else "TCP", r.stdout, r.stderr))
    r = subprocess.run(["redis-benchmark", "--csv"] + conn + args,
                       capture_output=True, text=True,
                       preexec_fn=on_cpu(BENCH_CPU))
    rows = [row for row in csv.reader(io.StringIO(r.stdout)) if row]
    if r.returncode != 0 or len(rows) < 2:
        sys.exit("bench: redis-benchmark over TCP failed: %s" % r.stderr)
    return float(rows[-1][1])


def fig_tls(b):
    """The same daemon over plaintext TCP and over TLS, the same client."""
    tmp = b.tmp
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    "key.pem", "-out", "cert.pem", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   cwd=tmp, check=True, capture_output=True)
    os.chmod(b.path("key.pem"), 0o600)
    user = pwd.getpwuid(os.geteuid()).pw_name
    secrets = b.path("secrets")
    # Secrets are stored hashed (procctld refuses plain text).
    line = subprocess.run([os.path.join(b.build, "procctld"),
                           "--hash-secret=%s" % user], input="benchpw\n",
                          capture_output=True, text=True, check=True).stdout
    with open(secrets, "w") as f:
        f.write(line)
    os.chmod(secrets, 0o600)
    out = {"plain": [], "tls": []}
    args = ["-c", "50", "-n", "100000"] + ADD
    servers = {}
    try:
        for kind in ("plain", "tls"):
            port = free_port()
            # 50 clients from one address, at once.
            extra = ("\n[tcp]\nlisten = 127.0.0.1:%d\nsecrets = %s\n"
                     "max_clients_per_address = 64\n" % (port, secrets))
            if kind == "tls":
                extra += "tls_cert = %s\ntls_key = %s\n" % (
                    b.path("cert.pem"), b.path("key.pem"))
            servers[kind] = (b.daemon(extra, pin=True), port)
        for r in range(3):
            for kind in ("plain", "tls"):
                out[kind].append(rps_tcp(
                    servers[kind][1], user, args,
                    b.path("cert.pem") if kind == "tls" else None))
    finally:
        for d, _ in servers.values():
            d.stop()
    o, bs = median(out["tls"]), median(out["plain"])
    return [("`add 1 2` over TLS, 50 clients", "%.0f/s" % o,
             "%.0f/s (plain TCP)" % bs,
             median([x / y for x, y in zip(out["tls"], out["plain"])]),
             ">=", 0.5, "median of 3 pairs")]


# ---- issue 11: a process's output to a file -------------------------------

LOG_LINES = 2000000
LOG_LEN = 80            # bytes a line, the newline included
LOG_ROUNDS = 5
LOG_DIRECT = 3          # direct runs a round (they are short): the median
LOG_SLEEPERS = 1000
# What procctld puts before each line in <log_dir>/<name>.log.
LOG_PREFIX = len("2026-11-26T03:13:02.114Z stdout ")
LOG_STALL = 2.0         # seconds without growth: the rest is not coming


def log_dir():
    """A directory procctld's server can write to.  Started as root it
    runs as an unprivileged user (nobody), and the bench's own temporary
    directory is private (0700): this one is world-writable (sticky), on
    the same filesystem, and the baseline writes its file there too."""
    d = tempfile.mkdtemp(prefix="procctl-bench-logs-")
    os.chmod(d, 0o1777)
    return d


def log_direct(b, d):
    """The child writing the file itself: lines per second."""
    path = os.path.join(d, "direct.log")
    with open(path, "wb") as f:
        t0 = time.monotonic()
        r = subprocess.run([b.helper("logwriter"), str(LOG_LINES),
                            str(LOG_LEN)], stdout=f)
        t = time.monotonic() - t0
    size = os.path.getsize(path)
    os.unlink(path)
    if r.returncode != 0 or size != LOG_LINES * LOG_LEN:
        sys.exit("bench: logwriter to a file: status %d, %d bytes, not %d"
                 % (r.returncode, size, LOG_LINES * LOG_LEN))
    return LOG_LINES / t


def run_until_exit(path, argv):
    """`run ARGV` on a subscribed connection: (pid, seconds from the
    request to its `exited` push, the connection, kept open: the process
    is the session's)."""
    c = subscribed(path)
    t0 = time.monotonic()
    c.sendall(b"run " + b" ".join(a.encode() for a in argv) + b"\r\n")
    pid, data = None, b""
    while True:
        chunk = c.recv(1 << 16)
        if not chunk:
            sys.exit("bench: procctld closed the connection of `run`")
        data += chunk
        vals, data = resp_all(data)
        for v in vals:
            if isinstance(v, int) and pid is None:
                pid = v        # the reply comes before the process's events
            elif isinstance(v, tuple) and v[1][:2] == ["event", "exited"]:
                rec = dict(v[1][2])
                if rec.get("pid") != pid:
                    continue
                if rec.get("exit_code") != 0:
                    sys.exit("bench: %s ended: %r" % (argv[0], rec))
                return pid, time.monotonic() - t0, c, t0
            elif not isinstance(v, tuple):
                sys.exit("bench: `run %s` answered %r" % (argv[0], v))


def check_log_file(path):
    """(lines of the child's in the file, the last one's number, the lines
    the markers say were dropped).  A line of the child's is
    "<time> stdout <10 digits> x...x", all of one length; a line that
    says `dropped` is a marker; anything else stops the bench."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.count(b"\n")
    said, markers, mbytes, i = 0, 0, 0, data.find(b"dropped")
    while i != -1:
        a, z = data.rfind(b"\n", 0, i) + 1, data.find(b"\n", i)
        line = data[a:z]
        markers += 1
        mbytes += len(line) + 1
        n = [int(w) for w in line.split() if w.isdigit()]
        said += n[0] if n else 0
        log("  marker: %r" % line[:200])
        i = data.find(b"dropped", z)
    ours = lines - markers
    if ours * (LOG_PREFIX + LOG_LEN) + mbytes != len(data):
        sys.exit("bench: %s: %d lines (%d markers) in %d bytes: not all "
                 "the child's" % (path, lines, markers, len(data)))
    last = data.rfind(b" stdout ")
    try:
        lastno = int(data[last + 8:last + 18])
    except ValueError:
        lastno = -1
    if not markers and ours:
        # Every line is as long: line k is at k * w, numbered k + 1 (a
        # sample, every 997th, and the last): in order, none twice.
        w = LOG_PREFIX + LOG_LEN
        for k in list(range(0, ours, 997)) + [ours - 1]:
            at = k * w + LOG_PREFIX
            if data[at - 8:at] != b" stdout " or \
                    data[at:at + 10] != b"%010d" % (k + 1):
                sys.exit("bench: %s: line %d is %r" % (
                    path, k + 1, data[k * w:k * w + w]))
    return ours, lastno, said


def log_through_file(b, d, sock):
    """`run logwriter` with output = file: lines per second from the
    request to the file holding every line (and the exit seen), the
    seconds to the exit, and how many lines are missing."""
    # (a user's `run` writes <log_dir>/<user>/<name>.log)
    path = os.path.join(d, pwd.getpwuid(os.getuid()).pw_name,
                        "logwriter.log")
    want = LOG_LINES * (LOG_PREFIX + LOG_LEN)
    pid, t_exit, c, t0 = run_until_exit(sock, [b.helper("logwriter"),
                                               str(LOG_LINES), str(LOG_LEN)])
    # Whatever was still in the pipe (64 KiB) is written after the exit.
    last, since = -1, time.monotonic()
    while True:
        now = time.monotonic()
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = 0
        if size >= want:
            t = now - t0
            break
        if size != last:
            last, since = size, now
        elif now - since > LOG_STALL:
            t = since - t0
            break
        time.sleep(0.001)
    c.close()
    ours, lastno, said = check_log_file(path)
    os.unlink(path)
    if lastno != LOG_LINES:
        log("  the file's last line is number %d, not %d" % (lastno,
                                                             LOG_LINES))
    return LOG_LINES / t, t_exit, LOG_LINES - ours, said


def logs_last(c, pid):
    """The text of process PID's last line (`logs -n 1 PID`), or None."""
    c.sendall(b"logs -n 1 %d\r\n" % pid)
    data = b""
    while True:
        chunk = c.recv(1 << 16)
        if not chunk:
            sys.exit("bench: procctld closed the `logs` connection")
        data += chunk
        vals, rest = resp_all(data)
        vals = [v for v in vals if not isinstance(v, tuple)]   # pushes
        if vals:
            break
    v = vals[0]
    if not isinstance(v, list) or rest:
        sys.exit("bench: logs -n 1 %d answered %r" % (pid, v))
    return dict(v[0]).get("line") if v else None


def log_through_ring(b, sock):
    """`run logwriter` with output = ring: lines per second from the
    request to its exit seen and `logs -n 1` showing the last line."""
    q = socket.socket(socket.AF_UNIX)
    q.connect(sock)
    q.sendall(b"HELLO 3\r\n")
    data = b""
    while not resp_all(data)[0]:
        data += q.recv(1 << 16)
    want = "%010d " % LOG_LINES
    pid, t_exit, c, t0 = run_until_exit(sock, [b.helper("logwriter"),
                                               str(LOG_LINES), str(LOG_LEN)])
    while True:
        line = logs_last(q, pid)
        if line is not None and line.startswith(want):
            t = time.monotonic() - t0
            break
        if time.monotonic() - t0 > t_exit + 30:
            sys.exit("bench: logs -n 1 %d still shows %r" % (pid, line))
        time.sleep(0.001)
    c.close()
    q.close()
    return LOG_LINES / t, t_exit, 0, 0


def log_relay(b, d):
    """The child's lines through a pipe and `cat` to the file: what a
    relay costs before any parsing, stamping or prefix (context)."""
    path = os.path.join(d, "relay.log")
    with open(path, "wb") as f:
        t0 = time.monotonic()
        w = subprocess.Popen([b.helper("logwriter"), str(LOG_LINES),
                              str(LOG_LEN)], stdout=subprocess.PIPE)
        c = subprocess.Popen(["cat"], stdin=w.stdout, stdout=f)
        w.stdout.close()
        rc = (w.wait(), c.wait())
        t = time.monotonic() - t0
    size = os.path.getsize(path)
    os.unlink(path)
    if rc != (0, 0) or size != LOG_LINES * LOG_LEN:
        sys.exit("bench: logwriter | cat: status %r, %d bytes" % (rc, size))
    return LOG_LINES / t


def lines_per_s(x):
    return "%.2fM lines/s" % (x / 1e6) if x >= 1e6 else \
        "%.0fk lines/s" % (x / 1e3)


# One fresh daemon per condition, as spawn9.  Not pinned: procctld's
# server reads the pipe and writes the file on one CPU while the child
# writes on the other; the baseline is the child alone.  Each round is
# the daemon's run and the child's own (the median of LOG_DIRECT: it is
# short), alternating which goes first.  Each file is removed after its
# run (the daemon keeps it open until its record goes: unlinked, it
# takes no room once the daemon stops).
def fig_log_rate(b):
    """Lines/s child -> procctld -> file vs the child writing the file."""
    d = log_dir()
    proc_file = "output = file\nlog_dir = %s\nlog_max = 0\n" % d
    conds = (("file", proc_file, 0, ">=", 0.5, "`output = file`"),
             ("file", proc_file, LOG_SLEEPERS, ">=", 0.5,
              "`output = file`, {:,} other running children (`run "
              "/bin/sleep 3600`)".format(LOG_SLEEPERS)),
             ("ring", "output = ring\n", 0, "info", None,
              "`output = ring` (no file), to the exit and `logs -n 1` "
              "showing the last line"))
    rows, relay, relay_base = [], [], []
    try:
        for kind, proc, sleepers, op, goal, label in conds:
            ours, base, ratio, exits, lost, said = [], [], [], [], [], []
            with b.daemon(proc=proc) as dm:
                held = []
                try:
                    if sleepers:
                        held = [start_sleepers(dm.sock, dm.pid, sleepers)]
                    srv = server_of(dm.pid)
                    for r in range(LOG_ROUNDS):
                        for who in (("direct", "daemon") if r % 2 == 0
                                    else ("daemon", "direct")):
                            if who == "direct":
                                base.append(median([log_direct(b, d)
                                                    for _ in range(
                                                        LOG_DIRECT)]))
                                continue
                            wait_quiet(srv)
                            wait_quiet(dm.pid)
                            if kind == "file":
                                x = log_through_file(b, d, dm.sock)
                            else:
                                x = log_through_ring(b, dm.sock)
                            ours.append(x[0])
                            exits.append(x[1])
                            lost.append(x[2])
                            said.append(x[3])
                        ratio.append(ours[-1] / base[-1])
                        if kind == "file" and not sleepers:
                            relay.append(median([log_relay(b, d)
                                                 for _ in range(
                                                     LOG_DIRECT)]))
                            relay_base.append(base[-1])
                finally:
                    close_all(held)
            log("  log-rate %s, %d other children: procctld %s lines/s "
                "(its exit after %s s), direct %s lines/s, ratio %s; lines "
                "missing %s, dropped per markers %s" % (
                    kind, sleepers, " ".join("%.0f" % x for x in ours),
                    " ".join("%.2f" % x for x in exits),
                    " ".join("%.0f" % x for x in base),
                    " ".join("%.3f" % x for x in ratio),
                    " ".join(map(str, lost)), " ".join(map(str, said))))
            if kind == "file":
                drops = ("no line lost" if not any(lost) else
                         "lines missing per run: %s (markers: %s)" % (
                             " ".join(map(str, lost)),
                             " ".join(map(str, said))))
            else:
                drops = "the ring keeps the last 64 KiB"
            rows.append((
                "{}a child's {:,} lines of {} B through procctld, "
                "{}".format("*context, no goal:* " if op == "info" else "",
                            LOG_LINES, LOG_LEN, label),
                lines_per_s(median(ours)),
                "%s (the child writing the file itself)" % lines_per_s(
                    median(base)),
                median(ratio), op, goal,
                "median of %d alternating pairs; the child exited after "
                "%.2f s; %s" % (LOG_ROUNDS, median(exits), drops)))
        log("  log-rate relay (logwriter | cat > file): %s lines/s" %
            " ".join("%.0f" % x for x in relay))
        rows.append((
            "*context, no goal:* the same lines through a pipe and `cat` "
            "to the file (no stamp, no parsing)", lines_per_s(median(relay)),
            "%s (the child writing the file itself)" % lines_per_s(
                median(relay_base)),
            median([x / y for x, y in zip(relay, relay_base)]), "info",
            None, "the idle rounds, after each pair"))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return rows


# ---- issue 13: the metrics endpoint ---------------------------------------

METRICS_SLEEPERS = 2000
METRICS_USERS = 10      # the several-users daemon: 200 sleepers each
SCRAPE_COUNT = 300      # timed scrapes of each daemon a round
SCRAPE_ROUNDS = 5
SCRAPERS = 4            # [metrics] takes 4 connections from one address
SFAIR_ROUNDS = 6
SFAIR_PROBES = 300      # a phase: 300 probes 1 ms apart
LEAK_SCRAPES = 10000
LEAK_STEPS = 4


def metrics_daemon(b, sockdir=None):
    port = free_port()
    extra = "\n[metrics]\nlisten = 127.0.0.1:%d\n" % port
    if sockdir:
        extra = "socket_mode = 0666\n" + extra
    d = b.daemon(extra, sockdir=sockdir)
    d.port = port
    return d


def metrics_page(port):
    """GET /metrics once: the page as text (status 200 or the bench
    stops)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    if r.status != 200:
        sys.exit("bench: GET /metrics on port %d: %d %s" % (port, r.status,
                                                            body[:200]))
    return body


def running_by_user(page):
    """{user: n} from procctl_processes{user=...,state="running"}."""
    out = {}
    for line in page.splitlines():
        if line.startswith("procctl_processes{") and \
                'state="running"' in line:
            user = line.split('user="', 1)[1].split('"', 1)[0]
            out[user] = int(float(line.rsplit(" ", 1)[1]))
    return {u: n for u, n in out.items() if n}


def connect_as(path, user):
    """A connection to the daemon at PATH made by a process running as
    USER (root only): the daemon takes the peer from SO_PEERCRED."""
    pw = pwd.getpwnam(user)
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            parent.close()
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            socket.send_fds(child, [b"x"], [s.fileno()])
            code = 0
        finally:
            os._exit(code)
    child.close()
    try:
        _, fds, _, _ = socket.recv_fds(parent, 1, 1)
    finally:
        parent.close()
        os.waitpid(pid, 0)
    if not fds:
        sys.exit("bench: could not connect to %s as %s" % (path, user))
    return socket.socket(fileno=fds[0])


def other_users(n):
    """n accounts other than root, by uid (system accounts will do: a
    sleeper needs no shell or home)."""
    users = sorted((p.pw_uid, p.pw_name) for p in pwd.getpwall()
                   if 0 < p.pw_uid < 65534)
    return [name for _, name in users[:n]]


def run_sleepers(c, n):
    """n `run /bin/sleep 3600` on connection c, every reply a pid."""
    c.sendall(b"run /bin/sleep 3600\r\n" * n)
    data, got = b"", 0
    while got < n:
        chunk = c.recv(1 << 20)
        if not chunk:
            sys.exit("bench: procctld closed the sleepers' connection")
        data += chunk
        *lines, data = data.split(b"\r\n")
        for line in lines:
            if not line.startswith(b":"):
                sys.exit("bench: run /bin/sleep 3600 answered %r" % line)
            got += 1


def scrape_ms(x):
    return "%.2f ms" % (x / 1000) if x >= 1000 else "%.0f us" % x


# Three fresh daemons with [metrics] listen, running at once: idle, the
# parent of 2,000 sleepers started by one user, and of 2,000 started by
# several (as root: 200 each by 10 system accounts, on a socket they can
# reach).  Every page is checked before timing (its counts of running
# processes per user).  Not pinned: a scraper (Prometheus) is another
# process on another CPU, and in (b) the scrapers, the server and the
# probe share the machine's two.
def fig_metrics(b):
    """/metrics scrape time, another client's round trip while 4 scrape,
    RSS after 10,000 scrapes; 2,000 children."""
    users = other_users(METRICS_USERS) if os.geteuid() == 0 else []
    pub = tempfile.mkdtemp(prefix="procctl-bench-pub-")
    os.chmod(pub, 0o711)
    daemons, held = [], []
    try:
        idle = metrics_daemon(b)
        daemons.append(idle)
        one = metrics_daemon(b)
        daemons.append(one)
        c = socket.socket(socket.AF_UNIX)
        c.connect(one.sock)
        run_sleepers(c, METRICS_SLEEPERS)
        held.append(c)
        want = {"idle": {}, "one": {pwd.getpwuid(os.getuid()).pw_name:
                                    METRICS_SLEEPERS}}
        conds = [("idle", idle), ("one", one)]
        if len(users) == METRICS_USERS:
            many = metrics_daemon(b, pub)
            daemons.append(many)
            each = METRICS_SLEEPERS // METRICS_USERS
            for u in users:
                c = connect_as(many.sock, u)
                run_sleepers(c, each)
                held.append(c)
            want["many"] = {u: each for u in users}
            conds.append(("many", many))
        else:
            log("  metrics: not root, or fewer than %d other accounts: "
                "no several-users daemon" % METRICS_USERS)
        for key, d in conds:
            got = running_by_user(metrics_page(d.port))
            if got != want[key]:
                sys.exit("bench: the %s daemon's page counts running "
                         "processes %r, not %r" % (key, got, want[key]))
            kids = len(children(d.pid)) - 1
            if kids != sum(want[key].values()):
                sys.exit("bench: the %s daemon's monitor has %d children"
                         % (key, kids))
        srv = server_of(one.pid)
        leak = metrics_leak(b, one, srv)
        rows = metrics_scrape_time(b, conds)
        rows += [metrics_fair(b, one, srv)] + leak
    finally:
        close_all(held)
        for d in daemons:
            d.stop()
        shutil.rmtree(pub, ignore_errors=True)
    return rows


def metrics_scrape_time(b, conds):
    """(a) One scrape, timed, the daemons in turn; ratios to the idle
    one's for context."""
    t = {k: [] for k, _ in conds}
    size = {}
    ports = ",".join(str(d.port) for _, d in conds)
    for r in range(SCRAPE_ROUNDS):
        s = b.stats([b.helper("scrape"), "time", str(SCRAPE_COUNT), ports],
                    "scrape time")
        for i, (k, _) in enumerate(conds):
            t[k].append(s["scrape%d" % i]["p50"])
            size[k] = int(s["bytes%d" % i])
    log("  metrics scrape p50 per round: %s" % "; ".join(
        "%s %s" % (k, " ".join("%.0f" % x for x in v)) for k, v in t.items()))
    label = {"idle": "an idle daemon",
             "one": "{:,} running children of one user".format(
                 METRICS_SLEEPERS),
             "many": "{:,} running children of {} users".format(
                 METRICS_SLEEPERS, METRICS_USERS)}
    rows = []
    for k, _ in conds[1:]:
        rows.append((
            "*context, no goal:* one `GET /metrics`, %s (page {:,} "
            "bytes)".format(size[k]) % label[k], scrape_ms(median(t[k])),
            "%s (idle daemon, page {:,} bytes)".format(size["idle"]) %
            scrape_ms(median(t["idle"])),
            median([x / y for x, y in zip(t[k], t["idle"])]), "info", None,
            "p50 of %d scrapes (connect included when the last one was "
            "closed), the daemons in turn; median of %d rounds" % (
                SCRAPE_COUNT, SCRAPE_ROUNDS)))
    return rows


def metrics_fair(b, d, srv):
    """(b) Another client's round trip while 4 scrapers scrape in a
    tight loop, against the same with none, phase by phase."""
    wait_quiet(srv)
    s = b.stats([b.helper("scrape"), "fair", d.sock, str(d.port),
                 str(SCRAPERS), str(SFAIR_ROUNDS), str(SFAIR_PROBES),
                 str(FAIR_GAP_US)], "scrape fair")
    quiet = [s["quiet%d" % r]["p50"] for r in range(SFAIR_ROUNDS)]
    busy = [s["busy%d" % r]["p50"] for r in range(SFAIR_ROUNDS)]
    worst = max(s["busy%d" % r]["max"] for r in range(SFAIR_ROUNDS))
    p99 = median([s["busy%d" % r]["p99"] for r in range(SFAIR_ROUNDS)])
    ratio = [x / y for x, y in zip(busy, quiet)]
    rate = s["scrapes"] / s["busy_seconds"]
    log("  metrics fair: quiet p50 %s, busy p50 %s (us), ratio per round "
        "%s; %.0f scrapes/s" % (
            " ".join("%.0f" % x for x in quiet),
            " ".join("%.0f" % x for x in busy),
            " ".join("%.2f" % x for x in ratio), rate))
    return ("another client's `add 1 2` round trip while {} scrapers "
            "fetch /metrics in a tight loop, {:,} running children".format(
                SCRAPERS, METRICS_SLEEPERS),
            "%s (p99 %s, max %s)" % (us(median(busy)), us(p99), us(worst)),
            us(median(quiet)) + " (no scraper)", median(ratio), "<=", 1.5,
            "p50 of %d probes 1 ms apart a phase, phases alternating; "
            "median of %d rounds; %.0f scrapes/s" % (
                SFAIR_PROBES, SFAIR_ROUNDS, rate))


def metrics_leak(b, d, srv):
    """(c) The server's RSS after 10,000 scrapes (4 at once) against
    before them, and its CPU per scrape."""
    wait_quiet(srv)
    before = wait_rss_settled(srv)
    after, cpu = [], 0
    for i in range(LEAK_STEPS):
        t = cpu_ticks(srv)
        b.stats([b.helper("scrape"), "many", str(LEAK_SCRAPES // LEAK_STEPS),
                 str(SCRAPERS), str(d.port)], "scrape many")
        cpu += cpu_ticks(srv) - t
        wait_quiet(srv)
        after.append(wait_rss_settled(srv))
    per = cpu / os.sysconf("SC_CLK_TCK") / LEAK_SCRAPES * 1e3
    log("  metrics RSS: before %d KiB, after each %d scrapes: %s KiB; "
        "server CPU %.3f ms a scrape" % (
            before, LEAK_SCRAPES // LEAK_STEPS,
            ", ".join(map(str, after)), per))
    return [("server RSS after {:,} scrapes ({} at once), {:,} running "
             "children".format(LEAK_SCRAPES, SCRAPERS, METRICS_SLEEPERS),
             "%.1f MiB" % (after[-1] / 1024),
             "%.1f MiB (before)" % (before / 1024), after[-1] / before,
             "<=", 1.1, "after each {:,}: {} MiB; server CPU {:.2f} ms a "
             "scrape".format(LEAK_SCRAPES // LEAK_STEPS, " ".join(
                 "%.1f" % (a / 1024) for a in after), per))]


FIGURES = [
    ("rtt", fig_rtt),
    ("pipelined", fig_pipelined),
    ("fairness", fig_fairness),
    ("exit-event", fig_exit_event),
    ("rss-bursts", fig_rss),
    ("oneshot", fig_oneshot),
    ("concurrent", fig_concurrent),
    ("idle-memory", fig_idle_memory),
    ("spawn", fig_spawn),
    ("spawn9", fig_spawn9),
    ("tls", fig_tls),
    ("log-rate", fig_log_rate),
    ("metrics", fig_metrics),
]


# ---- output ---------------------------------------------------------------

def goal_text(op, goal):
    if op == "info":
        return "—"
    if op == "KiB<=":
        return "≤ %g KiB over" % goal
    return "%s %g×" % ("≤" if op == "<=" else "≥", goal)


def ratio_text(op, ratio):
    if op == "KiB<=":
        return "%+.2f KiB" % ratio
    return "%.0f×" % ratio if ratio >= 100 else "%.2f×" % ratio


def met(op, ratio, goal):
    if op == "info":
        return ""
    ok = ratio <= goal if op in ("<=", "KiB<=") else ratio >= goal
    return "met" if ok else "MISSED"


def report(rows, header):
    table = [("figure", "procctld", "baseline", "ratio", "goal", "")]
    for fig, ours, base, ratio, op, goal, note in rows:
        table.append((fig, ours, base, ratio_text(op, ratio),
                      goal_text(op, goal), met(op, ratio, goal)))
    w = [max(len(r[i]) for r in table) for i in range(6)]
    print()
    print(header)
    for r in table:
        print("  ".join((c.rjust(w[i]) if i in (1, 3) else c.ljust(w[i]))
                        for i, c in enumerate(r)).rstrip())
    md = ["| figure | procctld | baseline | ratio | goal | | how |",
          "|---|---|---|---|---|---|---|"]
    for fig, ours, base, ratio, op, goal, note in rows:
        md.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            fig, ours, base, ratio_text(op, ratio), goal_text(op, goal),
            met(op, ratio, goal), note))
    print()
    print("\n".join(md))
    sys.stdout.flush()
    return md


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * IDLE_CLIENTS
    if hard < want and os.geteuid() == 0:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                want = min(want, int(f.read()))
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (OSError, ValueError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build",
                    help="directory with procctld, procctl, plugins/")
    ap.add_argument("--only", default="",
                    help="comma-separated figure names (see --list)")
    ap.add_argument("--list", action="store_true",
                    help="list the figure names and exit")
    ap.add_argument("--markdown", metavar="FILE",
                    help="also write the table's markdown rows to FILE")
    args = ap.parse_args()
    if args.list:
        for name, fn in FIGURES:
            print("%-12s %s" % (name, (fn.__doc__ or "").strip()))
        return 0
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - {n for n, _ in FIGURES}
    if unknown:
        sys.exit("bench: no figure named %s (see --list)" %
                 ", ".join(sorted(unknown)))
    todo = [(n, f) for n, f in FIGURES if not names or n in names]
    build = os.path.abspath(args.build)
    for prog in ("procctld", "procctl", "plugins/proc.so",
                 "plugins/arith.so"):
        if not os.path.exists(os.path.join(build, prog)):
            sys.exit("bench: %s/%s is missing: build first (make)" % (
                build, prog))
    for tool in ("redis-benchmark", "redis-cli", "redis-server", "openssl",
                 "cc"):
        if shutil.which(tool) is None:
            sys.exit("bench: %s is missing; `make bench` as root installs "
                     "it, or: apt-get install redis-server redis-tools "
                     "openssl build-essential" % tool)
    limit = raise_fd_limit()
    # Each process has its own limit: this one and procctld (which raises
    # its soft limit to this hard one) each hold one fd per client.
    if limit < IDLE_CLIENTS + 200:
        sys.exit("bench: the open-file limit is %d; %d idle clients need "
                 "%d (raise the hard limit: ulimit -Hn)" % (
                     limit, IDLE_CLIENTS, IDLE_CLIENTS + 200))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    tmp = tempfile.mkdtemp(prefix="procctl-bench-")
    try:
        for prog in HELPERS:
            subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", "-Wall", "-o",
                            os.path.join(tmp, prog),
                            os.path.join(HERE, prog + ".c")], check=True)
        b = Bench(build, tmp)
        load0 = os.getloadavg()
        t0 = time.monotonic()
        rows = []
        for name, fn in todo:
            log("bench: %s ..." % name)
            t = time.monotonic()
            rows += fn(b)
            log("bench: %s took %.0f s" % (name, time.monotonic() - t))
        load1 = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # The commit the build tree sits in (a clone for before/after runs).
    src = os.path.dirname(build)
    head = subprocess.run(["git", "-C", src, "rev-parse", "--short",
                           "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    if head and subprocess.run(["git", "-C", src, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True,
                               text=True).stdout.strip():
        head += ", with uncommitted changes"
    header = ("procctl bench: %s, %d CPUs, load %.2f before / %.2f after, "
              "%.0f s, build %s%s" % (
                  time.strftime("%Y-%m-%d %H:%M"), os.cpu_count(), load0[0],
                  load1[0], time.monotonic() - t0, build,
                  " (tree at %s)" % head if head else ""))
    md = report(rows, header)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("<!-- %s -->\n" % header)
            f.write("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
