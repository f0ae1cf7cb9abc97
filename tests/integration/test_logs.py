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
    """`procctl --json logs ARGS`: NDJSON, one {time, stream, line} a
    line (as `logs -f --json` goes on)."""
    r = d.ctl("logs", *args, json=True)
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()]


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


def test_a_flood_leaves_the_server_small_and_answering(make_daemon, logdir):
    """A process writing 1 GB as fast as it can (200 MB under ASan), to the
    ring and a file, while one `logs -f` reader never reads: the server's
    memory stays within a few MiB of where it was (the ring and the file's
    queue are bounded; the reader loses lines, counted and told), and
    other clients are answered meanwhile."""
    total = 200_000_000 if SANITIZED else 1_000_000_000
    d = make_daemon(default_ini(proc="output = file\nlog_dir = %s\n"
                                "log_max = 20M\nlog_backups = 1" % logdir))
    srv = d.server_pid
    gate = logdir / "gate"
    pid = run(d, "/bin/sh", "-c", gated(
        gate, "echo start; yes 'a line of the flood, 40 bytes long ...' | "
        "head -c %d; echo flood-done" % total, "echo after"))
    wait_for(lambda: len(logs(d, str(pid))) >= 1)
    before = rss_kb(srv)
    stalled = d.raw()
    stalled.send(b"HELLO 3\r\nLOGS -f %d\r\n" % pid)
    answered = []

    def done():
        # (head cuts the last line short: the marker ends it.)
        if any(x["line"].endswith("flood-done") for x in
               logs(d, "-n", "5", str(pid))):
            return True
        assert d.ctl("ping").stdout == "PONG\n"
        answered.append(1)
        return False
    wait_for(done, timeout=600)
    assert answered
    grown = rss_kb(srv) - before
    # (ASan keeps what is freed in quarantine: no memory bound there.)
    assert SANITIZED or grown < 8 * 1024, "server RSS grew %d KiB" % grown
    # The last lines: the ring's, and before them the file's.
    got = logs(d, "-n", "3000", str(pid))
    assert len(got) == 3000 and got[-1]["line"].endswith("flood-done")
    assert all(x["line"] == "a line of the flood, 40 bytes long ..."
               for x in got[1:-1])
    # The reader that did not read: told how many lines it lost before
    # the next one it gets.
    gate.touch()
    seen = b""
    stalled.sock.settimeout(60)
    while b"after" not in seen:
        chunk = stalled.sock.recv(1 << 20)
        assert chunk, "connection closed"
        seen = (seen + chunk)[-(1 << 16):]
    assert b"dropped" in seen, seen[-2000:]
    assert d.ctl("ping").stdout == "PONG\n"


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


