"""What survives what (docs/processes.md, "What survives what"): a crash of
the server, of the monitor, of both; `daemon upgrade`; a stop with and
without live_restore; a session that comes back after a server restart.
Each test is one row of that table."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import (PLUGINS, PROCCTL, PROCCTLD, Raw, default_ini,
                      proc_state, wait_for, wait_state)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root (cgroups, other users)")


def alive(pid):
    """True while PID runs (a zombie has ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def restarted(d, old):
    """Wait until D has a server other than OLD that answers; its pid."""
    def ready():
        try:
            pid = d.server_pid
        except AssertionError:
            return None
        if pid == old or d.ctl("ping").stdout != "PONG\n":
            return None
        return pid
    return wait_for(ready, timeout=60,
                    describe=lambda: "no new server:\n" + d.log())


def row(d, pid):
    for r in json.loads(d.ctl("list", "all", "details",
                              json=True).stdout):
        if r["pid"] == pid:
            return r
    return None


def row_all(d, pid):
    for r in json.loads(d.ctl("list", "all", json=True).stdout):
        if r["pid"] == pid:
            return r
    return None


def run(d, *argv):
    r = d.ctl("run", *argv)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def test_server_crash_children_run_on(make_daemon):
    """kill -9 of the server only: its processes are untouched, one that
    ends meanwhile is reported with its real status, clients reconnect."""
    d = make_daemon()
    keep = run(d, "--detach", "sleep", "3101")
    flag = d.tmp / "go"
    ends = run(d, "--detach", "sh", "-c",
               "while [ ! -e %s ]; do sleep 0.02; done; exit 7" % flag)
    watcher = d.raw()
    assert watcher.call("HELLO", "3")["proto"] == 3
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    flag.touch()                # it ends while no server (or a new one) is up
    assert watcher.closed(), "a client of the dead server was not closed"
    restarted(d, old)
    assert d.proc.poll() is None, "the monitor went with its server"
    d.wait_log(r"the server was killed by signal 9; restarting it")
    wait_state(d, ends, "exited")
    r = row_all(d, ends)
    assert r["exit_code"] == 7, r
    assert alive(keep)
    r = row(d, keep)
    assert r["state"] == "running" and r["adopted"] is True, r
    assert r["cgroup"] and r["tree"] == 1, r
    # The new server manages it: close works, with the real end.
    r = d.ctl("close", keep)
    assert r.returncode == 0 and "SIGTERM" in r.stdout, r.stderr
    assert not alive(keep)
    # And a second crash is survived the same way.
    again = run(d, "--detach", "sleep", "3109")
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    restarted(d, old)
    assert proc_state(d, again) == "running"
    assert d.ctl("close", again).returncode == 0


@pytest.mark.parametrize("who", ["both", "monitor"])
def test_crash_of_the_monitor_readopted(make_daemon, who):
    """kill -9 of both processes (or of the monitor alone: the server
    follows it): the processes run on; the next procctld adopts those
    that still run, by start time and cgroup, lists them as adopted and
    can close them (their exit status is unknown: it is not their
    parent).  A record whose pid now names another process is not
    adopted, and that process is left alone."""
    d = make_daemon()
    a = run(d, "--detach", "sleep", "3102")
    b = run(d, "--detach", "sleep", "3103")
    mon, srv = d.proc.pid, d.server_pid
    os.kill(mon, signal.SIGKILL)
    if who == "both":
        os.kill(srv, signal.SIGKILL)
    d.proc.wait()
    wait_for(lambda: not alive(srv))
    assert alive(a) and alive(b)
    # b's pid reused: another process now has it (the state file says
    # what the old monitor knew; the start time no longer matches).
    other = subprocess.Popen(["sleep", "3104"])
    try:
        state = Path(str(d.sock) + ".state")
        text = state.read_text()
        assert re.search(r"^\+ \d+ %d " % b, text, re.M), text
        text = re.sub(r"^(\+ \d+ )%d " % b,
                      lambda m: "%s%d " % (m.group(1), other.pid), text,
                      flags=re.M)
        os.kill(b, signal.SIGKILL)
        state.write_text(text)
        d.start()
        d.wait_log(r"pid %d \(proc\) from the state file: gone, or another "
                   r"process now: not adopted" % other.pid)
        r = row(d, a)
        assert r is not None and r["adopted"] is True, d.log()
        assert proc_state(d, other.pid) is None
        r = d.ctl("close", a)
        assert r.returncode == 0, r.stderr
        assert not alive(a)
        r = row(d, a)           # all details: ended ones too
        assert r["exit_code"] is None and "unknown" in r["result"], r
        assert other.poll() is None, "an unrelated process was touched"
    finally:
        other.kill()
        other.wait()


def test_upgrade_keeps_processes(make_daemon):
    """`daemon upgrade`: the monitor re-executes itself (same pid, still
    the parent of every process) and starts a new server; the processes,
    the socket and the ability to close them stay; a live event stream
    is closed and a new one sees what follows.  Admins only."""
    d = make_daemon()
    a = run(d, "--detach", "sleep", "3105")
    ev = d.raw()
    ev.call("HELLO", "3")
    assert ev.call("SUBSCRIBE") == "OK"
    mon, old = d.proc.pid, d.server_pid
    r = d.ctl("daemon", "upgrade")
    assert r.returncode == 0 and r.stdout == "OK\n", r.stderr
    assert ev.closed(), "the event stream of the old server stayed open"
    restarted(d, old)
    assert d.proc.pid == mon and d.proc.poll() is None
    d.wait_log(r"upgrade: re-executing")
    assert a in [int(c) for c in open(
        "/proc/%d/task/%d/children" % (mon, mon)).read().split()]
    r = row(d, a)
    assert r["state"] == "running" and r["adopted"] is True, r
    ev = d.raw()
    ev.call("HELLO", "3")
    assert ev.call("SUBSCRIBE") == "OK"
    assert d.ctl("close", a).returncode == 0
    # Still its parent: the real end, not "unknown".
    while True:
        m = ev.read()
        if m[:2] == [b"event", b"killed"] and m[2]["pid"] == a:
            assert m[2]["signal"] == b"SIGTERM", m
            break
    # Not for everyone.
    pub = tempfile.mkdtemp(prefix="procctl-test-")
    os.chmod(pub, 0o711)
    d2 = make_daemon(sock=os.path.join(pub, "s.sock"))
    os.chmod(d2.sock, 0o666)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                        "--clear-groups", str(PROCCTL), "-s", str(d2.sock),
                        "daemon", "upgrade"], capture_output=True, text=True)
    assert r.returncode != 0 and "admins only" in r.stderr, r


