"""The event loop as clients meet it: one connection's pipeline does not
hold another's request (asserted by the order in which the daemon ran
them, never by time), and pushes: the same events for RESP2 and RESP3
subscribers, only to subscribed connections of the process's owner and to
admins, and a slow subscriber told what it lost."""
import contextlib
import os
import signal
import socket
import subprocess
import threading

import pytest

from conftest import ROOT, default_ini, wait_for

# A plugin whose one command answers the next number of a counter: the
# replies say in which order the daemon ran requests, whoever sent them.
TICK_C = r"""
#include "procctl/plugin.h"

static const struct procctl_host *H;
static long long ticks;

static void
cmd_tick(struct procctl_ctx *ctx, int argc, const struct procctl_arg *argv)
{
	(void)argc;
	(void)argv;
	H->reply_int(ctx, ++ticks);
}

static const struct procctl_command tick = {
	.name = "tick", .fn = cmd_tick, .arity = 1, .usage = "tick",
	.summary = "the next number: the order requests ran in",
};

static int
init(struct procctl_plugin *self, const struct procctl_host *host)
{
	H = host;
	return H->register_command(self, &tick);
}

PROCCTL_PLUGIN("tick", "1", "a counter for tests", init, NULL);
"""


@pytest.fixture(scope="module")
def tick_plugin(tmp_path_factory):
    out = tmp_path_factory.mktemp("tick")
    (out / "tick.c").write_text(TICK_C)
    subprocess.run(["cc", "-std=c17", "-Wall", "-Werror", "-shared", "-fPIC",
                    "-fvisibility=hidden", "-I", str(ROOT / "include"),
                    "-o", str(out / "tick.so"), str(out / "tick.c")],
                   check=True)
    return out / "tick.so"


def tick_ini(tick_plugin, proc=""):
    return default_ini(proc=proc) + "\n[plugin:tick]\npath = %s\n" % \
        tick_plugin


def read_in_thread(conn, n):
    """Read N replies from CONN on a thread (so the daemon never holds
    CONN's replies back for want of a reader); join() returns them."""
    got = []

    def run():
        try:
            for _ in range(n):
                got.append(conn.read())
        except Exception as e:          # reported by join()
            got.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join():
        t.join()
        if got and isinstance(got[-1], Exception):
            raise got[-1]
        return got
    return join


# ---- fairness ----
#
# Client A pipelines thousands of requests in one write; client B, already
# connected, sends one request once A's bytes are all written.  Both are
# written while the daemon is stopped (SIGSTOP), so when it goes on it
# finds A's whole pipeline and then B's request queued, whatever the
# machine's load: without that, a client thread preempted for a few
# milliseconds between the two writes would let a fair daemon finish A
# before B's request even exists.  Each request of A and B's own draws a
# number from the tick counter as the daemon runs it, so how many of A's
# requests ran after B's is exact, with no clock and no race between the
# threads that read the replies.  A loop that bounds the work per
# connection per turn runs B's request after one batch of A's; one that
# runs everything it has read from A before it looks at B does not.

PIPELINE = 20000


@contextlib.contextmanager
def stopped(d):
    """The daemon stopped (SIGSTOP) for the block, and continued after."""
    os.kill(d.server_pid, signal.SIGSTOP)
    try:
        # Stopped for sure, not only signalled ("T" in /proc/PID/stat).
        wait_for(lambda: open("/proc/%d/stat" % d.server_pid).read()
                 .rsplit(")", 1)[1].split()[0] == "T")
        yield
    finally:
        os.kill(d.server_pid, signal.SIGCONT)