def refused_by_check(tmp_path, program_keys, why):
    """procctld -t of a [program:w] with PROGRAM_KEYS: exit 78, saying
    WHY."""
    import subprocess
    from conftest import PROCCTLD
    from test_programs import prog_ini
    ini = tmp_path / "bad.ini"
    ini.write_text(prog_ini("\n[program:w]\ncommand = sleep 1\n%s\n" %
                            program_keys))
    r = subprocess.run([str(PROCCTLD), "-t", "-c", str(ini)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 78 and why in r.stderr, r.stderr


def test_output_file_needs_log_dir(make_daemon, tmp_path):
    refused_by_check(tmp_path, "output = file", "file needs log_dir")


def file_lines(path):
    """A log file's lines as (stream, text)."""
    out = []
    for raw in Path(path).read_bytes().split(b"\n")[:-1]:
        t, stream, text = raw.split(b" ", 2)
        assert t.endswith(b"Z"), raw
        out.append((stream.decode(), text.decode(errors="replace")))
    return out


def gated(gate, before, after):
    """sh: BEFORE, then wait for the file GATE, then AFTER, then sleep."""
    return ("%s; while [ ! -e %s ]; do sleep 0.02; done; %s; exec sleep 3820"
            % (before, gate, after))


def test_reopen_logs_after_logrotate_moved_the_file(make_daemon, logdir):
    """logrotate's way (create, no copytruncate): the file is moved, then
    procctld is told — by `reopen-logs` or SIGUSR1 — and writes a new file
    by the same name from then on; nothing goes to the moved one."""
    from test_programs import prog_ini, wait_state
    g1, g2 = logdir / "g1", logdir / "g2"
    script = logdir / "rot.sh"   # (inih's lines are short: a script)
    script.write_text(gated(g1, "echo before", gated(g2, "echo middle",
                                                     "echo after")))
    d = make_daemon(prog_ini("""
[program:rot]
command = /bin/sh %s
start_secs = 0
output = file
""" % script, proc="log_dir = %s" % logdir))
    wait_state(d, "rot", "RUNNING")
    f = logdir / "rot.log"
    wait_for(lambda: f.exists() and file_lines(f) == [("stdout", "before")])
    f.rename(logdir / "rot.log.moved")
    r = d.ctl("reopen-logs", json=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"] >= 1
    g1.touch()
    wait_for(lambda: f.exists() and file_lines(f) == [("stdout", "middle")])
    assert file_lines(logdir / "rot.log.moved") == [("stdout", "before")]
    # SIGUSR1 to procctld (the monitor, the pid a unit file knows).
    f.rename(logdir / "rot.log.moved2")
    os.kill(d.proc.pid, signal.SIGUSR1)
    d.wait_log(r"SIGUSR1: \d+ output files? and procctld's log opened")
    g2.touch()
    wait_for(lambda: f.exists() and file_lines(f) == [("stdout", "after")])
    assert file_lines(logdir / "rot.log.moved2") == [("stdout", "middle")]
    assert d.ctl("ping").stdout == "PONG\n"


def test_reopen_logs_is_for_admins(make_daemon, public_sock):
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    d = make_daemon(default_ini(extra_daemon="socket_mode = 0666"),
                    sock=public_sock)
    nobody = pwd.getpwnam("nobody")
    reply = d.raw_as(nobody.pw_uid, nobody.pw_gid).call("REOPEN-LOGS")
    assert isinstance(reply, Exception) and "NOPERM" in str(reply), reply


def test_one_writer_for_processes_of_one_name(make_daemon, logdir):
    """Two processes of the same name write one file: whole lines, every
    one of them, never two writers cutting into each other."""
    d = make_daemon(default_ini(proc="output = file\nlog_dir = %s\n"
                                "log_max = 64K\nlog_backups = 20" % logdir))
    script = ("i=0; while [ $i -lt 2000 ]; do echo \"$1 line $i of a "
              "shared file, long enough\"; i=$((i+1)); done; exec sleep 3821")
    a = run(d, "/bin/sh", "-c", script, "sh", "A")
    b = run(d, "/bin/sh", "-c", script, "sh", "B")

    def every():
        # (a user's `run`: in a directory of that user's)
        files = sorted((logdir / "root").glob("sh.log*"))
        return [x for p in files for x in file_lines(p)]
    wait_for(lambda: len(every()) == 4000, timeout=60)
    got = every()
    for who in ("A", "B"):
        mine = sorted(int(t.split()[2]) for s, t in got if t.startswith(who))
        assert mine == list(range(2000)), who
    for p in (logdir / "root").glob("sh.log*"):
        assert p.stat().st_size <= 64 * 1024, p
    assert a != b


def test_log_ring_per_program_and_default(make_daemon, tmp_path):
    from test_programs import prog_ini, wait_state
    d = make_daemon(prog_ini("""
[program:small]
command = /bin/sh -c 'seq 1 2000; exec sleep 3822'
start_secs = 0
log_ring = 1K

[program:big]
command = /bin/sh -c 'seq 1 2000; exec sleep 3823'
start_secs = 0
""", proc="log_ring = 1M"))
    wait_state(d, "small", "RUNNING")
    wait_state(d, "big", "RUNNING")
    wait_for(lambda: logs(d, "-n", "1", "small")[-1]["line"] == "2000")
    wait_for(lambda: logs(d, "-n", "1", "big")[-1]["line"] == "2000")
    small = logs(d, "-n", "5000", "small")
    assert 5 < len(small) < 60, len(small)
    assert small[-1]["line"] == "2000"
    # 1M in [plugin:proc] (more than the 64 KiB default): all 2,000.
    assert len(logs(d, "-n", "5000", "big")) == 2000
    refused_by_check(tmp_path, "log_ring = lots", "log_ring")


def test_inherit_is_prefixed_with_the_process_name(make_daemon, tmp_path):
    """output = inherit: each line in procctld's log as "info: output:
    NAME[PID] STREAM: line", escaped; neither what a process writes nor
    the name it chose can pass for a line of procctld's own."""
    d = make_daemon(default_ini(proc="output = inherit"))
    pid = run(d, "/bin/sh", "-c", r"echo hello; printf 'error: forged\n"
              r"\033[2Jx\n' >&2; exec sleep 3824")
    d.wait_log(r"sh\[%d\] stderr: \\x1b\[2Jx" % pid)
    # A name of its own choosing (the program's file name).
    fake = tmp_path / "warn: refused uid 1001 (bob)"
    os.symlink("/bin/echo", fake)
    pid2 = run(d, str(fake), "spoof")
    d.wait_log(r"\[%d\] stdout: spoof" % pid2)
    log = d.log()
    assert "procctld: info: output: sh[%d] stdout: hello" % pid in log
    assert "procctld: info: output: sh[%d] stderr: error: forged" % pid in log
    assert "procctld: info: output: warn: refused uid 1001 (bob)[%d] " \
        "stdout: spoof" % pid2 in log, log
    for line in log.splitlines():
        assert not line.startswith("error: forged"), line
        assert not line.startswith("procctld: warn: refused"), line
    assert "\x1b" not in log


def test_a_full_disk_drops_lines_counted_in_the_file(make_daemon, tmp_path):
    """Lines that cannot be written (here: a full filesystem) are dropped
    and counted; the count is written into the file before the next line
    once it can be written again, and procctld says why in its log."""
    import subprocess
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mnt = tempfile.mkdtemp(prefix="procctl-full-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0777",
                       "tmpfs", mnt]).returncode != 0:
        os.rmdir(mnt)
        pytest.skip("cannot mount a tmpfs here")
    try:
        os.chmod(mnt, 0o777)
        gate = Path(mnt) / "gate"
        d = make_daemon(default_ini(proc="output = file\nlog_dir = %s"
                                    % mnt))
        pid = run(d, "/bin/sh", "-c", "exec sleep 0.01")  # the file exists
        filler = Path(mnt) / "filler"
        subprocess.run(["dd", "if=/dev/zero", "of=%s" % filler, "bs=4k"],
                       capture_output=True)
        pid = run(d, "/bin/sh", "-c", gated(gate, "seq 1 100",
                                            "echo after"))
        wait_for(lambda: len(logs(d, str(pid))) == 100)
        d.wait_log(r"sh\.log: write: No space left on device")
        filler.unlink()
        gate.touch()
        f = Path(mnt) / "root" / "sh.log"
        wait_for(lambda: ("stdout", "after") in file_lines(f))
        got = file_lines(f)
        i = got.index(("stdout", "after"))
        assert got[i - 1] == ("procctl", "[procctl] 100 lines dropped"), got
        # ... and counted for metrics (procctl_output_lines_dropped_total).
        page = d.ctl("metrics").stdout
        assert "\nprocctl_output_lines_dropped_total 100\n" in page, page
        assert d.ctl("ping").stdout == "PONG\n"
    finally:
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


def test_since(make_daemon, tmp_path):
    """--since TIME (as `logs` shows times) or how long ago: only the
    lines read since then; -n still bounds them; nonsense is refused."""
    import calendar
    import time
    gate = tmp_path / "gate"
    d = make_daemon(default_ini())
    pid = run(d, "/bin/sh", "-c", gated(gate, "echo old1; echo old2",
                                        "echo new1; echo new2; echo new3"))
    wait_for(lambda: len(logs(d, str(pid))) == 2)
    last_old = logs(d, str(pid))[-1]["time"]
    # A moment that is after the old lines and before the new ones.
    wait_for(lambda: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) >
             last_old[:19])
    cut = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    gate.touch()
    wait_for(lambda: len(logs(d, str(pid))) == 5)
    assert [x["line"] for x in logs(d, "--since", cut, str(pid))] == \
        ["new1", "new2", "new3"]
    assert [x["line"] for x in logs(d, "--since", cut, "-n", "1",
                                    str(pid))] == ["new3"]
    # An offset is a time zone: the same moment two hours east.
    t = calendar.timegm(time.strptime(cut, "%Y-%m-%dT%H:%M:%SZ"))
    east = time.strftime("%Y-%m-%dT%H:%M:%S+02:00", time.gmtime(t + 7200))
    assert [x["line"] for x in logs(d, "--since", east, str(pid))] == \
        ["new1", "new2", "new3"]
    assert len(logs(d, "--since", "1h", str(pid))) == 5
    assert len(logs(d, "--since", "2026-01-01", str(pid))) == 5
    assert logs(d, "--since", "2999-01-01T00:00:00Z", str(pid)) == []
    for bad in ("yesterday", "10x", "2026-13-01", "2026-11-26T25:00"):
        r = d.ctl("logs", "--since", bad, str(pid))
        assert r.returncode != 0 and "--since" in r.stderr, (bad, r.stderr)


JOURNALD = "/lib/systemd/systemd-journald"


def test_output_journal(make_daemon, tmp_path):
    """output = journal: each line to journald with the process's name as
    SYSLOG_IDENTIFIER and its pid as SYSLOG_PID, stdout at priority 6 and
    stderr at 3; the ring keeps them too.  The journald is a real one, of
    the test's own: procctld runs in a mount namespace where /run/systemd
    and the journal's directories are private."""
    import subprocess
    if os.geteuid() != 0:
        pytest.skip("needs root for a private journald")
    for tool in (JOURNALD, shutil.which("journalctl"),
                 shutil.which("nsenter"), shutil.which("unshare")):
        if not tool or not os.path.exists(tool):
            pytest.skip("needs systemd's journald, journalctl, nsenter and "
                        "unshare (Debian: systemd, util-linux)")
    pidfile = tmp_path / "journald.pid"
    wrapper = tmp_path / "with-journald.sh"
    wrapper.write_text("""set -e
mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
[ ! -d /var/log/journal ] || mount -t tmpfs tmpfs /var/log/journal
mkdir -p /run/systemd/journal
(setsid %s </dev/null >/dev/null 2>&1 & echo $! > %s)
i=0
while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 3000 ]; do
    sleep 0.01; i=$((i+1))
done
exec "$@"
""" % (JOURNALD, pidfile))
    r = subprocess.run(["unshare", "-m", "--propagation", "private",
                        "true"])
    if r.returncode != 0:
        pytest.skip("cannot make a mount namespace here")
    from test_programs import prog_ini, status, wait_state
    d = make_daemon(prog_ini("""
[program:jweb]
command = /bin/sh -c 'echo hello journal; echo trouble >&2; exec sleep 3830'
start_secs = 0
output = journal
"""), prefix=["unshare", "-m", "--propagation", "private", "sh",
              str(wrapper)])
    try:
        wait_state(d, "jweb", "RUNNING")
        pid = status(d, "jweb")["jweb"]["pid"]

        def entries():
            r = subprocess.run(["nsenter", "-t", str(d.proc.pid), "-m",
                                "journalctl", "-t", "jweb", "-o", "json",
                                "--no-pager"], capture_output=True,
                               text=True, timeout=60)
            return [json.loads(l) for l in r.stdout.splitlines() if l]
        wait_for(lambda: len(entries()) == 2, timeout=60)
        got = {e["MESSAGE"]: e for e in entries()}
        assert got["hello journal"]["PRIORITY"] == "6"
        assert got["trouble"]["PRIORITY"] == "3"
        for e in got.values():
            assert e["SYSLOG_PID"] == str(pid), e
            assert e["SYSLOG_IDENTIFIER"] == "jweb", e
        assert got["trouble"]["PROCCTL_STREAM"] == "stderr"
        assert sorted(x["line"] for x in logs(d, "jweb")) == \
            ["hello journal", "trouble"]
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


def test_output_journal_without_journald(make_daemon):
    if os.path.exists("/run/systemd/journal/socket"):
        pytest.skip("journald runs on this machine")
    d = make_daemon(default_ini(proc="output = journal"))
    pid = run(d, "/bin/sh", "-c", "echo kept; exec sleep 3831")
    d.wait_log("output = journal: journald does not run here")
    wait_for(lambda: [x["line"] for x in logs(d, str(pid))] == ["kept"])


def test_logs_reach_back_into_the_file(make_daemon, logdir):
    """With output = file, `logs` goes on into the file (and the rotated
    ones) where the ring ends: past log_ring, and after a server restart
    emptied the ring; never into an earlier process's lines."""
    d = make_daemon(default_ini(proc="output = file\nlog_dir = %s\n"
                                "log_ring = 1K\nlog_max = 4K\n"
                                "log_backups = 3" % logdir))
    pid = run(d, "/bin/sh", "-c", "seq 1 300; exec sleep 3832")
    wait_for(lambda: [x["line"] for x in logs(d, "-n", "1", str(pid))] ==
             ["300"])
    assert len(logs(d, "-n", "300", "--since", "1h", str(pid))) == 300
    got = logs(d, "-n", "300", str(pid))
    assert [x["line"] for x in got] == [str(i) for i in range(1, 301)]
    assert all(x["stream"] == "stdout" for x in got)
    # A server restart: the new ring is empty; the file is not.
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: d.server_pid != old and
             d.ctl("ping").stdout == "PONG\n")
    assert [x["line"] for x in logs(d, "-n", "3", str(pid))] == \
        ["298", "299", "300"]
    # Another process of the same name: its own lines only.
    other = run(d, "/bin/sh", "-c", "echo mine; exec sleep 3833")
    wait_for(lambda: [x["line"] for x in logs(d, str(other))] == ["mine"])


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


