"""Programs that say when they are ready (ready = notify, ready = fd:N),
start_timeout, limits (memory_max, pids_max, nofile) read back from the
kernel, and `why` telling who ended a run.  Real daemon, real programs."""
import json
import os
import pwd
import re
import socket
import subprocess
import threading

import pytest

from conftest import PROCCTL, PROCCTLD, wait_for
from test_programs import prog_ini, state, status, wait_state, why


NOTIFY = r'''
import os, socket, sys, time
gate, status = sys.argv[1], sys.argv[2]
addr = os.environ["NOTIFY_SOCKET"]
addr = "\0" + addr[1:] if addr.startswith("@") else addr
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(("STATUS=%s\n" % status).encode(), addr)
while not os.path.exists(gate):
    time.sleep(0.02)
s.sendto(b"STATUS=serving\nREADY=1\n", addr)
time.sleep(3600)
'''


def notify_script(tmp_path):
    p = tmp_path / "notify.py"
    p.write_text(NOTIFY)
    os.chmod(tmp_path, 0o755)
    p.chmod(0o644)
    return p


def run_start(d, *names):
    """`procctl start NAMES` in the background: it answers once they are
    ready."""
    return subprocess.Popen([str(PROCCTL), "-s", str(d.sock), "--json", "start",
                             *names], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def transitions(d, name):
    return [(m.group(1), m.group(2), m.group(3)) for m in re.finditer(
        r"program %s: (\w+) -> (\w+) \((.*)\)" % re.escape(name), d.log())]


def test_notify_ready_from_the_process_or_its_child(make_daemon, tmp_path):
    script = notify_script(tmp_path)
    gate1, gate2 = tmp_path / "go1", tmp_path / "go2"
    # The notifier as a child of a shell, as systemd-notify is.
    wrapper = tmp_path / "child.sh"
    wrapper.write_text("/usr/bin/python3 %s %s child-warming\nexit 3\n" %
                       (script, gate2))
    d = make_daemon(prog_ini("""
[program:direct]
command = /usr/bin/python3 %s %s warming-up
ready = notify
autostart = no

[program:child]
command = /bin/sh %s
ready = notify
autostart = no
""" % (script, gate1, wrapper)))
    starter = run_start(d, "direct", "child")
    # Running but not ready: STARTING, what it said so far shown.
    wait_for(lambda: status(d)["direct"]["ready"] ==
             "notify: waiting (warming-up)")
    wait_for(lambda: status(d)["child"]["ready"] ==
             "notify: waiting (child-warming)")
    s = status(d)
    assert s["direct"]["state"] == "STARTING" and s["direct"]["pid"] > 0
    assert s["child"]["state"] == "STARTING"
    assert starter.poll() is None, "start answered before it was ready"
    gate1.touch()
    wait_state(d, "direct", "RUNNING")
    assert starter.poll() is None, "start answered before both were ready"
    gate2.touch()
    out, err = starter.communicate(timeout=60)
    assert starter.returncode == 0, err
    assert [r["state"] for r in json.loads(out)] == ["RUNNING", "RUNNING"]
    s = status(d)
    assert s["direct"]["ready"] == "notify: ready (serving)"
    assert s["child"]["ready"] == "notify: ready (serving)"
    assert ("STARTING", "RUNNING", "ready (READY=1)") in \
        transitions(d, "direct")


TWO_STEPS = r'''
import os, socket, sys, time
addr = os.environ["NOTIFY_SOCKET"]
addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"STATUS=first", addr)
here = os.path.dirname(os.path.abspath(__file__))
for gate, say in ((here + "/go1", b"STATUS=second"),
                  (here + "/go2", b"READY=1\nSTATUS=serving")):
    while not os.path.exists(gate):
        time.sleep(0.02)
    s.sendto(say, addr)
time.sleep(3600)
'''


def test_notify_from_an_outsider_is_ignored(make_daemon, tmp_path):
    script = tmp_path / "two.py"
    script.write_text(TWO_STEPS)
    gate1, gate2 = tmp_path / "go1", tmp_path / "go2"
    d = make_daemon(prog_ini("""
[program:svc]
command = /usr/bin/python3 %s
ready = notify
""" % script))
    wait_for(lambda: status(d)["svc"]["ready"] == "notify: waiting (first)")
    pid = status(d)["svc"]["pid"]
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if kv)
    addr = env[b"NOTIFY_SOCKET"].decode()
    assert addr.startswith("@")
    # The test process is not of its tree: a forged READY=1 is dropped.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"READY=1\nSTATUS=forged\n", "\0" + addr[1:])
    # Then the process itself says something that is not READY=1;
    # datagrams are read in order, so once its word is seen the forged
    # one was judged: still STARTING, and not "forged".
    gate1.touch()
    wait_for(lambda: status(d)["svc"]["ready"] != "notify: waiting (first)")
    s = status(d)["svc"]
    assert s["state"] == "STARTING", s
    assert s["ready"] == "notify: waiting (second)", s
    gate2.touch()
    wait_state(d, "svc", "RUNNING")
    assert status(d)["svc"]["ready"] == "notify: ready (serving)"


