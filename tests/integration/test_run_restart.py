"""`run --restart on-failure|always`: an ad hoc process with a program's
lifecycle: restarted by its policy, seen in status and why, ended for
good by close or stop, and kept (with its policy) across a server
restart.  Real daemon, real programs."""
import json
import os
import signal

from conftest import default_ini, wait_for
from test_programs import state, status, why


def run(d, *args):
    r = d.ctl("run", *args)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def pid_of(d, name):
    return status(d).get(name, {}).get("pid")


def restarted(d, name, old):
    wait_for(lambda: pid_of(d, name) not in (None, old) and
             state(d, name) in ("STARTING", "RUNNING"))
    return pid_of(d, name)


def test_on_failure_restarts_a_crash_not_a_success(make_daemon, tmp_path):
    d = make_daemon(default_ini())
    gate = tmp_path / "done"
    script = tmp_path / "job.sh"
    # Fails until the gate exists, then succeeds.
    script.write_text('while [ ! -e %s ]; do sleep 0.02; done; exit 0\n'
                      % gate)
    pid = run(d, "--restart", "on-failure", "/bin/sh", str(script))
    assert pid_of(d, "sh") == pid
    assert status(d)["sh"]["command"] == "/bin/sh %s" % script
    os.kill(pid, signal.SIGKILL)
    pid2 = restarted(d, "sh", pid)
    # It is a process like any other: listed by the program's name.
    assert any(r["pid"] == pid2 and r["name"] == "sh"
               for r in json.loads(d.ctl("list", json=True).stdout))
    # Up for start_secs (1 s): an exit now is the job's, not a failed
    # start.
    wait_for(lambda: state(d, "sh") == "RUNNING")
    gate.touch()
    wait_for(lambda: state(d, "sh") == "EXITED")
    runs = why(d, "sh")["runs"]
    assert runs[0]["how"].startswith("terminated by SIGKILL")
    assert runs[0]["decision"].startswith("restart in")
    assert runs[1]["how"].startswith("exited with status 0")
    assert runs[1]["decision"] == "not restarted (restart = on-failure)"


def test_close_ends_it_for_good(make_daemon):
    d = make_daemon(default_ini())
    pid = run(d, "--restart", "always", "sleep", "3501")
    r = d.ctl("close", str(pid))
    assert r.returncode == 0, r.stderr
    # Gone, and not started again: no such program any more.
    wait_for(lambda: "sleep" not in status(d))
    assert not any(r["state"] == "running" for r in
                   json.loads(d.ctl("list", json=True).stdout))
    # stop does the same.
    pid = run(d, "--restart", "always", "sleep", "3502")
    assert d.ctl("stop", "sleep").returncode == 0
    wait_for(lambda: "sleep" not in status(d))


def test_names_cwd_and_errors(make_daemon, tmp_path):
    d = make_daemon(default_ini())
    a = run(d, "--restart", "always", "--cwd", "/tmp", "sleep", "3503")
    b = run(d, "--restart", "always", "sleep", "3504")
    s = status(d)
    assert s["sleep"]["pid"] == a and s["sleep-2"]["pid"] == b
    assert os.readlink("/proc/%d/cwd" % a) == "/tmp"
    # Without --cwd: the home directory, each run alike.
    assert os.readlink("/proc/%d/cwd" % b) == os.path.expanduser("~")
    for args, msg in (
            (["--restart", "sometimes", "true"],
             "--restart sometimes: expected on-failure or always"),
            (["--restart", "always", "--cwd", "rel", "true"],
             "--cwd with --restart takes an absolute path"),
            (["--restart", "always", "/nonexistent/x"],
             "cannot run '/nonexistent/x': no such file or directory"),
            (["--restart", "always", "sh", "-c", "x" * 3000],
             "too long for --restart")):
        r = d.ctl("run", *args)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    # Nothing was kept of the refused ones.
    assert sorted(status(d)) == ["sleep", "sleep-2"]


def test_kept_with_its_policy_across_a_server_restart(make_daemon):
    d = make_daemon(default_ini())
    pid = run(d, "--restart", "always", "--env", "MODE=x", "sleep", "3505")
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: d.ctl("ping").stdout == "PONG\n" and
             d.server_pid != old)
    s = status(d)["sleep"]
    assert s["state"] == "RUNNING" and s["pid"] == pid, s
    os.kill(pid, signal.SIGKILL)
    pid2 = restarted(d, "sleep", pid)
    env = open("/proc/%d/environ" % pid2, "rb").read().split(b"\0")
    assert b"MODE=x" in env
    assert open("/proc/%d/cmdline" % pid2, "rb").read() == b"sleep\x003505\x00"