def test_live_restore(make_daemon):
    """live_restore = yes: a plain stop leaves the processes running and
    the next procctld adopts them; the default (no) ends them."""
    d = make_daemon(default_ini(extra_daemon="live_restore = yes"))
    a = run(d, "--detach", "sleep", "3106")
    d.stop()
    assert alive(a), "live_restore: the process was ended"
    assert "leaving 1 process running" in d.log()
    assert not d.sock.exists(), "the socket outlived the daemon"
    d.ini.write_text(default_ini())     # live_restore = no from now on
    d.start()
    r = row(d, a)
    assert r is not None and r["adopted"] is True, d.log()
    d.stop()
    wait_for(lambda: not alive(a))


def hello_session(d, token):
    c = d.raw()
    assert c.call("HELLO", "3", "SESSION", token)["proto"] == 3
    assert c.call("SUBSCRIBE") == "OK"
    return c


def test_session_comes_back_within_grace(make_daemon):
    """A session-scoped process whose session went away with the server
    ends only if that session has not come back (HELLO ... SESSION, as
    the shell reconnects) within session_grace."""
    d = make_daemon(default_ini(proc="session_grace = 2"))
    back = hello_session(d, "tok-back-0001")
    gone = hello_session(d, "tok-gone-0002")
    back.send(back.command("run", "sleep", "3107"))
    p1 = back.reply()
    gone.send(gone.command("run", "sleep", "3108"))
    p2 = gone.reply()
    assert row(d, p1)["scope"] == "session"
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    restarted(d, old)
    again = hello_session(d, "tok-back-0001")
    d.wait_log(r"%d sleep: its session is back" % p1)
    d.wait_log(r"%d sleep: its session did not come back within "
               r"session_grace" % p2)
    wait_for(lambda: not alive(p2))
    assert alive(p1) and proc_state(d, p1) == "running"
    # Back, it is the session's again: it ends with it.
    again.close()
    wait_for(lambda: not alive(p1))
    # Another user's connection cannot claim that session.
    bad = d.raw()
    r = bad.call("HELLO", "3", "SESSION", "x")
    assert getattr(r, "code", None) == "ARGS", r


def alive_with(marker):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    argv = f.read().replace(b"\0", b" ")
                    if marker.encode() in argv and alive(int(p)):
                        out.append(int(p))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return out


def live_in_state(d):
    """Ids the state file says run ('+' without '-')."""
    live = set()
    for line in Path(str(d.sock) + ".state").read_text().splitlines()[1:]:
        f = line.split()
        if f[0] == "+":
            live.add(int(f[1]))
        elif f[0] == "-":
            live.discard(int(f[1]))
    return live