def test_fd_readiness(make_daemon, tmp_path):
    gate = tmp_path / "go"
    d = make_daemon(prog_ini("""
[program:s6style]
command = /bin/sh -c 'while [ ! -e %s ]; do sleep 0.02; done; echo >&5; exec sleep 3301'
ready = fd:5
""" % gate))
    wait_for(lambda: status(d)["s6style"]["pid"] is not None)
    assert status(d)["s6style"]["state"] == "STARTING"
    assert status(d)["s6style"]["ready"] == "fd:5: waiting"
    pid = status(d)["s6style"]["pid"]
    # fd 5 is a pipe; nothing else of the daemon's leaked in.
    fds = sorted(int(x) for x in os.listdir("/proc/%d/fd" % pid))
    assert fds == [0, 1, 2, 5], fds
    assert os.readlink("/proc/%d/fd/5" % pid).startswith("pipe:")
    gate.touch()
    wait_state(d, "s6style", "RUNNING")
    assert status(d)["s6style"]["ready"] == "fd:5: ready"
    assert ("STARTING", "RUNNING", "ready (a newline on its fd)") in \
        transitions(d, "s6style")


def test_not_ready_within_start_timeout(make_daemon):
    d = make_daemon(prog_ini("""
[program:mute]
command = sleep 3302
ready = notify
start_timeout = 0.3s
stop_timeout = 5s
start_limit = 1/60s
backoff = 0.1s..0.1s
"""))
    wait_state(d, "mute", "FATAL")
    w = why(d, "mute")
    assert len(w["runs"]) == 2
    for run in w["runs"]:
        assert "terminated by SIGTERM" in run["how"], run
        assert "not ready within start_timeout" in run["how"], run
    assert w["runs"][0]["decision"].startswith("restart in")
    assert w["runs"][1]["decision"] == "FATAL: start_limit"
    assert "start_limit" in w["reason"]
    # start of a FATAL program tries again, and says why it failed.
    r = d.ctl("start", "mute")
    assert r.returncode != 0
    assert "not ready within start_timeout" in r.stderr, r.stderr


def limits_of(pid):
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            for name in ("Max open files", "Max processes",
                         "Max address space"):
                if line.startswith(name):
                    out[name] = line[len(name):].split()[:2]
    return out


