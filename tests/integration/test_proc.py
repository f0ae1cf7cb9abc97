"""Process control through the real daemon: run, close, list."""
import json
import os
import re
import time

from conftest import default_ini, wait_for

LIST_KEYS = ["pid", "name", "owner", "state", "started", "ended",
             "exit_code", "signal"]


def run(daemon, *args):
    r = daemon.ctl("run", *args)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def listing(daemon, *args):
    r = daemon.ctl("list", *args, json=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def ignores_term(pid):
    """True once PID has SIGTERM ignored (the shell ran its trap)."""
    for line in open("/proc/%d/status" % pid):
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16) & (1 << (15 - 1)) != 0
    return False


def test_run_and_list(daemon):
    pid = run(daemon, "/bin/sleep", "60")
    assert alive(pid)
    rows = listing(daemon)
    assert [r["pid"] for r in rows] == [pid]
    assert list(rows[0]) == LIST_KEYS
    assert rows[0]["name"] == "sleep"
    assert rows[0]["state"] == "running"
    assert rows[0]["exit_code"] is None and rows[0]["signal"] is None
    # A new session and process group of its own, stdin from /dev/null.
    assert os.getsid(pid) == pid and os.getpgid(pid) == pid
    assert os.readlink("/proc/%d/fd/0" % pid) == "/dev/null"
    # Human table: header and one aligned row.
    out = daemon.ctl("list").stdout.splitlines()
    assert out[0].split()[:4] == ["PID", "NAME", "OWNER", "STATE"]
    assert out[1].split()[:4] == [str(pid), "sleep", "root" if
                                  os.geteuid() == 0 else out[1].split()[2],
                                  "running"]


def test_run_searches_path_and_passes_args(daemon, tmp_path):
    out = tmp_path / "out"
    pid = run(daemon, "sh", "-c", 'echo "$1 $2" > "$0"', str(out), "a b", "c")
    wait_for(lambda: out.exists() and out.read_text() == "a b c\n")
    wait_for(lambda: listing(daemon, "all")[0]["state"] == "exited")
    row = [r for r in listing(daemon, "all") if r["pid"] == pid][0]
    assert row["exit_code"] == 0


def test_run_errors(daemon, tmp_path):
    noexec = tmp_path / "data.txt"
    noexec.write_text("not a program\n")
    noexec.chmod(0o644)
    for path, msg in [("/", "cannot run '/': is a directory"),
                      ("/nonexistent", "cannot run '/nonexistent': "
                       "no such file or directory"),
                      (str(noexec), "permission denied"),
                      ("no-such-program-x", "no such file or directory")]:
        r = daemon.ctl("run", path)
        assert r.returncode == 1, (path, r.stderr)
        assert msg in r.stderr, (path, r.stderr)
    assert daemon.ctl("run").returncode == 2
    assert "unknown option" in daemon.ctl("run", "--bogus", "x").stderr
    # Nothing was recorded and the daemon is still fine.
    assert listing(daemon, "all") == []
    assert daemon.ctl("add", "1", "1").stdout == "2\n"


def test_exit_status_and_signal_recorded(daemon):
    p1 = run(daemon, "sh", "-c", "exit 3")
    p2 = run(daemon, "sh", "-c", "kill -KILL $$")
    wait_for(lambda: all(r["state"] != "running"
                         for r in listing(daemon, "all")))
    rows = {r["pid"]: r for r in listing(daemon, "all")}
    assert rows[p1]["state"] == "exited" and rows[p1]["exit_code"] == 3
    assert rows[p2]["state"] == "killed" and rows[p2]["signal"] == "SIGKILL"
    assert rows[p2]["exit_code"] is None
    assert rows[p1]["ended"] is not None
    assert listing(daemon) == []


def test_list_details(daemon):
    pid = run(daemon, "sleep", "60")
    run(daemon, "true")
    wait_for(lambda: len(listing(daemon)) == 1)
    # Like `list`, `list details` is the running ones; with `all`, the
    # ended ones too (it once added them silently).
    assert [r["pid"] for r in listing(daemon, "details")] == [pid]
    rows = listing(daemon, "all", "details")
    assert len(rows) == 2
    assert [(r["pid"], r["state"]) for r in listing(daemon, "details",
            "all")] == [(r["pid"], r["state"]) for r in rows]
    d = [r for r in rows if r["pid"] == pid][0]
    for key in LIST_KEYS + ["uid", "run_time", "scope", "result", "command"]:
        assert key in d
    assert d["command"] == "sleep 60"
    assert d["scope"] == "one-shot"
    assert d["uid"] == os.geteuid()
    assert isinstance(d["run_time"], float)
    ended = [r for r in rows if r["pid"] != pid][0]
    assert ended["result"].startswith("exited with status 0 after")
    assert daemon.ctl("list", "bogus").returncode == 2