def test_state_file_stays_bounded(make_daemon):
    """Regression: a failed exec was journaled and never struck out, so
    any user could grow the state file without bound.  Every process
    that ended leaves nothing live in it."""
    d = make_daemon()
    for i in range(30):
        assert d.ctl("run", "/nonexistent/%d" % i, "x" * 200).returncode == 1
        assert d.ctl("run", "true").returncode == 0
    keep = run(d, "--detach", "sleep", "3110")
    wait_for(lambda: len(live_in_state(d)) == 1,
             describe=lambda: Path(str(d.sock) + ".state").read_text())
    assert d.ctl("close", keep).returncode == 0
    wait_for(lambda: not live_in_state(d))


def test_leftovers_of_a_process_that_ended_meanwhile_are_killed(make_daemon):
    """After a crash of both, a process whose main pid has ended is not
    adopted, and what it left behind in its cgroup is killed: nothing
    started through procctld runs on unmanaged."""
    d = make_daemon()
    flag = d.tmp / "go"
    main = run(d, "--detach", "sh", "-c",
               "sleep 3111 & while [ ! -e %s ]; do sleep 0.02; done" % flag)
    wait_for(lambda: [p for p in alive_with("sleep 3111") if p != main])
    srv = d.server_pid
    os.kill(d.proc.pid, signal.SIGKILL)
    os.kill(srv, signal.SIGKILL)
    d.proc.wait()
    flag.touch()            # the main process ends while nobody manages it
    wait_for(lambda: not alive(main))
    assert alive_with("sleep 3111"), "the leftover went with its parent"
    d.start()
    # Not adopted (gone), or adopted as a zombie nobody reaped and seen
    # to end at once: either way its leftovers are killed.
    wait_for(lambda: not alive_with("sleep 3111"))
    assert proc_state(d, main) in (None, "exited")


def test_upgrade_to_a_broken_binary_is_refused(make_daemon, tmp_path):
    """The binary on disk must pass -t before the monitor re-executes it:
    a broken one is refused, and procctld goes on (a new server, the same
    processes)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "procctld"
    shutil.copy(PROCCTLD, exe)
    d = make_daemon(default_ini().replace("plugin_dir = %s" % PLUGINS,
                                          "plugin_dir = %s" % PLUGINS),
                    binary=exe)
    a = run(d, "--detach", "sleep", "3112")
    broken = bindir / "procctld.new"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    os.rename(broken, exe)
    old = d.server_pid
    assert d.ctl("daemon", "upgrade").returncode == 0
    d.wait_log(r"upgrade: .* -t failed .*not upgrading")
    restarted(d, old)
    assert d.proc.poll() is None
    assert proc_state(d, a) == "running" and alive(a)
    assert d.ctl("close", a).returncode == 0


def cgroup_root():
    """The cgroup2 directory procctld's monitor would make its own in (our
    own cgroup, as the daemon inherits it), or None."""
    mnt = None
    for line in open("/proc/self/mountinfo"):
        if " - cgroup2 " in line:
            mnt = line.split()[4]
            break
    own = [l[3:].strip() for l in open("/proc/self/cgroup")
           if l.startswith("0::")]
    if mnt is None or not own:
        return None
    return Path(mnt + (own[0] if own[0] != "/" else ""))


def test_unrecorded_leftovers_of_a_dead_monitor_are_killed(make_daemon):
    """Regression: a monitor killed between a clone and its journal line
    left a process in its leaf that no later procctld ever managed.  A
    leaf of a gone monitor that no record names is killed."""
    root = cgroup_root()
    if root is None:
        pytest.skip("no cgroup2 here")
    d = make_daemon()
    a = run(d, "--detach", "sleep", "3113")
    # The monitor's directory, and in it a leaf no record names, holding
    # a process of ours: what that window leaves behind.
    mondir = [p for p in root.iterdir()
              if p.name.startswith("procctl-%d-" % d.proc.pid)][0]
    stray = mondir / "p999"
    stray.mkdir()
    other = subprocess.Popen(["sleep", "3114"])
    try:
        (stray / "cgroup.procs").write_text("%d\n" % other.pid)
        d.kill_hard()
        d.start()
        d.wait_log(r"killing what is left in %s/p999: no record names it"
                   % mondir.name)
        wait_for(lambda: other.poll() is not None)
        assert row(d, a)["adopted"] is True and alive(a)
        assert d.ctl("close", a).returncode == 0
    finally:
        if other.poll() is None:
            other.kill()
        other.wait()


def test_processes_of_a_plugin_not_loaded_run_on(make_daemon):
    """Regression: a server restarted without the plugin that started a
    process killed it.  It runs on, unmanaged, and is handed over when
    the plugin is loaded."""
    d = make_daemon()
    a = run(d, "--detach", "sleep", "3115")
    good = d.ini.read_text()
    d.ini.write_text(good.replace("path = proc.so", "path = proc.so.typo"))
    d.proc.send_signal(signal.SIGHUP)        # the monitor takes the new text
    d.wait_log(r"SIGHUP: \[access\] policy reloaded")
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    restarted(d, old)
    d.wait_log(r"pid %d was started by plugin proc, which is not loaded: "
               r"it runs on" % a)
    assert alive(a)
    d.ini.write_text(good)
    r = d.ctl("plugin", "load", "proc")
    assert r.returncode == 0, r.stderr
    d.wait_log(r"plugin proc: 1 running process handed over")
    assert row(d, a)["state"] == "running"
    assert d.ctl("close", a).returncode == 0
    assert not alive(a)


def test_state_file_traps_and_leftovers(make_daemon, tmp_path):
    """Regressions: a FIFO planted at the state file's path hung the
    monitor at start; rewrites a crash interrupted were never removed.
    The monitor's cgroup names its start time (a later monitor with the
    same pid is not it)."""
    sock = tmp_path / "t" / "procctl.sock"
    sock.parent.mkdir()
    os.mkfifo(str(sock) + ".state")
    tmp = Path(str(sock) + ".state.Ab12Cd")
    tmp.write_text("procctl-state 1 x\n+ 1 1 1 1 1 - proc -\n")
    d = make_daemon(sock=sock)          # starts: waits for its log line
    assert not tmp.exists(), "an interrupted rewrite was left"
    d.wait_log(r"state file \S+\.state: (open|not ours)")
    a = run(d, "--detach", "sleep", "3116")
    cg = row(d, a)["cgroup"]
    with open("/proc/%d/stat" % d.proc.pid) as f:
        start = f.read().rsplit(")", 1)[1].split()[19]
    assert "/procctl-%d-%s/" % (d.proc.pid, start) in cg, cg
    assert d.ctl("close", a).returncode == 0


def test_stop_during_an_upgrade_stops(make_daemon):
    """Regression: a SIGTERM that came while the old server was going away
    for an upgrade was forwarded to it and forgotten: procctld upgraded
    and ran on.  The stop wins (exit 0, processes ended)."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    d = make_daemon()
    a = run(d, "--detach", "sleep", "3117")
    srv = d.server_pid
    # Hold the old server in its exit (after its MON_UPGRADE) while the
    # SIGTERM comes.
    tracer = subprocess.Popen(
        ["strace", "-qq", "-p", str(srv), "-e", "trace=exit_group", "-e",
         "inject=exit_group:delay_enter=1500000", "-o", "/dev/null"])
    try:
        wait_for(lambda: "TracerPid:\t0" not in
                 open("/proc/%d/status" % srv).read())
        assert d.ctl("daemon", "upgrade").returncode == 0
        d.wait_log(r"upgrade asked by")
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=60) == 0
        d.wait_log(r"upgrade: a stop was asked meanwhile: stopping")
        wait_for(lambda: not alive(a))
    finally:
        tracer.kill()
        tracer.wait()