# ---- regressions from the hostile review of output files ----

def test_users_processes_of_one_name_have_files_of_their_own(
        make_daemon, public_sock, logdir):
    """A user's `run` writes <log_dir>/<user>/<name>.log: root's `sh` and
    nobody's `sh` no longer share sh.log, and nobody's `logs` (which
    reaches back into its file) never shows root's lines."""
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    d = make_daemon(default_ini(extra_daemon="socket_mode = 0666",
                                proc="output = file\nlog_dir = %s" % logdir),
                    sock=public_sock)
    gate = Path(public_sock).parent / "gate"
    nobody = pwd.getpwnam("nobody")
    c = d.raw_as(nobody.pw_uid, nobody.pw_gid)
    theirs = c.call("RUN", "--detach", "/bin/sh", "-c", gated(
        gate, "true", "echo mine"))
    assert isinstance(theirs, int), theirs
    mine = run(d, "/bin/sh", "-c", "echo root-secret; exec sleep 3840")
    wait_for(lambda: (logdir / "root" / "sh.log").exists() and
             "root-secret" in (logdir / "root" / "sh.log").read_text())
    gate.touch()
    wait_for(lambda: (logdir / "nobody" / "sh.log").exists() and
             "mine" in (logdir / "nobody" / "sh.log").read_text())
    got = c.call("LOGS", "-n", "1000", str(theirs))
    assert len(got) == 1 and "mine" in repr(got), got
    assert "root-secret" not in (logdir / "nobody" / "sh.log").read_text()
    assert mine != theirs


