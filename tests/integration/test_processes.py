"""The process engine: procctld is a monitor (the parent of every managed
process) and a server; a process starts clean, its whole tree ends with
it, and a child stopped before its exec freezes nobody."""
import os
import shutil
import signal
import subprocess
import pytest

from conftest import PROCCTL, default_ini, stopped_child, wait_for
from test_programs import status


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(c) for c in f.read().split()]


def alive_with(marker):
    """Pids whose command line contains MARKER."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(p))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def test_monitor_and_server_are_two_processes(daemon):
    assert open("/proc/%d/cmdline" % daemon.proc.pid).read().startswith(
        "procctld: monitor")
    srv = daemon.server_pid
    assert open("/proc/%d/cmdline" % srv).read().startswith(
        "procctld: server")
    # The monitor is the parent of managed processes, not the server.
    pid = int(daemon.ctl("run", "sleep", "60").stdout)
    assert pid in children(daemon.proc.pid)
    assert pid not in children(srv)


def test_a_child_starts_clean(make_daemon, tmp_path):
    # A secret in the daemon's environment, its fds and its cwd: none
    # reaches a child.  (tests/unit/test_monitor.c also checks an fd the
    # monitor inherited.)
    d = make_daemon(prefix=["env", "PROCCTL_TEST_SECRET=s3cret"])
    out = tmp_path / "out"
    here = tmp_path / "here"
    here.mkdir()
    script = ("env > {o}.env; pwd > {o}.cwd; umask > {o}.umask; "
              "ls /proc/self/fd > {o}.fds; cat /proc/self/limits > {o}.lim"
              .format(o=out))
    r = subprocess.run([str(PROCCTL), "-s", str(d.sock), "run", "sh", "-c",
                        script], capture_output=True, text=True, cwd=here)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: (tmp_path / "out.lim").exists() and
             (tmp_path / "out.lim").stat().st_size > 0)
    env = dict(line.split("=", 1) for line in
               (tmp_path / "out.env").read_text().splitlines() if "=" in line)
    assert "PROCCTL_TEST_SECRET" not in env
    assert env["PATH"].split(":")[-3:] == ["/usr/local/bin", "/usr/bin",
                                           "/bin"]
    assert env["HOME"] and env["USER"] and env["LOGNAME"] and env["SHELL"]
    # Where the caller was, entered as the caller.
    assert (tmp_path / "out.cwd").read_text().strip() == str(here)
    assert (tmp_path / "out.umask").read_text().strip() == "0022"
    # 0, 1, 2 and the directory ls itself reads.
    assert len((tmp_path / "out.fds").read_text().split()) == 4
    lim = (tmp_path / "out.lim").read_text()
    assert [l for l in lim.splitlines() if l.startswith("Max open files")
            ][0].split()[3] == "1024"


def test_no_stray_fds_with_many_processes(make_daemon):
    # The monitor holds three fds for each running process (a pidfd and
    # the read ends of its stdout and stderr: output = ring, the default)
    # and clones each child through a trampoline that copies only the
    # fds below the child's own.  With hundreds running, a child still
    # starts with 0, 1 and 2 (its own pipes), and fd:N when it asks, and
    # nothing else of the monitor's.
    n = 300
    mark = "3006.%d" % os.getpid()
    d = make_daemon(default_ini() + """