def test_another_daemons_survivors_are_not_swept(make_daemon):
    """Regression: a procctld starting while another (in the same cgroup)
    lay crashed killed that one's processes as unrecorded leftovers.  A
    monitor sweeps only the leaves of the monitor its own state file
    names."""
    a = make_daemon()
    kept = run(a, "--detach", "sleep", "3118")
    a.kill_hard()
    b = make_daemon()                   # another socket, the same cgroup
    assert b.ctl("ping").stdout == "PONG\n"
    assert "killing what is left" not in b.log()
    assert alive(kept), "another daemon's survivor was killed"
    a.start()
    assert row(a, kept)["adopted"] is True
    assert a.ctl("close", kept).returncode == 0


def test_a_restarted_server_that_cannot_start_ends_nothing(make_daemon,
                                                           tmp_path):
    """Regression: a server restarted after a crash that fails in its
    start (here: a program's env_file is gone, so proc refuses its
    configuration) used to tell the monitor to shut down, which ended
    every process.  Now the processes run on, the monitor retries, and
    a server starts again once the file is back."""
    envf = tmp_path / "web.env"
    envf.write_text("MODE=x\n")
    d = make_daemon(default_ini() + """
[program:web]
command = sleep 3601
start_secs = 0
env_file = %s
""" % envf)
    wait_for(lambda: '"RUNNING"' in d.ctl("status", json=True).stdout)
    pid = json.loads(d.ctl("status", json=True).stdout)[0]["pid"]
    other = int(d.ctl("run", "--detach", "sleep", "3602").stdout)
    envf.unlink()
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    d.wait_log(r"the server cannot start: a file it needs is unusable")
    assert d.proc.poll() is None
    assert os.path.exists("/proc/%d" % pid) and \
        os.path.exists("/proc/%d" % other)
    envf.write_text("MODE=x\n")
    wait_for(lambda: d.ctl("ping").stdout == "PONG\n", timeout=60)
    s = json.loads(d.ctl("status", json=True).stdout)[0]
    assert s["pid"] == pid and s["state"] == "RUNNING", s
    assert d.ctl("close", str(other)).returncode == 0