def test_kept_across_plugin_reload(make_daemon):
    """plugin reload proc: a run --restart program goes over whole: its
    run, its policy, and one waiting in BACKOFF (no process) too."""
    d = make_daemon(default_ini())
    pid = run(d, "--restart", "always", "sleep", "3506")
    run(d, "--restart", "always", "/bin/false")
    wait_for(lambda: state(d, "false") == "BACKOFF" and
             state(d, "sleep") == "RUNNING")
    before = [r for r in why(d, "false")["runs"] if r["ended"]]
    r = d.ctl("plugin", "reload", "proc")
    assert r.returncode == 0, r.stderr
    s = status(d)
    assert s["sleep"]["pid"] == pid and s["sleep"]["state"] == "RUNNING"
    # Its history went over whole (more runs may have come since, as
    # its backoff went on).
    after = why(d, "false")["runs"]
    assert after[:len(before)] == before, (before, after)
    assert s["false"]["restarts"] >= len(before)
    os.kill(pid, signal.SIGKILL)
    restarted(d, "sleep", pid)
    assert d.ctl("stop", "false").returncode == 0


def test_one_stop_for_several(make_daemon, tmp_path):
    """Regression: one stop naming several run --restart programs freed
    the first one to stop while the reply still named it (the server
    crashed)."""
    d = make_daemon(default_ini())
    slow = tmp_path / "slow.sh"
    slow.write_text("trap 'sleep 0.3; exit 0' TERM\n"
                    "while :; do sleep 0.05; done\n")
    run(d, "--restart", "always", "sleep", "3507")
    run(d, "--restart", "always", "/bin/sh", str(slow))
    old = d.server_pid
    r = d.ctl("stop", "sleep", "sh", json=True)
    assert r.returncode == 0, r.stderr
    assert [x["state"] for x in json.loads(r.stdout)] == ["STOPPED"] * 2
    assert d.server_pid == old
    wait_for(lambda: status(d) == {})


def test_max_per_user_counts_programs_waiting_to_restart(make_daemon):
    """A run --restart program in BACKOFF has no process but holds its
    place: max_per_user is not escaped by crashing."""
    d = make_daemon(default_ini(proc="max_per_user = 2"))
    run(d, "--restart", "always", "/bin/false")
    wait_for(lambda: state(d, "false") == "BACKOFF")
    run(d, "--restart", "always", "sleep", "3508")
    r = d.ctl("run", "--restart", "always", "sleep", "3509")
    assert r.returncode != 0 and "max_per_user" in r.stderr, r.stderr
    r = d.ctl("run", "sleep", "3510")
    assert r.returncode != 0 and "max_per_user" in r.stderr, r.stderr
    assert d.ctl("stop", "false").returncode == 0
    wait_for(lambda: "false" not in status(d))
    run(d, "sleep", "3511")


def test_names_never_shadow_another(make_daemon, tmp_path):
    """An ad hoc program is never named as a numprocs group or `all` (a
    command's NAME would then mean it), and a reload that brings a
    configured program of its name renames it."""
    from test_programs import prog_ini
    d = make_daemon(prog_ini("""
[program:web]
command = sleep 33%(process_num)02d
numprocs = 2
start_secs = 0
"""))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("web", "all"):
        (bindir / name).write_text("#!/bin/sh\nexec sleep 3512\n")
        (bindir / name).chmod(0o755)
    run(d, "--restart", "always", str(bindir / "web"))
    run(d, "--restart", "always", str(bindir / "all"))
    assert sorted(status(d)) == ["all-2", "web-2", "web:0", "web:1"]
    pid = run(d, "--restart", "always", "sleep", "3513")
    d.ini.write_text(prog_ini("""
[program:web]
command = sleep 33%(process_num)02d
numprocs = 2
start_secs = 0

[program:sleep]
command = sleep 3514
start_secs = 0
"""))
    assert d.ctl("reload").returncode == 0
    wait_for(lambda: state(d, "sleep") == "RUNNING" and
             status(d)["sleep"]["pid"] != pid)
    assert status(d)["sleep-2"]["pid"] == pid
    d.wait_log(r"program sleep \(run --restart\) is now sleep-2")
