"""Configured programs ([program:NAME]): autostart, restart policies with
growing delays, the start limit and FATAL, start/stop/restart answered
when done, status and why, a bad section refused with file and line, and
programs that survive a server restart.  Real daemon, real programs."""
import json
import os
import pwd
import re
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import PROCCTLD, default_ini, wait_for


def prog_ini(body, proc=""):
    return default_ini(proc=proc) + "\n" + body


def status(d, name=None):
    r = d.ctl("status", *( [name] if name else []), json=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    rows = rows if isinstance(rows, list) else [rows]
    return {row["name"]: row for row in rows}


def state(d, name):
    return status(d)[name]["state"]


def wait_state(d, name, want, timeout=60):
    return wait_for(lambda: state(d, name) == want, timeout=timeout,
                    describe=lambda: "%s is %s, not %s" % (
                        name, state(d, name), want))


def why(d, name):
    r = d.ctl("why", name, json=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_autostart_status_stop_start_restart(make_daemon, tmp_path):
    d = make_daemon(prog_ini("""
[program:web]
command = /bin/sh -c "exec sleep 3201"
start_secs = 0.2

[program:idle]
command = sleep 3202
autostart = no
"""))
    wait_state(d, "web", "RUNNING")
    s = status(d)
    assert s["idle"]["state"] == "STOPPED" and s["idle"]["pid"] is None
    pid = s["web"]["pid"]
    assert pid > 0 and os.path.exists("/proc/%d" % pid)
    # Programs are processes like any other: listed by name.
    assert any(r["pid"] == pid and r["name"] == "web" for r in
               json.loads(d.ctl("list", json=True).stdout))
    # stop answers once it is stopped.
    r = d.ctl("stop", "web")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists("/proc/%d" % pid) or \
        open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z"
    assert state(d, "web") == "STOPPED"
    # start answers once it is up (start_secs), with its status.
    r = d.ctl("start", "web", "idle", json=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["state"] for x in rows] == ["RUNNING", "RUNNING"]
    # restart: a new pid.
    before = status(d)["web"]["pid"]
    r = d.ctl("restart", "web", json=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] != before
    r = d.ctl("stop", "all")
    assert r.returncode == 0, r.stderr
    assert {x["state"] for x in status(d).values()} == {"STOPPED"}
    # Unknown names are an error, not silence.
    r = d.ctl("start", "nope")
    assert r.returncode != 0 and "no program named 'nope'" in r.stderr


def test_crash_restarts_with_growing_delays_then_fatal(make_daemon):
    d = make_daemon(prog_ini("""
[program:crash]
command = /bin/sh -c 'exit 3'
start_secs = 1
backoff = 100ms..800ms
start_limit = 3/60s
"""))
    wait_state(d, "crash", "FATAL")
    w = why(d, "crash")
    assert "4 failed starts within 60 s (start_limit)" in w["reason"], w
    runs = w["runs"]
    assert len(runs) == 4
    assert all("exited with status 3" in r["how"] for r in runs), runs
    delays = [float(re.search(r"restart in ([\d.]+) s", r["decision"])
                    .group(1)) for r in runs[:3]]
    # Each delay grows (doubling, with 10 % jitter either way).
    assert delays[0] < delays[1] < delays[2], delays
    assert runs[3]["decision"].startswith("FATAL"), runs[3]
    # why by the pid of one of its runs.
    assert all(isinstance(r["pid"], int) for r in runs), runs
    assert why(d, str(runs[1]["pid"]))["name"] == "crash"
    assert d.ctl("why", "999999").returncode != 0
    assert status(d)["crash"]["restarts"] == 3
    # start clears FATAL and tries again; it fails the same way and says so.
    r = d.ctl("start", "crash")
    assert r.returncode != 0
    assert "crash: exited with status 3" in r.stderr and "start_limit" in \
        r.stderr, r.stderr
    assert len(why(d, "crash")["runs"]) == 8


def test_restart_policies(make_daemon):
    d = make_daemon(prog_ini("""
[program:ok]
command = /bin/true
start_secs = 0
restart = on-failure

[program:fine]
command = /bin/sh -c 'exit 2'
start_secs = 0
restart = on-failure
exit_codes = 0, 2

[program:again]
command = /bin/true
start_secs = 0
restart = always
backoff = 100ms..100ms
start_limit = 30/60s

[program:never]
command = /bin/sh -c 'exit 1'
start_secs = 0
restart = no
"""))
    wait_state(d, "ok", "EXITED")
    wait_state(d, "fine", "EXITED")
    wait_state(d, "never", "EXITED")
    assert "exited with status 1" in status(d)["never"]["reason"]
    # always: restarted after a clean exit, again and again.
    wait_for(lambda: status(d)["again"]["restarts"] >= 3)
    assert status(d)["ok"]["restarts"] == 0
    assert why(d, "ok")["runs"][-1]["decision"] == \
        "not restarted (restart = on-failure)"


def test_stop_timeout_and_signal(make_daemon):
    d = make_daemon(prog_ini("""
[program:stubborn]
command = /bin/sh -c "trap '' TERM; while :; do sleep 0.1; done"
start_secs = 0.1
stop_timeout = 0.5

[program:gentle]
command = /bin/sh -c "trap 'exit 0' INT; while :; do sleep 0.1; done"
start_secs = 0.1
stop_signal = INT
"""))
    wait_state(d, "stubborn", "RUNNING")
    wait_state(d, "gentle", "RUNNING")
    r = d.ctl("stop", "stubborn", "gentle")
    assert r.returncode == 0, r.stderr
    runs = why(d, "stubborn")["runs"]
    assert runs[-1]["how"].startswith("killed by SIGKILL (did not end "
                                      "within stop_timeout)"), runs[-1]
    d.wait_log(r"program stubborn did not stop within 500 ms of TERM: "
               r"SIGKILL")
    assert "exited with status 0" in why(d, "gentle")["runs"][-1]["how"]


def test_program_settings_applied(make_daemon, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to run as another user")
    # A directory nobody can write to that is not under pytest's own.
    out = Path(tempfile.mkdtemp(prefix="procctl-test-"))
    os.chmod(out, 0o777)
    d = make_daemon(prog_ini("""
[program:env]
command = /bin/sh -c 'echo "$GREETING|$MODE|$(pwd)|$(id -un)|$(umask)" > %s/env; exec sleep 3203'
directory = /tmp
user = nobody
environment = MODE=prod GREETING="hello world"
umask = 027
start_secs = 0.1
""" % out))
    wait_state(d, "env", "RUNNING")
    wait_for(lambda: (out / "env").exists() and
             (out / "env").read_text().endswith("\n"))
    assert (out / "env").read_text() == "hello world|prod|/tmp|nobody|0027\n"
    pid = status(d)["env"]["pid"]
    with open("/proc/%d/status" % pid) as f:
        uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
    assert int(uid) == pwd.getpwnam("nobody").pw_uid


def test_bad_sections_refused_with_file_and_line(make_daemon, tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text(prog_ini("""
[program:a]
command = /bin/true
restrat = always

[program:b]
command = "unclosed

[program:c]
backoff = 5s..1s
"""))
    for args in (["-t"], ["-s", str(tmp_path / "s.sock")]):
        r = subprocess.run([str(PROCCTLD), "-c", str(ini)] + args,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 78, r.stderr
        assert re.search(r"bad\.ini:\d+: \[program:a\] restrat = always: "
                         r"unknown key", r.stderr), r.stderr
        assert "[program:b] command = \"unclosed: an unclosed quote" in \
            r.stderr
        assert "[program:c] backoff = 5s..1s: expected MIN..MAX" in r.stderr
        assert "[program:c] needs a command" not in r.stderr


def test_transitions_are_events(make_daemon):
    d = make_daemon(prog_ini("""
[program:blip]
command = /bin/sh -c 'exit 1'
start_secs = 0.5
backoff = 100ms..100ms
start_limit = 1/60s
autostart = no
"""))
    c = d.raw()
    c.call("HELLO", "3")
    assert c.call("SUBSCRIBE") == "OK"
    r = d.ctl("start", "blip")
    assert r.returncode != 0
    seen = []
    while len(seen) < 4:
        m = c.read()
        if m[:2] == [b"event", b"program"]:
            seen.append((m[2]["from"].decode(), m[2]["to"].decode()))
    assert seen == [("STOPPED", "STARTING"), ("STARTING", "BACKOFF"),
                    ("BACKOFF", "STARTING"), ("STARTING", "FATAL")], seen


def test_programs_survive_a_server_restart(make_daemon):
    d = make_daemon(prog_ini("""
[program:keep]
command = sleep 3204
start_secs = 0.1
"""))
    wait_state(d, "keep", "RUNNING")
    pid = status(d)["keep"]["pid"]
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: d.ctl("ping").stdout == "PONG\n" and
             d.server_pid != old)
    s = status(d)["keep"]
    assert s["state"] == "RUNNING" and s["pid"] == pid, s
    # Not started a second time by autostart.
    assert [r["pid"] for r in json.loads(d.ctl("list", json=True).stdout)
            if r["name"] == "keep"] == [pid]
    assert d.ctl("stop", "keep").returncode == 0
    assert state(d, "keep") == "STOPPED"


def test_numprocs_instances(make_daemon, tmp_path):
    """numprocs = 3: three programs, worker:0..2, each with its number in
    its command line, controllable one by one and together."""
    envf = tmp_path / "env"
    envf.write_text("# shared\nA=1\nB=from-file\n\n")
    d = make_daemon(prog_ini("""
[program:worker]
command = /bin/sh -c "exec sleep 32%%(process_num)02d"
numprocs = 3
start_secs = 0.1
env_file = %s
environment = B=override
""" % envf))
    for i in range(3):
        wait_state(d, "worker:%d" % i, "RUNNING")
    s = status(d)
    assert sorted(s) == ["worker:0", "worker:1", "worker:2"]
    for i in range(3):
        assert s["worker:%d" % i]["command"].endswith("sleep 32%02d\"" % i)
        with open("/proc/%d/cmdline" % s["worker:%d" % i]["pid"]) as f:
            assert f.read().split("\0")[:2] == ["sleep", "32%02d" % i]
    with open("/proc/%d/environ" % s["worker:1"]["pid"]) as f:
        env = f.read().split("\0")
    assert "A=1" in env and "B=override" in env, env
    # One instance, then all of them by the group's name.
    assert d.ctl("stop", "worker:1").returncode == 0
    s = status(d)
    assert [s["worker:%d" % i]["state"] for i in range(3)] == \
        ["RUNNING", "STOPPED", "RUNNING"]
    r = d.ctl("restart", "worker", json=True)
    assert r.returncode == 0, r.stderr
    assert [x["state"] for x in json.loads(r.stdout)] == ["RUNNING"] * 3
    assert d.ctl("stop", "worker").returncode == 0
    assert {x["state"] for x in status(d).values()} == {"STOPPED"}


def test_numprocs_start(make_daemon):
    """supervisord's numprocs_start: instances numbered from it."""
    d = make_daemon(prog_ini("""
[program:q]
command = sleep 33%(process_num)02d
numprocs = 2
numprocs_start = 5
start_secs = 0
"""))
    wait_state(d, "q:5", "RUNNING")
    wait_state(d, "q:6", "RUNNING")
    s = status(d)
    assert sorted(s) == ["q:5", "q:6"]
    with open("/proc/%d/cmdline" % s["q:6"]["pid"]) as f:
        assert f.read().split("\0")[:2] == ["sleep", "3306"]


def test_requires_and_after(make_daemon):
    """requires: started after what it requires is up, stopped before it
    stops; a required program that is FATAL fails its dependents with
    the reason.  after: ordering only."""
    d = make_daemon(prog_ini("""
[program:web]
command = sleep 3205
requires = db
after = cache
start_secs = 0.1
autostart = no

[program:db]
command = sleep 3206
start_secs = 0.4
autostart = no

[program:cache]
command = sleep 3207
start_secs = 0.2

[program:bad]
command = /bin/false
start_secs = 0.2
start_limit = 1/60s
backoff = 100ms..100ms
autostart = no

[program:needsbad]
command = sleep 3208
requires = bad
autostart = no
"""))
    wait_state(d, "cache", "RUNNING")
    c = d.raw()
    c.call("HELLO", "3")
    assert c.call("SUBSCRIBE") == "OK"
    # Only web is asked for: db is started for it, and first.
    r = d.ctl("start", "web")
    assert r.returncode == 0, r.stderr
    s = status(d)
    assert s["db"]["state"] == "RUNNING" and s["web"]["state"] == "RUNNING"

    def started(pid):
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    assert started(s["db"]["pid"]) <= started(s["web"]["pid"])
    # Stopping db stops web first.
    assert d.ctl("stop", "db").returncode == 0
    order = []
    while len(order) < 2:
        m = c.read()
        if m[:2] == [b"event", b"program"] and m[2]["to"] == b"STOPPED":
            order.append(m[2]["name"].decode())
    assert order == ["web", "db"], order
    r = d.ctl("start", "needsbad")
    assert r.returncode != 0
    assert "needsbad: requires bad, which is FATAL" in r.stderr, r.stderr


def test_bad_dependencies_refused(make_daemon, tmp_path):
    for body, msg in [
            ("[program:a]\ncommand = true\nrequires = nope\n",
             "[program:a] requires = nope: no program named 'nope'"),
            ("[program:a]\ncommand = true\nrequires = b\n"
             "[program:b]\ncommand = true\nafter = a\n",
             "requires or comes after itself (a cycle)")]:
        ini = tmp_path / "dep.ini"
        ini.write_text(prog_ini(body))
        r = subprocess.run([str(PROCCTLD), "-t", "-c", str(ini)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 78 and msg in r.stderr, r.stderr


def test_reload(make_daemon):
    """reload: a changed program is restarted, an unchanged one keeps its
    pid, a new one starts (autostart), a removed one stops and is gone;
    --dry-run says so and changes nothing; a broken file changes nothing
    and says why.  SIGHUP does the same."""
    first = """
[program:keep]
command = sleep 3211
start_secs = 0.1

[program:change]
command = sleep 3212
start_secs = 0.1

[program:drop]
command = sleep 3213
start_secs = 0.1
"""
    d = make_daemon(prog_ini(first))
    for n in ("keep", "change", "drop"):
        wait_state(d, n, "RUNNING")
    before = {n: r["pid"] for n, r in status(d).items()}
    second = """
[program:keep]
command = sleep 3211
start_secs = 0.1

[program:change]
command = sleep 3214
start_secs = 0.1

[program:new]
command = sleep 3215
start_secs = 0.1
"""
    d.ini.write_text(prog_ini(second))
    r = d.ctl("reload", "--dry-run", json=True)
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(r.stdout)) == [
        "would add new (new, autostart)",
        "would remove drop (gone from the file: stopped)",
        "would update change (changed: restarted)"]
    assert {n: r["pid"] for n, r in status(d).items()} == before
    r = d.ctl("reload", json=True)
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(r.stdout)) == [
        "added new (new, autostart)",
        "removed drop (gone from the file: stopped)",
        "updated change (changed: restarted)"]
    wait_state(d, "new", "RUNNING")
    wait_for(lambda: status(d)["change"]["state"] == "RUNNING" and
             status(d)["change"]["pid"] != before["change"])
    s = status(d)
    assert sorted(s) == ["change", "keep", "new"]
    assert s["keep"]["pid"] == before["keep"]
    assert s["change"]["command"] == "sleep 3214"
    wait_for(lambda: not os.path.exists("/proc/%d/cmdline" %
                                        before["drop"]) or
             open("/proc/%d/cmdline" % before["drop"]).read() == "")
    # A broken file: nothing changes, and the reply says so.
    d.ini.write_text(prog_ini(second + "\n[program:bad]\nrestrat = no\n"))
    r = d.ctl("reload")
    assert r.returncode != 0 and "was not reloaded: it has errors" in \
        r.stderr, r.stderr
    d.wait_log(r"\[program:bad\] restrat = no: unknown key")
    assert sorted(status(d)) == ["change", "keep", "new"]
    # SIGHUP reloads programs too.
    d.ini.write_text(prog_ini(second.replace("3215", "3216")))
    pid = status(d)["new"]["pid"]
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"SIGHUP: updated new \(changed: restarted\)")
    wait_for(lambda: status(d)["new"]["pid"] not in (None, pid) and
             status(d)["new"]["state"] == "RUNNING")


def test_restart_of_a_requirement_brings_dependents_back(make_daemon):
    d = make_daemon(prog_ini("""
[program:web]
command = sleep 3221
requires = db
start_secs = 0.1

[program:db]
command = sleep 3222
start_secs = 0.1
"""))
    wait_state(d, "web", "RUNNING")
    before = {n: r["pid"] for n, r in status(d).items()}
    assert d.ctl("restart", "db").returncode == 0
    wait_state(d, "web", "RUNNING")
    after = {n: r["pid"] for n, r in status(d).items()}
    assert after["db"] != before["db"] and after["web"] != before["web"]