def test_a_rotation_that_cannot_be_done_is_turned_off(make_daemon, logdir):
    """Renames refused in the file's directory: said once, the file goes
    on growing (it used to spin the writer thread forever, write nothing
    more, and keep the server from ending)."""
    root_dir = logdir / "root"
    root_dir.mkdir()
    os.chmod(root_dir, 0o755)                 # root's: nobody cannot rename
    f = root_dir / "sh.log"
    f.write_text("")
    nobody = pwd.getpwnam("nobody")
    os.chown(f, nobody.pw_uid, nobody.pw_gid)  # but may write the file
    d = make_daemon(default_ini(proc="output = file\nlog_dir = %s\n"
                                "log_max = 2K" % logdir))
    gate = logdir / "gate"
    run(d, "/bin/sh", "-c", gated(gate, "seq 1 500", "echo after"))
    d.wait_log(r"sh\.log: cannot rotate \(Permission denied")
    gate.touch()
    wait_for(lambda: "stdout after\n" in f.read_text())
    assert f.stat().st_size > 2048
    assert d.ctl("ping").stdout == "PONG\n"
    d.stop()                                   # ends, and promptly


def test_a_fifo_in_log_dir_holds_nobody(make_daemon, logdir):
    """A FIFO (or any file not the server's own) where a log file would
    be: refused at once, said, the lines stay in the ring; it used to
    block the server in open() for everyone."""
    (logdir / "root").mkdir()
    os.chmod(logdir / "root", 0o777)
    os.mkfifo(logdir / "root" / "sh.log")
    os.chmod(logdir / "root" / "sh.log", 0o666)
    d = make_daemon(default_ini(proc="output = file\nlog_dir = %s" % logdir))
    pid = run(d, "/bin/sh", "-c", "echo kept; exec sleep 3841")
    assert d.ctl("ping").stdout == "PONG\n"
    wait_for(lambda: [x["line"] for x in logs(d, str(pid))] == ["kept"])
    d.wait_log(r"sh\.log: [^(]+ \(its output stays in the ring\)")


