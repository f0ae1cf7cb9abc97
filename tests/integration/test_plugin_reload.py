"""`plugin reload NAME` (admins): a plugin replaced with the file now on
disk while the daemon runs.  For proc, every process and record survives
it: the monitor holds the processes, the old instance hands its records
over (host->keep), the new one takes both (docs/plugins.md, "Reloading a
plugin").  A file that cannot be loaded changes nothing; one whose init
refuses leaves the processes running, unclaimed, for a later
`plugin load`."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import (PLUGINS, PROCCTL, default_ini, proc_state,
                      stopped_child, wait_for, wait_state)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root (cgroups, other users)")

NOBODY = 65534
MARK = "33%02d.%d"          # sleep arguments unique to this run


def mark(n):
    return MARK % (n, os.getpid())


def alive(pid):
    """True while PID runs (a zombie has ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def run(d, *argv):
    r = d.ctl("run", "--detach", *argv)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def rows(d):
    r = d.ctl("list", "all", "details", json=True)
    assert r.returncode == 0, r.stderr
    return {row["pid"]: row for row in json.loads(r.stdout)}


def listed_all(d):
    r = d.ctl("list", "all", json=True)
    assert r.returncode == 0, r.stderr
    return [(row["pid"], row["state"]) for row in json.loads(r.stdout)]


def status(d, name):
    r = d.ctl("status", name, json=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def why(d, name):
    r = d.ctl("why", name, json=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def subscriber(d):
    c = d.raw()
    c.call("HELLO", "3")
    assert c.call("SUBSCRIBE") == "OK"
    return c


def ended_event(c, pid):
    """Read pushes on C until PID's exit (or kill) event; its record."""
    while True:
        m = c.read()
        if m[:2] in ([b"event", b"exited"], [b"event", b"killed"]) and \
                m[2]["pid"] == pid:
            return m[2]


def reload(d, name="proc"):
    r = d.ctl("plugin", "reload", name)
    assert r.returncode == 0 and r.stdout == "OK\n", r.stderr
    return r


def crashy_ini(tmp, extra_daemon=""):
    """A program that fails its first start (exit 3) and runs from its
    second on: RUNNING with restarts 1 and two runs in `why`."""
    return default_ini(extra_daemon=extra_daemon) + """
[program:crashy]
command = /bin/sh -c 'if [ -e flag ]; then exec sleep %s; fi; touch flag; exit 3'
directory = %s
start_secs = 0.2
backoff = 100ms..100ms
""" % (mark(1), tmp)


@pytest.fixture
def plugin_copies():
    """A plugin directory of our own, whose files a test may replace;
    the server (no longer root when it reloads) must be able to read it,
    unlike pytest's directories."""
    pd = Path(tempfile.mkdtemp(prefix="procctl-reload-"))
    os.chmod(pd, 0o755)
    for so in ("proc.so", "arith.so"):
        shutil.copy(PLUGINS / so, pd / so)
    yield pd
    shutil.rmtree(pd, ignore_errors=True)


def replace(path, data):
    """PATH's content replaced as an install does: a new file renamed
    over it (a new inode)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)


def test_reload_proc_keeps_processes_records_and_programs(make_daemon,
                                                          tmp_path):
    d = make_daemon(crashy_ini(tmp_path) + """
[program:idle]
command = sleep %s
start_secs = 0

[program:later]
command = /bin/sh -c 'exit 1'
start_secs = 0
backoff = 1h..1h
""" % mark(9))
    wait_for(lambda: status(d, "crashy")["state"] == "RUNNING" and
             status(d, "crashy")["restarts"] == 1,
             describe=lambda: repr(status(d, "crashy")))
    assert d.ctl("stop", "idle").returncode == 0    # autostarted, stopped
    wait_for(lambda: status(d, "later")["state"] == "BACKOFF")
    later = status(d, "later")
    a = run(d, "sleep", mark(2))
    b = run(d, "sleep", mark(3))
    gone = run(d, "sh", "-c", "exit 4")
    wait_state(d, gone, "exited")
    before_rows = rows(d)
    before_all = listed_all(d)
    before_status = status(d, "crashy")
    before_why = why(d, "crashy")
    assert len(before_why["runs"]) == 2, before_why
    events = subscriber(d)

    reload(d)
    d.wait_log(r"plugin proc reloaded at the request of root")

    # The same processes, the same records, in the same order.
    assert alive(a) and alive(b)
    assert listed_all(d) == before_all
    after = rows(d)
    for pid in (a, b, before_status["pid"]):
        assert after[pid]["state"] == "running", after[pid]
        for key in ("started", "command", "scope", "adopted", "cgroup"):
            assert after[pid][key] == before_rows[pid][key], key
    r = [row for row in json.loads(d.ctl("list", "all", "details",
                                         json=True).stdout)
         if row["pid"] == gone]
    assert r and r[0]["exit_code"] == 4 and r[0]["result"].startswith(
        "exited with status 4"), r
    # The program: the same run, restarts and history.
    s = status(d, "crashy")
    assert (s["state"], s["pid"], s["restarts"]) == (
        "RUNNING", before_status["pid"], 1), s
    assert why(d, "crashy")["runs"] == before_why["runs"]
    # A reload is not a start: what was stopped is not autostarted.
    assert status(d, "idle")["state"] == "STOPPED"
    # A backoff goes on with the time it had left.
    s2 = status(d, "later")
    assert (s2["state"], s2["restarts"]) == ("BACKOFF", 1), s2
    assert 0 < float(s2["next_retry"]) <= float(later["next_retry"]), s2
    assert listed_all(d) == before_all

    # Controllable: close answers with the end, and its event comes.
    r = d.ctl("close", a)
    assert r.returncode == 0 and "SIGTERM" in r.stdout, r.stderr
    assert not alive(a)
    ev = ended_event(events, a)
    assert ev["state"] == b"killed"
    assert proc_state(d, b) == "running"
    # The program still restarts on a crash, its history kept.
    old = s["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: status(d, "crashy")["state"] == "RUNNING" and
             status(d, "crashy")["pid"] not in (None, old),
             describe=lambda: repr(status(d, "crashy")))
    assert status(d, "crashy")["restarts"] == 2
    # As procctld's own user still, not the server's (no root since).
    again = rows(d)[status(d, "crashy")["pid"]]
    assert (again["uid"], again["owner"]) == (0, "root"), again
    runs = why(d, "crashy")["runs"]
    assert len(runs) == 3 and runs[:1] == before_why["runs"][:1], runs
    assert runs[1]["pid"] == old and "SIGKILL" in runs[1]["how"], runs
    assert d.ctl("close", b).returncode == 0
    assert d.ctl("stop", "crashy").returncode == 0


def test_a_process_that_ends_during_a_reload_is_reported(make_daemon):
    """Its end reaches the old instance (and is handed over as a record)
    or the new one (which has its process): either way it is reported."""
    d = make_daemon()
    flag = d.tmp / "go"
    pid = run(d, "sh", "-c", "while [ ! -e %s ]; do sleep 0.01; done; "
              "exit 7" % flag)
    events = subscriber(d)
    flag.touch()
    reload(d)
    ev = ended_event(events, pid)
    assert ev["exit_code"] == 7, ev
    wait_state(d, pid, "exited")
    row = [r for r in json.loads(d.ctl("list", "all", json=True).stdout)
           if r["pid"] == pid]
    assert row[0]["exit_code"] == 7, row


def test_reload_is_for_admins(make_daemon):
    pub = tempfile.mkdtemp(prefix="procctl-test-")
    try:
        os.chmod(pub, 0o711)
        d = make_daemon(default_ini(extra_daemon="socket_mode = 0666"),
                        sock=os.path.join(pub, "s.sock"))
        c = d.raw_as(NOBODY, NOBODY)
        c.call("HELLO", "3")
        r = c.call("PLUGIN", "RELOAD", "proc")
        assert r.code == "NOPERM" and "plugin reload is for admins only" \
            in r.text, r
        assert {p["name"] for p in c.call("PLUGIN", "LIST")} == {
            b"proc", b"arith"}
        r = d.ctl("plugin", "reload")
        assert r.returncode == 2 and "RELOAD needs a plugin name" in \
            r.stderr, r.stderr
        r = d.ctl("plugin", "reload", "nope")
        assert r.returncode == 1 and "plugin nope is not loaded" in \
            r.stderr, r.stderr
        assert "plugin reload <name>" in d.ctl("help", "plugin").stdout
    finally:
        shutil.rmtree(pub, ignore_errors=True)


def test_arith_reload(make_daemon, plugin_copies):
    """A stateless plugin: its commands are dropped and registered again,
    from the file now on disk."""
    pd = plugin_copies
    d = make_daemon(default_ini().replace(str(PLUGINS), str(pd)))
    assert d.ctl("add", "1", "2").stdout == "3\n"
    replace(pd / "arith.so", (PLUGINS / "arith.so").read_bytes())
    reload(d, "arith")
    assert d.ctl("add", "2", "3").stdout == "5\n"
    assert d.ctl("div", "1", "0").returncode == 1
    rows_ = json.loads(d.ctl("plugin", "list", json=True).stdout)
    assert sorted(r["name"] for r in rows_) == ["arith", "proc"]
    assert "add" in d.ctl("help").stdout


def test_a_broken_file_changes_nothing(make_daemon, plugin_copies):
    """A file that cannot be loaded (not an ELF, gone) is found before the
    running instance goes: the reload is refused and nothing changes."""
    pd = plugin_copies
    d = make_daemon(default_ini().replace(str(PLUGINS), str(pd)))
    a = run(d, "sleep", mark(4))
    good = (pd / "proc.so").read_bytes()
    replace(pd / "proc.so", b"not an ELF file\n" * 256)
    r = d.ctl("plugin", "reload", "proc")
    assert r.returncode == 1 and "cannot be loaded; nothing changed" in \
        r.stderr, r.stderr
    d.wait_log(r"plugin proc: cannot load \S+proc.so: .*invalid ELF header")
    (pd / "proc.so").unlink()
    r = d.ctl("plugin", "reload", "proc")
    assert r.returncode == 1 and "nothing changed" in r.stderr, r.stderr
    # The old instance still serves.
    assert alive(a) and proc_state(d, a) == "running"
    replace(pd / "proc.so", good)
    assert d.ctl("close", a).returncode == 0


def test_a_refused_init_leaves_the_processes_for_plugin_load(
        make_daemon, tmp_path, plugin_copies, test_plugins):
    """The new file loads but its init refuses: the reply says so, no
    process is killed, one that ends meanwhile is kept, and `plugin load`
    (the file restored) hands them all over, with the records and the
    programs' histories the old instance kept."""
    pd = plugin_copies
    d = make_daemon(crashy_ini(tmp_path).replace(str(PLUGINS), str(pd)))
    wait_for(lambda: status(d, "crashy")["state"] == "RUNNING" and
             status(d, "crashy")["restarts"] == 1)
    prog = status(d, "crashy")["pid"]
    before_why = why(d, "crashy")
    a = run(d, "sleep", mark(5))
    flag = d.tmp / "go"
    b = run(d, "sh", "-c", "while [ ! -e %s ]; do sleep 0.01; done; "
            "exit 7" % flag)
    gone = run(d, "sh", "-c", "exit 4")
    wait_state(d, gone, "exited")
    good = (pd / "proc.so").read_bytes()
    replace(pd / "proc.so", (test_plugins / "initfail.so").read_bytes())
    events = subscriber(d)

    r = d.ctl("plugin", "reload", "proc")
    assert r.returncode == 1 and "was not loaded" in r.stderr and \
        "until: plugin load proc" in r.stderr, r.stderr
    assert [p["name"] for p in json.loads(
        d.ctl("plugin", "list", json=True).stdout)] == ["arith"]
    assert d.ctl("list").returncode != 0         # no proc commands now
    assert alive(a) and alive(b) and alive(prog)
    flag.touch()                                 # b ends, unclaimed
    d.wait_log(r"pid %d \(of plugin proc, not loaded\) has ended" % b)

    replace(pd / "proc.so", good)
    r = d.ctl("plugin", "load", "proc")
    assert r.returncode == 0, r.stderr
    d.wait_log(r"plugin proc: 3 running processes handed over")
    ev = ended_event(events, b)
    assert ev["exit_code"] == 7, ev
    assert proc_state(d, b) == "exited"
    assert proc_state(d, gone) == "exited"      # the history kept
    assert proc_state(d, a) == "running"
    s = status(d, "crashy")
    assert (s["state"], s["pid"], s["restarts"]) == ("RUNNING", prog, 1), s
    assert why(d, "crashy")["runs"] == before_why["runs"]
    assert d.ctl("close", a).returncode == 0 and not alive(a)
    assert d.ctl("stop", "crashy").returncode == 0 and not alive(prog)


def test_a_process_starting_during_a_reload_is_handed_over(make_daemon):
    """A run whose exec is not confirmed when the old instance goes (its
    child stopped before exec) is the new instance's once it runs."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    d = make_daemon()
    mon = d.proc.pid
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-p", str(mon), "-e", "trace=execve", "-e",
         "inject=execve:signal=SIGSTOP:when=1", "-o", "/dev/null"],
        stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: open("/proc/%d/status" % mon).read().find(
            "TracerPid:\t0\n") == -1)
        starting = subprocess.Popen(
            [str(PROCCTL), "-s", str(d.sock), "run", "--detach", "sleep",
             mark(6)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        d.wait_log(r"debug: client \d+ connected: uid 0 \(root\) pid %d"
                   % starting.pid)
        child = stopped_child(mon)
        reload(d)
    finally:
        tracer.terminate()
        tracer.wait(timeout=30)
    os.kill(child, signal.SIGCONT)
    # The old instance's `run` was answered when it went.
    out, err = starting.communicate(timeout=60)
    assert starting.returncode == 1 and "produced no reply" in err, err
    d.wait_log(r"%d sleep started \(asked for before a reload\)" % child)
    assert proc_state(d, child) == "running"
    assert d.ctl("close", child).returncode == 0
    assert not alive(child)


def test_altered_records_restore_nothing(make_daemon, plugin_copies,
                                         test_plugins):
    """The bytes handed over may come from another build: cut short,
    another version, lengths and counts that lie, bytes flipped anywhere.
    None of it crashes the new instance; what is not whole is refused
    whole (logged), and the processes are then known from their tags."""
    import random
    pd = plugin_copies
    d = make_daemon(default_ini(extra_daemon="") .replace(
        str(PLUGINS), str(pd)) + """
[program:steady]
command = sleep %s
start_secs = 0.1
""" % mark(8))
    wait_for(lambda: status(d, "steady")["state"] == "RUNNING")
    a = run(d, "sleep", mark(7))
    gone = run(d, "sh", "-c", "exit 4")
    wait_state(d, gone, "exited")
    good = (pd / "proc.so").read_bytes()
    keeper = (test_plugins / "keeper.so").read_bytes()

    def through_keeper(blob):
        """proc -> keeper (which takes proc's bytes) -> proc, handed
        BLOB instead."""
        replace(pd / "proc.so", keeper)
        reload(d)
        kept = bytes.fromhex(d.ctl("kept").stdout.strip())
        if blob is not None:
            assert d.ctl("keepnext", blob.hex()).returncode == 0
        replace(pd / "proc.so", good)
        reload(d)
        return kept

    blob = through_keeper(None)
    assert blob.startswith(b"PROCHAND") and proc_state(d, gone) == "exited"
    n = len(blob)
    lies = [blob[:k] for k in (1, 7, 8, 12, 16, 20, n // 3, n // 2, n - 1)]
    lies.append(blob[:8] + bytes([blob[8] + 1]) + blob[9:])  # a later version
    lies.append(blob + b"\x00")                             # not whole
    lies.append(blob[:20] + b"\xff\xff\xff\x7f" + blob[24:])  # a length
    refused = 0
    for lie in lies:
        through_keeper(lie)
        refused += 1
        wait_for(lambda: d.log().count("none is restored") == refused)
        assert proc_state(d, a) == "running", d.log()
        assert proc_state(d, gone) is None      # the history is lost
        through_keeper(blob)                    # and back
        assert proc_state(d, gone) == "exited"
    rnd = random.Random(1)
    for _ in range(40):
        lie = bytearray(blob)
        for _ in range(3):
            lie[rnd.randrange(len(lie))] = rnd.randrange(256)
        through_keeper(bytes(lie))
        assert d.ctl("ping").stdout == "PONG\n"
        through_keeper(blob)
    assert proc_state(d, a) == "running" and alive(a)
    assert d.ctl("close", a).returncode == 0 and not alive(a)
    assert d.ctl("stop", "steady").returncode == 0