def test_close_by_pid(daemon):
    pid = run(daemon, "sleep", "60")
    r = daemon.ctl("close", str(pid), json=True)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["pid"] == pid and res["state"] == "killed"
    assert res["signal"] == "SIGTERM"
    # The reply came after the process was gone.
    assert not alive(pid)
    assert listing(daemon) == []
    # Closing it again: it is not running.
    r = daemon.ctl("close", str(pid))
    assert r.returncode == 3 and "is not running" in r.stderr


def test_close_by_name_and_ambiguity(daemon):
    a = run(daemon, "sleep", "60")
    b = run(daemon, "sleep", "61")
    c = run(daemon, "cat")       # stdin is /dev/null: ends at once
    r = daemon.ctl("close", "sleep")
    assert r.returncode == 1
    assert "ambiguous" in r.stderr and str(a) in r.stderr and str(b) in r.stderr
    assert alive(a) and alive(b)
    r = daemon.ctl("close", "sleep", "all", json=True)
    assert r.returncode == 0, r.stderr
    assert sorted(x["pid"] for x in json.loads(r.stdout)) == sorted([a, b])
    assert not alive(a) and not alive(b)
    r = daemon.ctl("close", "sleep")
    assert r.returncode == 3 and "no running process named 'sleep'" in r.stderr
    assert daemon.ctl("close", "99999999").returncode == 3
    assert daemon.ctl("close", str(a), "all").returncode == 2
    assert daemon.ctl("close", "x", "everything").returncode == 2
    del c


def test_close_single_name(daemon):
    pid = run(daemon, "sleep", "60")
    r = daemon.ctl("close", "sleep")
    assert r.returncode == 0
    assert "pid" in r.stdout and str(pid) in r.stdout
    assert not alive(pid)


def test_close_escalates_to_sigkill(daemon):
    # Ignores SIGTERM (the disposition is inherited by sleep, too).
    pid = run(daemon, "sh", "-c", "trap '' TERM; sleep 60; :")
    wait_for(lambda: ignores_term(pid))
    t0 = time.monotonic()
    r = daemon.ctl("close", str(pid), json=True)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["signal"] == "SIGKILL"
    assert time.monotonic() - t0 >= 1.5        # close_timeout = 2
    assert not alive(pid)
    d = [x for x in listing(daemon, "all", "details")
         if x["pid"] == pid][0]
    assert "did not end within the close timeout" in d["result"]
    # The whole group went: no orphaned sleep left behind.
    assert not any(alive(int(p)) and os.getpgid(int(p)) == pid
                   for p in os.listdir("/proc") if p.isdigit()
                   and _safe_pgid(int(p)) == pid)


def _safe_pgid(pid):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_close_ends_process_group(daemon):
    pid = run(daemon, "sh", "-c", "sleep 60 & sleep 61 & wait")
    wait_for(lambda: len([p for p in os.listdir("/proc") if p.isdigit()
                          and _safe_pgid(int(p)) == pid]) >= 3)
    assert daemon.ctl("close", str(pid)).returncode == 0
    wait_for(lambda: not any(alive(int(p)) for p in os.listdir("/proc")
                             if p.isdigit() and _safe_pgid(int(p)) == pid))


def test_history_bound(make_daemon):
    d = make_daemon(default_ini(proc="history = 3"))
    for _ in range(6):
        run(d, "true")
    wait_for(lambda: all(r["state"] == "exited" for r in listing(d, "all")))
    wait_for(lambda: len(listing(d, "all")) == 3)


def test_max_processes(make_daemon):
    d = make_daemon(default_ini(proc="max_processes = 1"))
    run(d, "sleep", "60")
    r = d.ctl("run", "sleep", "60")
    assert r.returncode == 75 and "max_processes" in r.stderr


def test_binary_safe_names(daemon):
    c = daemon.raw()
    name = b"/bin/sl\xffeep"
    r = c.call("run", name)
    assert r.code == "EXEC" and "no such file" in r.text
    r = c.call("run", b"/bin/sleep\x00x", b"1")
    assert r.code == "ARGS" and "NUL" in r.text
    pid = c.call("run", "/bin/sh", "-c", "sleep 60", b"we\xcc\x81ird name")
    assert isinstance(pid, int)
    rows = c.call("list", "details")
    assert rows[0][rows[0].index(b"command") + 1].endswith(
        b"we\xcc\x81ird name")


def test_shutdown_ends_processes(make_daemon):
    d = make_daemon()
    a = run(d, "sleep", "60")
    b = run(d, "sh", "-c", "trap '' TERM; sleep 60; :")
    wait_for(lambda: ignores_term(b))
    assert d.stop() == 0
    assert not alive(a) and not alive(b)
    assert not d.sock.exists()
    assert re.search(r"monitor: \d+ did not end on SIGTERM within \d+ ms: "
                     r"SIGKILL", d.log()), d.log()