def test_ended_processes_give_their_files_back(make_daemon, logdir):
    """A file stays open while its process can write; after that, its
    fd goes (300 ended processes of distinct names held 300 fds)."""
    d = make_daemon(default_ini(proc="output = file\nlog_dir = %s" % logdir))
    srv = d.server_pid

    def fds():
        return len(os.listdir("/proc/%d/fd" % srv))
    before = fds()
    tools = logdir.parent / "bin"
    tools.mkdir()
    for i in range(60):
        os.symlink("/bin/echo", tools / ("w%d" % i))
    pids = [run(d, str(tools / ("w%d" % i)), "line") for i in range(60)]
    wait_for(lambda: all(logs(d, str(p)) == [] or
                         logs(d, str(p))[0]["line"] == "line"
                         for p in pids[-3:]))
    wait_for(lambda: fds() <= before + 2, timeout=60)
    # Their lines are still there to read, from the files too.
    assert logs(d, str(pids[0]))[0]["line"] == "line"


def test_since_rejects_impossible_times(make_daemon):
    d = make_daemon(default_ini())
    pid = run(d, "/bin/sh", "-c", "echo x; exec sleep 3842")
    for bad in ("2026-11-26T10:00+", "2026-11-26T10:00-", "2026-02-31",
                "2025-02-29", "2026-11-26T10:00:00+24:00",
                "1969-12-31T23:59:59.999Z"):
        r = d.ctl("logs", "--since", bad, str(pid))
        assert r.returncode != 0 and "--since" in r.stderr, (bad, r.stderr)
    assert d.ctl("logs", "--since", "2024-02-29", str(pid)).returncode == 0