[program:late]
command = /bin/sh -c 'echo >&5; exec sleep 3007.%d'
ready = fd:5
autostart = no
""" % os.getpid())
    c = d.raw()
    pids = [c.call("run", "sleep", mark) for _ in range(n)]
    assert all(isinstance(p, int) and p > 0 for p in pids), pids[:5]
    mon = d.proc.pid
    held = [int(f) for f in os.listdir("/proc/%d/fd" % mon)]
    assert len(held) >= 3 * n, len(held)
    # What keeps a spawn's cost flat: the fds the monitor keeps are out
    # of the low range, where each spawn's own are made.
    assert len([f for f in held if f < 64]) < 32, sorted(held)[:64]

    def table(pid):
        """PID's fds, as they settle: a program may hold one for a moment
        of its own (sleep reads its locale at start)."""
        d = "/proc/%d/fd" % pid
        try:
            return {int(f): os.readlink(os.path.join(d, f)) for f in
                    os.listdir(d)}
        except FileNotFoundError:
            return {}

    def settled(pid, want):
        got = {}

        def same():
            got.clear()
            got.update(table(pid))
            return sorted(got) == want
        try:
            wait_for(same, timeout=30)
        except AssertionError:
            pass
        return dict(got)
    for pid in (pids[0], pids[-1], c.call("run", "sleep", mark)):
        fds = settled(pid, [0, 1, 2])
        assert sorted(fds) == [0, 1, 2], fds
        assert fds[0] == "/dev/null", fds
        assert fds[1].startswith("pipe:") and fds[2].startswith("pipe:") \
            and fds[1] != fds[2], fds
    assert d.ctl("start", "late").returncode == 0
    pid = wait_for(lambda: status(d, "late")["late"]["pid"])
    fds = settled(pid, [0, 1, 2, 5])
    assert sorted(fds) == [0, 1, 2, 5], fds
    assert fds[5].startswith("pipe:"), fds


def test_env_option(daemon, tmp_path):
    out = tmp_path / "env"
    r = daemon.ctl("run", "--env", "A=1", "-e", "B=two words", "--env",
                   "PATH=/bin", "sh", "-c", "env > %s" % out)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: out.exists() and "PATH=" in out.read_text())
    env = out.read_text().splitlines()
    assert "A=1" in env and "B=two words" in env and "PATH=/bin" in env
    r = daemon.ctl("run", "--env", "NOEQUALS", "true")
    assert r.returncode == 2 and "expected NAME=VALUE" in r.stderr


def test_cwd_option(daemon, tmp_path):
    out = tmp_path / "pwd"
    r = daemon.ctl("run", "--cwd", "/", "sh", "-c", "pwd > %s" % out)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: out.exists() and out.read_text() == "/\n")
    r = daemon.ctl("run", "--cwd", "/nonexistent-dir", "true")
    assert r.returncode == 1 and "no such file or directory" in r.stderr


def test_close_ends_the_whole_tree(daemon):
    # A backgrounded grandchild and one that made its own session: both
    # leave the process group, neither leaves the cgroup.  Durations
    # unique to this run: another suite may run beside this one.
    a, b, c = ("%d.%d" % (n, os.getpid()) for n in (3001, 3002, 3003))
    pid = int(daemon.ctl("run", "sh", "-c", "(sleep %s &); setsid sleep "
                         "%s & exec sleep %s" % (a, b, c)).stdout)
    wait_for(lambda: len(alive_with("sleep\x00" + a)) == 1 and
             len(alive_with("sleep\x00" + b)) == 1)
    r = daemon.ctl("close", str(pid))
    assert r.returncode == 0, r.stderr
    if open("/proc/self/mountinfo").read().find(" cgroup2 ") == -1:
        pytest.skip("no cgroup2 here: only the process group is ended")
    assert alive_with("sleep\x00" + a) == []
    assert alive_with("sleep\x00" + b) == []
    assert alive_with("sleep\x00" + c) == []


def test_leftovers_end_with_the_main_process(daemon):
    if open("/proc/self/mountinfo").read().find(" cgroup2 ") == -1:
        pytest.skip("no cgroup2 here")
    c = daemon.raw()
    c.call("HELLO", "3")
    c.call("SUBSCRIBE")
    left = "3004.%d" % os.getpid()
    pid = daemon.raw().call("run", "sh", "-c", "(sleep %s &); exit 0" % left)
    # The exit event comes once the whole tree is gone.
    while True:
        ev = c.read()
        if ev[1] in (b"exited", b"killed") and ev[2]["pid"] == pid:
            break
    assert ev[2]["exit_code"] == 0
    assert alive_with("sleep\x00" + left) == []


def test_a_child_stopped_before_exec_freezes_nobody(daemon):
    # The attack: a child stopped between fork and exec (strace stops it at
    # its execve).  The daemon answers everyone meanwhile, and the run
    # gets its answer once the child goes on.
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    mon = daemon.proc.pid
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-p", str(mon), "-e", "trace=execve", "-e",
         "inject=execve:signal=SIGSTOP:when=1", "-o", "/dev/null"],
        stderr=subprocess.DEVNULL)
    try:
        # Attached: the monitor shows as traced.
        wait_for(lambda: open("/proc/%d/status" % mon).read().find(
            "TracerPid:\t0\n") == -1)
        run = subprocess.Popen([str(PROCCTL), "-s", str(daemon.sock), "run",
                                "sleep", "3005"], stdout=subprocess.PIPE,
                               text=True)
        stuck = [stopped_child(mon)]
        # Everyone else is served while it is stopped.
        assert daemon.ctl("ping").stdout == "PONG\n"
        assert daemon.ctl("add", "1", "2").stdout == "3\n"
        assert run.poll() is None
    finally:
        tracer.terminate()
        tracer.wait(timeout=30)
    for p in stuck:
        os.kill(p, signal.SIGCONT)
    out, _ = run.communicate(timeout=60)
    assert run.returncode == 0 and int(out) == stuck[0]
    daemon.ctl("close", out.strip())