def test_limits_applied(make_daemon):
    d = make_daemon(prog_ini("""
[program:boxed]
command = sleep 3303
start_secs = 0
memory_max = 512M
pids_max = 64
nofile = 4096

[program:plain]
command = sleep 3304
start_secs = 0
"""))
    wait_state(d, "boxed", "RUNNING")
    wait_state(d, "plain", "RUNNING")
    s = status(d)
    pid, lim = s["boxed"]["pid"], s["boxed"]["limits"]
    got = limits_of(pid)
    assert got["Max open files"] == ["4096", "4096"]
    if "cgroup memory.max" in lim:
        cg = open("/proc/%d/cgroup" % pid).read()
        path = [l[3:] for l in cg.splitlines() if l.startswith("0::")][0]
        mnt = [l.split()[4] for l in open("/proc/self/mountinfo")
               if " - cgroup2 " in l][0]
        assert open(mnt + path + "/memory.max").read().strip() == \
            str(512 << 20)
        assert got["Max address space"] == ["unlimited", "unlimited"]
    else:
        assert "memory 512M (rlimit AS)" in lim
        assert got["Max address space"] == [str(512 << 20)] * 2
    if "cgroup pids.max" in lim:
        assert got["Max processes"] != ["64", "64"]
    else:
        assert "pids 64 (rlimit NPROC" in lim
        assert got["Max processes"] == ["64", "64"]
    assert lim.endswith("nofile 4096")
    # Without limits: the clean default, soft 1024 open files.
    assert s["plain"]["limits"] is None
    assert limits_of(s["plain"]["pid"])["Max open files"][0] == "1024"


def test_why_says_who_ended_each_run(make_daemon):
    me = pwd.getpwuid(os.geteuid()).pw_name
    d = make_daemon(prog_ini("""
[program:victim]
command = sleep 3305
start_secs = 0
restart = always
backoff = 0.1s..0.1s
"""))
    wait_state(d, "victim", "RUNNING")
    # Killed from outside: a signal, then a restart.
    pid = status(d)["victim"]["pid"]
    os.kill(pid, 9)
    wait_for(lambda: status(d)["victim"]["pid"] not in (None, pid) and
             state(d, "victim") == "RUNNING")
    # Closed with `close` (by whom), then restarted by the policy.
    pid2 = status(d)["victim"]["pid"]
    assert d.ctl("close", str(pid2)).returncode == 0
    wait_for(lambda: status(d)["victim"]["pid"] not in (None, pid2) and
             state(d, "victim") == "RUNNING")
    # Stopped with `stop` (by whom): not restarted.
    assert d.ctl("stop", "victim").returncode == 0
    runs = why(d, "victim")["runs"]
    assert len(runs) == 3
    assert runs[0]["how"].startswith("terminated by SIGKILL")
    assert runs[0]["decision"].startswith("restart in")
    assert runs[1]["how"].startswith("terminated by SIGTERM")
    assert "(closed: %s)" % me in runs[1]["how"]
    assert "(stopped by %s)" % me in runs[2]["how"]
    assert runs[2]["decision"] == "stopped (asked)"
    # The one-shot rendering: the runs as a table under their key.
    r = d.ctl("why", "victim")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    i = lines.index("runs:")
    assert lines[i + 1].split()[:3] == ["PID", "STARTED", "ENDED"]
    assert len(lines) == i + 5