def test_a_huge_logs_reply_stays_within_bounds(make_daemon, logdir):
    """logs -n 100000 of a process with big files: a reply of at most a
    few MiB (the newest lines), never one that loses the connection."""
    d = make_daemon(default_ini(proc="output = file\nlog_dir = %s\n"
                                "log_ring = 4K" % logdir))
    pid = run(d, "/bin/sh", "-c", "yes 'a line that is long enough to fill "
              "files quickly, over and over' | head -n 200000; echo last; "
              "exec sleep 3843")
    wait_for(lambda: [x["line"] for x in logs(d, "-n", "1", str(pid))] ==
             ["last"], timeout=120)
    r = d.ctl("logs", "-n", "100000", str(pid), json=True)
    assert r.returncode == 0, r.stderr
    got = [json.loads(l) for l in r.stdout.splitlines()]
    assert 1000 < len(got) <= 100000 and got[-1]["line"] == "last"
    assert sum(len(x["line"]) for x in got) <= 4 * 1024 * 1024
    assert d.ctl("ping").stdout == "PONG\n"


def test_readers_that_never_read_cost_little(make_daemon):
    """Twenty `logs -f` connections that never read, on a flood: the
    server's memory stays bounded (each used to cost about 6.5 MB)."""
    d = make_daemon(default_ini())
    srv = d.server_pid
    gate = Path(d.tmp) / "gate"
    size = 30_000_000 if SANITIZED else 100_000_000
    pid = run(d, "/bin/sh", "-c", gated(
        gate, "true", "yes 'flooding the followers, line after line' | "
        "head -c %d; echo flood-done" % size))
    before = rss_kb(srv)
    stalled = []
    for _ in range(20):
        c = d.raw()
        c.send(b"HELLO 3\r\nLOGS -f %d\r\n" % pid)
        stalled.append(c)
    gate.touch()
    wait_for(lambda: any(x["line"].endswith("flood-done") for x in
                         logs(d, "-n", "3", str(pid))), timeout=300)
    grown = rss_kb(srv) - before
    assert SANITIZED or grown < 20 * 1024, "server RSS grew %d KiB" % grown
    assert d.ctl("ping").stdout == "PONG\n"
