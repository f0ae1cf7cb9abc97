"""Output capture (issue 11, first part): what a managed process writes on
stdout and stderr is read by procctld into a ring per process and shown
by `logs`, with the time and the stream; partial and long lines; the
ring's bound; another user's output is not theirs to read; output written
while the server restarts is not lost.  Real daemon, real programs."""
import json
import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from conftest import SANITIZED, default_ini, wait_for


def logs(d, *args):
    r = d.ctl("logs", *args, json=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def run(d, *args):
    r = d.ctl("run", *args)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_both_streams_in_order_with_time(make_daemon):
    d = make_daemon(default_ini())
    pid = run(d, "/bin/sh", "-c", "echo one; echo two >&2; echo three; "
              "exec sleep 3801")
    wait_for(lambda: len(logs(d, str(pid))) == 3)
    got = logs(d, str(pid))
    # In order within a stream; between the two pipes, as they were read.
    assert [x["line"] for x in got if x["stream"] == "stdout"] == \
        ["one", "three"]
    assert [x["line"] for x in got if x["stream"] == "stderr"] == ["two"]
    for x in got:
        assert x["time"].endswith("Z") and "." in x["time"], x
    assert [x["line"] for x in logs(d, "-n", "1", str(pid))] == \
        [got[-1]["line"]]
    assert [x["line"] for x in logs(d, "--stderr", str(pid))] == ["two"]
    assert [x["line"] for x in logs(d, "--stdout", "sh")] == ["one", "three"]
    # The human form: a table of time, stream, line.
    r = d.ctl("logs", str(pid))
    assert r.stdout.splitlines()[0].split() == ["TIME", "STREAM", "LINE"]


def test_partial_and_long_lines(make_daemon):
    d = make_daemon(default_ini())
    pid = run(d, "/bin/sh", "-c", "printf 'prompt> '; exec sleep 3802")
    # No newline ever comes: shown once it has waited a moment.
    wait_for(lambda: [x["line"] for x in logs(d, str(pid))] == ["prompt> "])
    pid = run(d, "/bin/sh", "-c",
              "head -c 10000 /dev/zero | tr '\\0' x; echo; exec sleep 3803")
    wait_for(lambda: len(logs(d, str(pid))) == 3)
    assert [len(x["line"]) for x in logs(d, str(pid))] == [4096, 4096, 1808]


def test_ended_process_and_ring_bound(make_daemon):
    d = make_daemon(default_ini())
    # 20,000 lines of 20 bytes: more than the ring holds (64 KiB).
    pid = run(d, "/bin/sh", "-c",
              "seq -f 'line %012g' 1 20000; echo done")
    wait_for(lambda: any(x["line"] == "done" for x in
                         logs(d, "-n", "100000", str(pid))))
    got = logs(d, "-n", "100000", str(pid))
    assert 1000 < len(got) < 20000, len(got)
    assert got[-2]["line"] == "line 000000020000"
    # Consecutive: the oldest went, the rest are whole and in order.
    nums = [int(x["line"].split()[1]) for x in got[:-1]]
    assert nums == list(range(nums[0], 20001))
    assert d.ctl("ping").stdout == "PONG\n"


def test_output_null_captures_nothing(make_daemon):
    d = make_daemon(default_ini(proc="output = null"))
    pid = run(d, "/bin/sh", "-c", "echo quiet; exec sleep 3804")
    assert logs(d, str(pid)) == []


@pytest.fixture
def public_sock():
    """A directory other users can reach (pytest's own is 0700)."""
    pub = tempfile.mkdtemp(prefix="procctl-test-")
    os.chmod(pub, 0o711)
    yield os.path.join(pub, "s.sock")
    shutil.rmtree(pub, ignore_errors=True)


def test_another_users_output_is_not_theirs(make_daemon, public_sock):
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    d = make_daemon(default_ini(extra_daemon="socket_mode = 0666"),
                    sock=public_sock)
    pid = run(d, "/bin/sh", "-c", "echo secret; exec sleep 3805")
    wait_for(lambda: len(logs(d, str(pid))) == 1)
    nobody = pwd.getpwnam("nobody")
    c = d.raw_as(nobody.pw_uid, nobody.pw_gid)
    reply = c.call("LOGS", str(pid))
    assert isinstance(reply, Exception) and "NOPROC" in str(reply), reply


def test_nothing_lost_across_a_server_restart(make_daemon, tmp_path):
    d = make_daemon(default_ini())
    gate = tmp_path / "go"
    pid = run(d, "/bin/sh", "-c", "echo before; while [ ! -e %s ]; do "
              "sleep 0.02; done; echo after; exec sleep 3806" % gate)
    wait_for(lambda: len(logs(d, str(pid))) == 1)
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    # Written while no server runs: the monitor holds the pipe open.
    gate.touch()
    wait_for(lambda: d.server_pid != old and
             d.ctl("ping").stdout == "PONG\n")
    wait_for(lambda: [x["line"] for x in logs(d, str(pid))] == ["after"])


def test_why_shows_each_runs_last_stderr_lines(make_daemon):
    from test_programs import prog_ini, wait_state, why
    d = make_daemon(prog_ini("""
[program:broken]
command = /bin/sh -c 'echo starting; for i in 1 2 3 4 5 6 7; do echo "err $i" >&2; done; echo "fatal: no config" >&2; exit 2'
start_secs = 5
restart = on-failure
start_limit = 1/60s
backoff = 0.05s..0.05s
"""))
    wait_state(d, "broken", "FATAL")
    want = ["err 4", "err 5", "err 6", "err 7", "fatal: no config"]
    # Its last five stderr lines, not its stdout (read once the pipe
    # has been, which may come just after its end).
    wait_for(lambda: [r["stderr"] for r in why(d, "broken")["runs"]] ==
             [want, want])


def test_follow_shows_lines_as_they_come(make_daemon, tmp_path):
    """logs -f: the last lines, then each new one, until interrupted."""
    import subprocess
    import threading
    from conftest import PROCCTL
    d = make_daemon(default_ini())
    gate = tmp_path / "go"
    pid = run(d, "/bin/sh", "-c", "echo early; while [ ! -e %s ]; do "
              "sleep 0.02; done; echo late; echo later >&2; exec sleep 3807"
              % gate)
    wait_for(lambda: len(logs(d, str(pid))) == 1)
    f = subprocess.Popen([str(PROCCTL), "-s", str(d.sock), "logs", "-f",
                          str(pid)], stdout=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(f.stdout),
                     daemon=True).start()
    try:
        wait_for(lambda: any(l.split()[-1:] == ["early"] for l in lines))
        gate.touch()
        # Each new line in the columns of the table before it.
        wait_for(lambda: any(l.endswith("Z  stdout  late\n") for l in lines)
                 and any(l.endswith("Z  stderr  later\n") for l in lines))
        assert f.poll() is None       # still following
        head = lines[0]
        late = [l for l in lines if l.endswith(" late\n")][0]
        assert head.index("STREAM") == late.index("stdout")
        assert head.index("LINE") == late.index("late")
    finally:
        f.kill()
        f.wait()
    # Its connection gone, the daemon goes on (and forgot the follower).
    assert d.ctl("ping").stdout == "PONG\n"
    assert [x["line"] for x in logs(d, str(pid))] == ["early", "late",
                                                       "later"] or \
        sorted(x["line"] for x in logs(d, str(pid))) == \
        ["early", "late", "later"]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([l.split()[1] for l in f if l.startswith("VmRSS:")][0])


def test_a_flood_leaves_the_server_small_and_answering(make_daemon):
    """A process writing 200 MB as fast as it can: the server's memory
    stays within a few MiB of where it was (the ring is bounded; the pipe
    holds the writer back, never the daemon), and other clients are
    answered meanwhile."""
    d = make_daemon(default_ini())
    srv = d.server_pid
    before = rss_kb(srv)
    pid = run(d, "/bin/sh", "-c", "yes 'a line of the flood, 40 bytes "
              "long ...' | head -c 200000000; echo flood-done")
    answered = []

    def done():
        # (head cuts the last line short: the marker ends it.)
        if any(x["line"].endswith("flood-done") for x in
               logs(d, "-n", "5", str(pid))):
            return True
        assert d.ctl("ping").stdout == "PONG\n"
        answered.append(1)
        return False
    wait_for(done, timeout=120)
    assert answered
    grown = rss_kb(srv) - before
    # (ASan keeps what is freed in quarantine: no memory bound there.)
    assert SANITIZED or grown < 8 * 1024, "server RSS grew %d KiB" % grown
    got = logs(d, "-n", "100000", str(pid))
    assert sum(len(x["line"]) + 40 for x in got) <= 2 * 64 * 1024


def test_output_per_program(make_daemon):
    from test_programs import prog_ini, wait_state
    d = make_daemon(prog_ini("""
[program:talky]
command = /bin/sh -c 'echo said; exec sleep 3808'
start_secs = 0

[program:hushed]
command = /bin/sh -c 'echo unheard; exec sleep 3809'
start_secs = 0
output = null
"""))
    wait_state(d, "talky", "RUNNING")
    wait_state(d, "hushed", "RUNNING")
    wait_for(lambda: [x["line"] for x in logs(d, "talky")] == ["said"])
    assert logs(d, "hushed") == []


def test_shown_escaped_kept_as_written(make_daemon):
    """Bytes are kept as the process wrote them (--json has them, as JSON
    can); on a person's screen, what a terminal would obey or cannot read
    is \\xNN: control bytes, broken UTF-8, C1 controls; é stays é."""
    d = make_daemon(default_ini())
    pid = run(d, "/bin/sh", "-c", r"printf 'a\377\033[31mb\007c\303\251d"
              r"\302\233e\n'; exec sleep 3810")
    wait_for(lambda: len(logs(d, str(pid))) == 1)
    r = d.ctl("logs", str(pid))
    line = r.stdout.splitlines()[1]
    assert line.endswith("a\\xff\\x1b[31mb\\x07c\u00e9d\\xc2\\x9be"), line
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout


def test_follow_json_is_ndjson(make_daemon, tmp_path):
    """logs -f --json: one JSON object a line (time, stream, line), the
    last lines first, then each new one."""
    import subprocess
    import threading
    from conftest import PROCCTL
    d = make_daemon(default_ini())
    gate = tmp_path / "go"
    pid = run(d, "/bin/sh", "-c", "echo one; echo two; while [ ! -e %s ]; "
              "do sleep 0.02; done; echo three; exec sleep 3811" % gate)
    wait_for(lambda: len(logs(d, str(pid))) == 2)
    f = subprocess.Popen([str(PROCCTL), "-s", str(d.sock), "--json", "logs",
                          "-f", str(pid)], stdout=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(f.stdout),
                     daemon=True).start()
    try:
        wait_for(lambda: len(lines) == 2)
        gate.touch()
        wait_for(lambda: len(lines) == 3)
    finally:
        f.kill()
        f.wait()
    objs = [json.loads(l) for l in lines]
    assert [o["line"] for o in objs] == ["one", "two", "three"]
    assert all(o["stream"] == "stdout" and o["time"].endswith("Z")
               for o in objs)


@pytest.fixture
def logdir():
    """A log_dir procctld's server (not root: server_user) can write:
    not under pytest's own directories, which are 0700."""
    top = tempfile.mkdtemp(prefix="procctl-test-")
    os.chmod(top, 0o711)
    d = os.path.join(top, "log")
    os.mkdir(d)
    os.chmod(d, 0o777)
    yield Path(d)
    shutil.rmtree(top, ignore_errors=True)


def test_output_file_and_rotation(make_daemon, logdir):
    from test_programs import prog_ini, wait_state
    ld = logdir
    d = make_daemon(prog_ini("""
[program:writer]
command = /bin/sh -c 'for i in $(seq 1 300); do echo "line $i of the file"; done; echo oops >&2; exec sleep 3812'
start_secs = 0
output = file
""", proc="log_dir = %s\nlog_max = 2K\nlog_backups = 2" % ld))
    wait_state(d, "writer", "RUNNING")
    f = ld / "writer.log"
    wait_for(lambda: f.exists() and "stderr oops\n" in f.read_text())
    text = f.read_text()
    first = text.splitlines()[0]
    # <time> <stream> <line as written>
    assert first.split(" ", 2)[1] in ("stdout", "stderr"), first
    assert first.split(" ", 1)[0].endswith("Z"), first
    # Rotated at 2 KiB, two backups kept, nothing beyond.
    assert (ld / "writer.log.1").exists() and (ld / "writer.log.2").exists()
    assert not (ld / "writer.log.3").exists()
    for p in (f, ld / "writer.log.1", ld / "writer.log.2"):
        assert p.stat().st_size <= 2048 + 200, p
    # The ring has them too.
    assert logs(d, "-n", "1", "--stderr", "writer")[0]["line"] == "oops"


def test_output_file_needs_log_dir(make_daemon, tmp_path):
    import subprocess
    from conftest import PROCCTLD
    from test_programs import prog_ini
    ini = tmp_path / "bad.ini"
    ini.write_text(prog_ini("""
[program:w]
command = sleep 1
output = file
"""))
    r = subprocess.run([str(PROCCTLD), "-t", "-c", str(ini)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 78 and "file needs log_dir" in r.stderr, r.stderr


TICKER = ("i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.02; done")


def tick(line):
    """The number of a TICKER line ("tick 7": 7)."""
    return int(line.split()[-1])


def test_unfollow_ends_the_follow_not_the_connection(make_daemon):
    """UNFOLLOW: +OK, and no push of the follow after that reply; the
    connection goes on as it was (its session's process runs on, it may
    follow again)."""
    from conftest import Push
    d = make_daemon(default_ini())
    c = d.raw()
    c.call("HELLO", "3")
    assert c.call("SUBSCRIBE") == "OK"
    assert c.call("UNFOLLOW") == "OK"          # nothing followed: fine
    c.send(c.command("run", "/bin/sh", "-c", TICKER))
    pid = c.reply()                             # session-scoped

    def follow_push():
        """The next push of the follow (events are skipped)."""
        while True:
            v = c.read()
            assert isinstance(v, Push), v
            if v[0] == b"follow":
                return v
            assert v[0] == b"event", v

    c.send(c.command("logs", "-f", "-n", "1", pid))
    assert isinstance(c.reply(), list)
    p = follow_push()
    assert p[1] == b"log" and p[2]["pid"] == pid, p
    assert p[2]["line"].startswith(b"tick ") and p[2]["stream"] == b"stdout"
    assert p[2]["text"] == p[2]["time"] + b"  stdout  " + p[2]["line"]
    last = tick(p[2]["line"].decode())
    c.send(c.command("UNFOLLOW"))
    while True:                 # pushes sent before it may still come
        v = c.read()
        if not isinstance(v, Push):
            assert v == "OK"
            break
        if v[0] == b"follow":
            last = max(last, tick(v[2]["line"].decode()))
    # It writes on: once its ring is 20 lines past the last pushed, none
    # of them has come, and nothing else either.
    wait_for(lambda: tick(logs(d, "-n", "1", str(pid))[0]["line"]) >
             last + 20)
    assert c.call("PING") == "PONG"
    assert d.ctl("list").stdout.count(" running ") == 1
    # The same connection follows again.
    c.send(c.command("logs", "-f", "-n", "1", pid))
    assert isinstance(c.reply(), list)
    assert tick(follow_push()[2]["line"].decode()) > last + 20
    c.close()


@pytest.mark.parametrize("what", ["logs", "events"])
def test_interrupted_follow_exits_130(make_daemon, what):
    """Ctrl-C (SIGINT) ends a one-shot follow, or `events`, with status
    130, every line it printed whole."""
    import subprocess
    import threading
    from conftest import PROCCTL
    d = make_daemon(default_ini())
    pid = run(d, "/bin/sh", "-c", TICKER)
    args = ["logs", "-f", str(pid)] if what == "logs" else ["events"]
    f = subprocess.Popen([str(PROCCTL), "-s", str(d.sock)] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=lambda: signal.signal(
                             signal.SIGINT, signal.SIG_DFL))
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(f.stdout),
                              daemon=True)
    reader.start()
    try:
        if what == "logs":
            wait_for(lambda: len(lines) >= 3)
        else:
            def subscribed():           # once an event shows
                if lines:
                    return True
                d.ctl("run", "true")
                return False
            wait_for(subscribed, timeout=60, interval=0.1)
        f.send_signal(signal.SIGINT)
        assert f.wait(timeout=30) == 130
    finally:
        if f.poll() is None:
            f.kill()
            f.wait()
    reader.join(timeout=30)
    assert f.stderr.read() == ""
    assert lines and all(l.endswith("\n") for l in lines), lines
    if what == "logs":
        assert all(l.startswith("20") and " stdout  tick " in l
                   for l in lines[1:]), lines
    assert d.ctl("ping").stdout == "PONG\n"