def big_sndbuf(c):
    """Let C's socket hold a whole pipeline while the daemon is stopped."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)


def test_pipeline_does_not_hold_another_client(make_daemon, tick_plugin):
    d = make_daemon(tick_ini(tick_plugin))
    a, b = d.raw(), d.raw()
    assert b.call("ping") == "PONG"             # B is connected and served
    big_sndbuf(a)
    join = read_in_thread(a, PIPELINE)
    with stopped(d):
        a.send(b"tick\r\n" * PIPELINE)         # inline: 120 KB, one write
        b.send(b.command("tick"))
    mine = b.read()
    ticks = join()
    assert ticks == sorted(ticks) and len(set(ticks)) == PIPELINE
    assert mine not in ticks
    after = sum(1 for t in ticks if t > mine)
    assert after >= PIPELINE // 4, (
        "B's request ran after %d of A's %d pipelined requests: only %d "
        "were still waiting (want at least %d)" % (
            PIPELINE - after, PIPELINE, after, PIPELINE // 4))


RUNS = 1200
MARK_EVERY = 10


def test_run_pipeline_does_not_hold_another_client(make_daemon,
                                                   tick_plugin):
    """The issue's case: a pipeline of `run`, each a fork and exec, held
    another client for the whole pipeline.  A `tick` after every 10 runs
    says where B's request fell among them."""
    d = make_daemon(tick_ini(tick_plugin, proc="max_processes = 100000"))
    a, b = d.raw(), d.raw(timeout=300)
    assert b.call("ping") == "PONG"
    big_sndbuf(a)
    group = a.command("run", "/bin/true") * MARK_EVERY + a.command("tick")
    groups = RUNS // MARK_EVERY
    join = read_in_thread(a, groups * (MARK_EVERY + 1))
    with stopped(d):
        a.send(group * groups)
        b.send(b.command("tick"))
    mine = b.read()
    got = join()
    runs = [v for i, v in enumerate(got) if i % (MARK_EVERY + 1) != MARK_EVERY]
    marks = got[MARK_EVERY::MARK_EVERY + 1]
    assert all(isinstance(v, int) and v > 0 for v in runs), \
        [v for v in runs if not isinstance(v, int)][:3]
    assert marks == sorted(marks) and mine not in marks
    # The runs of a group come before its mark: those of every group whose
    # mark is after B's, but one, certainly ran after B's request.
    after = max(0, sum(1 for m in marks if m > mine) - 1) * MARK_EVERY
    assert after >= RUNS // 2, (
        "B's request ran after about %d of A's %d pipelined runs: at most "
        "%d were still waiting (want at least %d)" % (
            RUNS - after, RUNS, after, RUNS // 2))


# ---- pushes ----

def frame(c):
    """The next value on C with its RESP types: (type, payload), where an
    aggregate's payload is a list of frames (a map's: keys and values in
    turn) and a scalar's is the bytes after the type."""
    line = c._line()
    t, rest = line[:1].decode(), line[1:]
    if t in "$=!":
        n = int(rest)
        if n < 0:
            return (t, None)
        while len(c.buf) < n + 2:
            c._fill()
        data, c.buf = c.buf[:n], c.buf[n + 2:]
        return (t, data)
    if t in "*~>%":
        n = int(rest)
        if n < 0:
            return (t, None)
        return (t, [frame(c) for _ in range(2 * n if t == "%" else n)])
    return (t, rest)


def as_resp2(f):
    """What frame F (RESP3) must be for a RESP2 client, by the rules of
    docs/protocol.md: push, map and set become arrays (a map flattened),
    double and big number bulk strings, null a null bulk, a boolean 1/0."""
    t, v = f
    if t in "*>%~":
        return ("*", None if v is None else [as_resp2(x) for x in v])
    if t in ",(=":
        return ("$", v)
    if t == "_":
        return ("$", None)
    if t == "#":
        return (":", b"1" if v == b"t" else b"0")
    return (t, v)


def event(f):
    """(kind, record as a dict of bytes) of an event frame, RESP2 or 3."""
    t, v = f
    assert t in ">*" and len(v) == 3 and v[0] == ("$", b"event"), f
    kind = v[1][1]
    rec = v[2][1] if v[2][0] in "%*" else v[2]
    if isinstance(rec, list):
        rec = {rec[i][1].decode(): rec[i + 1][1]
               for i in range(0, len(rec), 2)}
    return kind, rec


def subscriber(d, proto):
    """A subscribed connection: proto 3 (HELLO 3), 2 (HELLO 2) or None (no
    HELLO: RESP2)."""
    c = d.raw()
    if proto is not None:
        assert isinstance(c.call("HELLO", str(proto)), (dict, list))
    assert c.call("SUBSCRIBE") == "OK"
    return c


def pong_next(c):
    """C's next value, whatever it is, after a PING: must be the PONG, so
    nothing was queued for C before it."""
    c.send(c.command("PING"))
    f = frame(c)
    assert f == ("+", b"PONG"), "expected PONG, got %r" % (f,)


def test_resp2_and_resp3_subscribers_get_the_same_events(daemon):
    s3, s2, s0 = (subscriber(daemon, 3), subscriber(daemon, 2),
                  subscriber(daemon, None))
    pid = daemon.raw().call("run", "sh", "-c", "exit 3")
    got = {c: [frame(c), frame(c)] for c in (s3, s2, s0)}
    for f in got[s3]:
        assert f[0] == ">", f                   # a push frame
    for c in (s2, s0):
        for f in got[c]:
            assert f[0] == "*", f               # an array
        # Element for element what RESP3 sent, as RESP2 writes each type.
        assert got[c] == [as_resp2(f) for f in got[s3]]
    (k1, r1), (k2, r2) = [event(f) for f in got[s3]]
    assert (k1, k2) == (b"started", b"exited")
    assert r1["pid"] == r2["pid"] == str(pid).encode()
    assert r2["exit_code"] == b"3" and r2["state"] == b"exited"
    for c in (s3, s2, s0):
        pong_next(c)


def drained(c):
    """Every frame C has been sent so far: up to the reply to a PING
    (replies and pushes leave in order)."""
    c.send(c.command("PING"))
    frames = []
    while True:
        f = frame(c)
        if f == ("+", b"PONG"):
            return frames
        frames.append(f)


def test_slow_subscribers_lose_events_with_a_count(make_daemon):
    """Subscribers that do not read lose events, not replies; when events
    flow again a notice says how many were lost, shaped like an event
    (a push for RESP3, an array for RESP2); what was received plus what
    was counted lost is every event."""
    d = make_daemon(default_ini(extra_daemon="max_output = 64k",
                                proc="max_processes = 100000\n"
                                     "history = 100000"))
    subs = {3: subscriber(d, 3), 2: subscriber(d, None)}
    runner = d.raw()
    n = 300
    # Events of 2 KB each (the record carries the command line): 600 of
    # them are more than any socket buffer holds, so some must be lost.
    runner.send(b"".join(runner.command("run", "/bin/true", "x" * 2000)
                         for _ in range(n)))
    pids = {runner.read() for _ in range(n)}
    assert len(pids) == n and all(isinstance(p, int) for p in pids)
    # Every exit has been seen (so every event made) when none is running.
    wait_for(lambda: d.raw().call("list") == [])
    seen = {proto: drained(c) for proto, c in subs.items()}
    # Every buffer is empty now: one more event, which comes after the
    # notice of what each lost (if nothing flowed since a loss).
    marker = d.raw().call("run", "sh", "-c", "exit 9")
    for proto, c in subs.items():
        frames = seen[proto]
        while True:
            f = frame(c)
            frames.append(f)
            if f[0] in ">*" and event(f)[0] == b"exited" and \
                    event(f)[1].get("pid") == str(marker).encode():
                break
        notices = [f for f in frames if f[1][1] == ("$", b"dropped")]
        events = [event(f) for f in frames
                  if f[1][1] != ("$", b"dropped")]
        ours = [(k, r) for k, r in events if int(r["pid"]) in pids]
        lost = sum(int(f[1][2][1]) for f in notices)
        assert notices, "RESP%d: nothing lost, nothing to check" % proto
        for f in notices:
            assert f[0] == (">" if proto == 3 else "*"), f
            assert len(f[1]) == 3 and f[1][0] == ("$", b"event") and \
                f[1][2][0] == ":" and int(f[1][2][1]) > 0, f
        assert len(ours) + lost == 2 * n, (
            "RESP%d: %d events received + %d counted lost != %d made" % (
                proto, len(ours), lost, 2 * n))
        # The marker's own events came whole after the last notice.
        assert [k for k, r in events[-2:]] == [b"started", b"exited"]
        pong_next(c)


NOBODY = 65534


def test_pushes_reach_only_subscribers_of_the_owner_and_admins(make_daemon,
                                                              public_sock):
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    d = make_daemon(default_ini(extra_daemon="socket_mode = 0666"),
                    sock=public_sock)
    root_sub = subscriber(d, 3)                 # root: an admin
    root_quiet3 = d.raw()
    root_quiet3.call("HELLO", "3")
    root_quiet2 = d.raw()
    nobody_sub = d.raw_as(NOBODY, NOBODY)
    nobody_sub.call("HELLO", "3")
    assert nobody_sub.call("SUBSCRIBE") == "OK"
    nobody_quiet = d.raw_as(NOBODY, NOBODY)
    nobody_quiet.call("HELLO", "3")

    def two_events(c, pid):
        got = [event(frame(c)) for _ in range(2)]
        assert [k for k, _ in got] == [b"started", b"exited"], got
        assert all(r["pid"] == str(pid).encode() for _, r in got), got
        return got

    # Root's process: root's subscriber only (nobody is not an admin).
    mine = d.raw().call("run", "sh", "-c", "exit 0")
    two_events(root_sub, mine)
    # Nobody's process: nobody's subscriber and root's (an admin).
    theirs = d.raw_as(NOBODY, NOBODY).call("run", "sh", "-c", "exit 0")
    assert isinstance(theirs, int), theirs
    got = two_events(nobody_sub, theirs)     # first: nothing of root's
    assert got[0][1]["owner"] == b"nobody"
    two_events(root_sub, theirs)
    # Every push has been made; the others were sent none of them.
    for c in (root_sub, nobody_sub, root_quiet3, root_quiet2, nobody_quiet):
        pong_next(c)