@pytest.mark.parametrize("key,value,expect", [
    ("ready", "fd:2", "expected none, notify or fd:N"),
    ("ready", "sdnotify", "expected none, notify or fd:N"),
    ("memory_max", "12", "expected a size of at least 64K"),
    ("memory_max", "5X", "expected a size of at least 64K"),
    ("pids_max", "0", "expected a count"),
    ("nofile", "-1", "expected a count"),
    ("start_timeout", "0", "expected a duration above 0"),
])
def test_bad_values_refused(make_daemon, tmp_path, key, value, expect):
    ini = tmp_path / "bad.ini"
    ini.write_text(prog_ini("""
[program:x]
command = sleep 1
%s = %s
""" % (key, value)))
    lines = ini.read_text().splitlines()
    line = lines.index("%s = %s" % (key, value)) + 1
    r = subprocess.run([str(PROCCTLD), "-t", "-c", str(ini)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 78, r.stderr
    assert "%s:%d: [program:x] %s = %s: %s" % (ini, line, key, value,
                                                 expect) in r.stderr


def test_transitions_read_as_lines(make_daemon):
    """`procctl events` shows a program's transition as one line: name,
    from → to, and why."""
    d = make_daemon(prog_ini("""
[program:web]
command = sleep 3306
start_secs = 0
"""))
    wait_state(d, "web", "RUNNING")
    ev = subprocess.Popen([str(PROCCTL), "-s", str(d.sock), "events"],
                          stdout=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(ev.stdout),
                              daemon=True)
    reader.start()
    me = pwd.getpwuid(os.geteuid()).pw_name

    def seen():
        if any(l.startswith("[event] web STOPPING") for l in lines):
            return True
        # Not subscribed yet when it happened: again.
        assert d.ctl("restart", "web").returncode == 0
        return False
    try:
        wait_for(seen)
        line = [l for l in lines if l.startswith("[event] web STOPPING")][0]
        assert line.startswith("[event] web STOPPING \u2192 STOPPED "
                               "(terminated by SIGTERM"), line
        assert line.rstrip().endswith("(stopped by %s))" % me), line
    finally:
        ev.kill()
        ev.wait()


def test_oom_kill_is_named(make_daemon):
    d = make_daemon(prog_ini("""
[program:hog]
command = /usr/bin/python3 -c "b = bytearray(1 << 30); import time; time.sleep(60)"
memory_max = 64M
restart = no
start_secs = 0
"""))
    wait_for(lambda: status(d)["hog"]["limits"] is not None and
             state(d, "hog") in ("RUNNING", "EXITED"))
    if "cgroup memory.max" not in status(d)["hog"]["limits"]:
        pytest.skip("no cgroup memory controller for procctld here "
                    "(limits are rlimits): the OOM killer is not involved")
    wait_state(d, "hog", "EXITED")
    how = why(d, "hog")["runs"][-1]["how"]
    assert how.startswith("killed by SIGKILL from the OOM killer "
                          "(memory_max)"), how


def test_requires_waits_for_readiness(make_daemon, tmp_path):
    gate = tmp_path / "go"
    d = make_daemon(prog_ini("""
[program:db]
command = /bin/sh -c 'while [ ! -e %s ]; do sleep 0.02; done; echo >&3; exec sleep 3307'
ready = fd:3

[program:app]
command = sleep 3308
requires = db
start_secs = 0
""" % gate))
    wait_for(lambda: status(d)["db"]["pid"] is not None)
    # db runs but is not ready: app waits, with no process.
    s = status(d)
    assert s["db"]["state"] == "STARTING"
    assert s["app"]["state"] == "STARTING" and s["app"]["pid"] is None
    gate.touch()
    wait_state(d, "app", "RUNNING")
    assert status(d)["db"]["state"] == "RUNNING"
    order = [(n, t) for n, f, t in
             [(m.group(1), m.group(2), m.group(3)) for m in re.finditer(
                 r"program (\w+): (\w+) -> (\w+)", d.log())]
             if t == "RUNNING"]
    assert order == [("db", "RUNNING"), ("app", "RUNNING")], order


def test_readiness_heard_after_plugin_reload(make_daemon, tmp_path):
    """A program waiting for READY=1 while proc is reloaded: the new
    instance hears it (the run is handed over with its notify)."""
    script = notify_script(tmp_path)
    gate = tmp_path / "go"
    d = make_daemon(prog_ini("""
[program:slow]
command = /usr/bin/python3 %s %s loading
ready = notify
""" % (script, gate)))
    wait_for(lambda: status(d)["slow"]["ready"] == "notify: waiting (loading)")
    pid = status(d)["slow"]["pid"]
    r = d.ctl("plugin", "reload", "proc")
    assert r.returncode == 0, r.stderr
    s = status(d)["slow"]
    assert s["state"] == "STARTING" and s["pid"] == pid, s
    assert s["ready"] == "notify: waiting (loading)", s
    gate.touch()
    wait_state(d, "slow", "RUNNING")
    assert status(d)["slow"]["pid"] == pid


def test_late_ready_and_slow_failures(make_daemon, tmp_path):
    """READY=1 after start_timeout has fired changes nothing (the run is
    stopped and fails); a program that fails slower than start_limit's
    window is still FATAL after N+1 failures in a row."""
    say = tmp_path / "say.py"
    say.write_text("import os, socket\n"
                   "a = os.environ['NOTIFY_SOCKET']\n"
                   "socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)"
                   ".sendto(b'READY=1', '\\0' + a[1:])\n")
    late = tmp_path / "late.sh"
    # On SIGTERM (start_timeout), it says it is ready, then ends.
    late.write_text("trap '/usr/bin/python3 %s; exit 0' TERM\n"
                    "while :; do sleep 0.05; done\n" % say)
    d = make_daemon(prog_ini("""
[program:late]
command = /bin/sh %s
ready = notify
start_timeout = 0.3s
start_limit = 2/0.1s
backoff = 0.05s..0.05s
""" % late))
    wait_state(d, "late", "FATAL")
    w = why(d, "late")
    assert len(w["runs"]) == 3, w
    assert "3 failed starts in a row (start_limit)" in w["reason"], w
    assert all("not ready within start_timeout" in r["how"]
               for r in w["runs"]), w
    assert "STARTING -> RUNNING" not in d.log()


def test_ready_then_crashing_ends_fatal(make_daemon):
    d = make_daemon(prog_ini("""
[program:flaky]
command = /bin/sh -c 'echo >&3; exit 1'
ready = fd:3
start_secs = 5
start_limit = 3/60s
backoff = 0.05s..0.05s
"""))
    wait_state(d, "flaky", "FATAL")
    w = why(d, "flaky")
    assert len(w["runs"]) == 4 and w["runs"][-1]["decision"] == \
        "FATAL: start_limit", w
    s = status(d)["flaky"]
    assert s["last_exit"].startswith("exited with status 1"), s


def test_status_text_is_plain(make_daemon, tmp_path):
    script = tmp_path / "say.py"
    script.write_text(r'''
import os, socket, time
a = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto("STATUS=a\x1b[2Jb\x9bc\u202ed\u00e9\n".encode(), "\0" + a[1:])
time.sleep(3600)
''')
    d = make_daemon(prog_ini("""
[program:talk]
command = /usr/bin/python3 %s
ready = notify
""" % script))
    wait_for(lambda: status(d)["talk"]["ready"] != "notify: waiting")
    # ESC, C1 (UTF-8 encoded), a bidi override, even an e-acute: '?'s.
    assert status(d)["talk"]["ready"] == \
        "notify: waiting (a?[2Jb??c???d??)", status(d)["talk"]


def test_readiness_outlives_an_upgrade(make_daemon, tmp_path):
    """`daemon upgrade` re-executes the monitor while a program waits to
    be ready: its fd:N pipe and the notify socket go through the exec,
    so its newline is heard (it used to die of SIGPIPE) and so is its
    READY=1."""
    script = notify_script(tmp_path)
    gate = tmp_path / "go"
    d = make_daemon(prog_ini("""
[program:s6style]
command = /bin/sh -c 'while [ ! -e %s ]; do sleep 0.02; done; echo >&5; exec sleep 3309'
ready = fd:5

[program:sd]
command = /usr/bin/python3 %s %s upgrading
ready = notify
""" % (gate, script, gate)))
    wait_for(lambda: status(d)["sd"]["ready"] == "notify: waiting "
             "(upgrading)" and status(d)["s6style"]["pid"] is not None)
    pids = {n: r["pid"] for n, r in status(d).items()}
    old = d.server_pid
    r = d.ctl("daemon", "upgrade")
    assert r.returncode == 0, r.stderr
    d.wait_log(r"upgrade: re-executing")
    wait_for(lambda: d.server_pid != old and
             d.ctl("ping").stdout == "PONG\n")
    gate.touch()
    wait_state(d, "s6style", "RUNNING")
    wait_state(d, "sd", "RUNNING")
    assert {n: r["pid"] for n, r in status(d).items()} == pids
    assert "SIGPIPE" not in d.log()
