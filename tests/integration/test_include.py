"""Drop-in files ([daemon] include = GLOB, docs/programs.md "Drop-in
files"): programs in them start and are listed, files are read in name
order, a relative glob is relative to the main file, errors name the
drop-in's file and line (at start, with -t, on reload), a section is
defined once in the whole configuration, reload adds and removes what the
drop-ins say (and a broken one changes nothing), and a server restarted
after a crash still knows their programs.  Real daemon, real programs."""
import json
import os
import re
import signal
import subprocess

from conftest import PLUGINS, PROCCTLD, default_ini, wait_for


def ini(include="conf.d/*.ini", body=""):
    return default_ini(extra_daemon="include = %s" % include) + "\n" + body


def prog(name, cmd, extra=""):
    return "[program:%s]\ncommand = %s\nstart_secs = 0.1\n%s" % (
        name, cmd, extra)


def dropin(d, name, text, directory="conf.d"):
    """Write the drop-in file NAME beside daemon D's main file."""
    path = d.tmp / directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def status(d):
    r = d.ctl("status", json=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    return [(row["name"], row) for row in
            (rows if isinstance(rows, list) else [rows])]


def state(d, name):
    return dict(status(d)).get(name, {}).get("state")


def wait_state(d, name, want):
    return wait_for(lambda: state(d, name) == want, timeout=60,
                    describe=lambda: "%s is %s, not %s" % (
                        name, state(d, name), want))


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def check(tmp_path, text, files, *args):
    """procctld on TEXT with drop-in FILES (name: text; None: a
    directory) in conf.d, with ARGS (-t, or a socket to start on): its
    exit status and stderr."""
    (tmp_path / "conf.d").mkdir(exist_ok=True)
    for name, body in files.items():
        if body is None:
            (tmp_path / "conf.d" / name).mkdir(exist_ok=True)
        else:
            (tmp_path / "conf.d" / name).write_text(body)
    main = tmp_path / "procctld.ini"
    main.write_text(text)
    r = subprocess.run([str(PROCCTLD), "-c", str(main)] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


def test_dropin_programs_start_and_are_listed(make_daemon):
    """Two drop-ins, found by a glob relative to the main file: their
    programs start (autostart) and `status` lists them after the main
    file's, in the drop-ins' name order; a file the glob does not match
    is not read."""
    d = make_daemon(ini(body=prog("main", "sleep 3301")), start=False)
    dropin(d, "20-b.ini", prog("bravo", "sleep 3302"))
    dropin(d, "10-a.ini", prog("alpha", "sleep 3303"))
    dropin(d, "30-c.ini.disabled", prog("charlie", "sleep 3304"))
    r = subprocess.run([str(PROCCTLD), "-t", "-c", str(d.ini)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "2 drop-in files)" in r.stdout, r.stderr
    d.start()
    for name in ("main", "alpha", "bravo"):
        wait_state(d, name, "RUNNING")
    assert [name for name, _ in status(d)] == ["main", "alpha", "bravo"]
    pids = {name: row["pid"] for name, row in status(d)}
    assert open("/proc/%d/cmdline" % pids["alpha"]).read() == \
        "sleep\x003303\x00"
    assert d.ctl("stop", "bravo").returncode == 0
    assert state(d, "bravo") == "STOPPED"


def test_absolute_glob_and_no_match(make_daemon, tmp_path):
    """An absolute glob names its own directory; a glob nothing matches
    reads no file and is no error."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "web.conf").write_text(prog("web", "sleep 3311"))
    d = make_daemon(ini(include=str(elsewhere / "*.conf")))
    wait_state(d, "web", "RUNNING")
    e = make_daemon(ini(include="nowhere.d/*.ini",
                        body=prog("solo", "sleep 3312")))
    wait_state(e, "solo", "RUNNING")
    assert [name for name, _ in status(e)] == ["solo"]


BAD = [
    # (drop-in files, what stderr must say: the drop-in's file:line)
    ({"10-ok.ini": prog("ok", "/bin/true"),
      "20-bad.ini": "; a comment\n[program:bad]\ncommand = /bin/true\n"
                    "restrat = always\n"},
     r"conf\.d/20-bad\.ini:4: \[program:bad\] restrat = always: "
     r"unknown key"),
    ({"a.ini": "[daemon]\nlog_level = debug\n"},
     r"conf\.d/a\.ini:1: \[daemon\] belongs in the main file"),
    ({"a.ini": "; more\ninclude = more/*.ini\n" + prog("x", "/bin/true")},
     r"conf\.d/a\.ini:2: include is not recursive"),
    ({"a.ini": prog("x", "/bin/true"), "b.ini": None},
     r"conf\.d/b\.ini: not a regular file"),
    ({"a.ini": "[program:x]\ncommand = /bin/true\n\n[program:y\n"},
     r"conf\.d/a\.ini:4: syntax error"),
]


def test_bad_dropin_refused_at_start_and_by_t(tmp_path):
    """A mistake in a drop-in: procctld does not start (78) and says in
    which drop-in file and on which line; `procctld -t` says the same."""
    for i, (files, want) in enumerate(BAD):
        case = tmp_path / ("case%d" % i)
        case.mkdir()
        for args in (["-t"], ["-s", str(case / "s.sock")]):
            code, err = check(case, ini(), files, *args)
            assert code == 78, err
            assert re.search(want, err), err
            assert not (case / "s.sock").exists()


def test_a_section_twice_is_refused_naming_both(tmp_path):
    """The same section in two drop-ins, or in the main file and a
    drop-in: refused, naming both places (the second as read, in name
    order)."""
    code, err = check(tmp_path, ini(), {
        "b.ini": "\n" + prog("dup", "sleep 1"),
        "a.ini": prog("dup", "sleep 2")}, "-t")
    assert code == 78, err
    assert re.search(r"conf\.d/b\.ini:2: \[program:dup\] is defined twice: "
                     r"first at \S*conf\.d/a\.ini:1", err), err
    code, err = check(tmp_path, ini(body=prog("dup", "sleep 3")), {
        "b.ini": "\n" + prog("dup", "sleep 1")}, "-t")
    assert code == 78, err
    assert re.search(r"conf\.d/b\.ini:2: \[program:dup\] is defined twice: "
                     r"first at \S*procctld\.ini:\d+", err), err


def test_reload_adds_and_removes_dropins(make_daemon):
    """A new drop-in file, then `procctl reload`: its program is added and
    started; the file removed, then reload: the program is stopped and
    gone.  The others are not touched."""
    d = make_daemon(ini(body=prog("stay", "sleep 3321")))
    wait_state(d, "stay", "RUNNING")
    stay = dict(status(d))["stay"]["pid"]
    path = dropin(d, "new.ini", prog("new", "sleep 3322"))
    r = d.ctl("reload", json=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["added new (new, autostart)"]
    wait_state(d, "new", "RUNNING")
    new = dict(status(d))["new"]["pid"]
    path.unlink()
    r = d.ctl("reload", json=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        "removed new (gone from the file: stopped)"]
    wait_for(lambda: gone(new))
    assert [name for name, _ in status(d)] == ["stay"]
    assert dict(status(d))["stay"]["pid"] == stay


def test_reload_with_a_broken_dropin_changes_nothing(make_daemon):
    """A reload that finds a broken drop-in changes nothing (a running
    program keeps its pid, a new good drop-in is not taken either), and
    the reply says which file and line; so for a mistake the monitor
    finds (a [daemon] section in a drop-in) and for one the plugin finds
    (an unknown key)."""
    d = make_daemon(ini(), start=False)
    dropin(d, "keep.ini", prog("keep", "sleep 3331"))
    d.start()
    wait_state(d, "keep", "RUNNING")
    pid = dict(status(d))["keep"]["pid"]
    dropin(d, "more.ini", prog("more", "sleep 3332"))
    for text, want in (
            (prog("bad", "sleep 3333", "restrat = no\n"),
             r"conf\.d/zz\.ini:4: \[program:bad\] restrat = no: "
             r"unknown key"),
            ("[daemon]\nlog_level = debug\n",
             r"conf\.d/zz\.ini:1: \[daemon\] belongs in the main file")):
        dropin(d, "zz.ini", text)
        r = d.ctl("reload")
        assert r.returncode != 0, r.stdout
        assert "was not reloaded: it has errors" in r.stderr, r.stderr
        assert re.search(want, r.stderr), r.stderr
        d.wait_log(want)
        assert [name for name, _ in status(d)] == ["keep"]
        assert dict(status(d))["keep"]["pid"] == pid
    # Mended: now it is taken.
    (d.tmp / "conf.d" / "zz.ini").unlink()
    r = d.ctl("reload", json=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["added more (new, autostart)"]
    assert dict(status(d))["keep"]["pid"] == pid


def test_sighup_reads_dropins(make_daemon):
    """SIGHUP reads the drop-ins again as `reload` does."""
    d = make_daemon(ini())
    dropin(d, "hup.ini", prog("hup", "sleep 3341"))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"SIGHUP: added hup \(new, autostart\)")
    wait_state(d, "hup", "RUNNING")


def test_restarted_server_knows_dropin_programs(make_daemon):
    """kill -9 of the server: the new one parses the drop-ins' bytes as
    the running server applied them (not the disk, where the file is now
    gone and a broken one was added, which a reload refused): it adopts
    the drop-in program, RUNNING with the same pid, and can stop it."""
    d = make_daemon(ini(), start=False)
    path = dropin(d, "web.ini", prog("web", "sleep 3351"))
    d.start()
    wait_state(d, "web", "RUNNING")
    pid = dict(status(d))["web"]["pid"]
    path.unlink()
    dropin(d, "bad.ini", prog("bad", "sleep 3352", "restrat = no\n"))
    r = d.ctl("reload")
    assert r.returncode != 0 and "bad.ini:4" in r.stderr, r.stderr
    old = d.server_pid
    os.kill(old, signal.SIGKILL)

    def new_server():
        try:
            srv = d.server_pid
        except AssertionError:
            return None
        return srv != old and d.ctl("ping").stdout == "PONG\n"
    wait_for(new_server, timeout=60, describe=d.log)
    d.wait_log(r"the server was killed by signal 9; restarting it")
    assert [name for name, _ in status(d)] == ["web"]
    row = dict(status(d))["web"]
    assert row["state"] == "RUNNING" and row["pid"] == pid, row
    r = d.ctl("why", "web", json=True)
    assert r.returncode == 0, r.stderr
    assert d.ctl("stop", "web").returncode == 0
    assert gone(pid)


def test_plugin_sections_in_dropins(make_daemon):
    """[plugin:NAME] may be in a drop-in: loaded from it at start, and
    `plugin load` finds one in a drop-in added since."""
    main = ("[daemon]\nplugin_dir = %s\ninclude = conf.d/*.ini\n" %
            PLUGINS)
    d = make_daemon(main, start=False)
    dropin(d, "proc.ini", "[plugin:proc]\npath = proc.so\n")
    d.start()
    assert d.ctl("ping").stdout == "PONG\n"
    rows = json.loads(d.ctl("plugin", "list", json=True).stdout)
    assert [r["name"] for r in rows] == ["proc"]
    dropin(d, "arith.ini", "[plugin:arith]\npath = arith.so\n")
    r = d.ctl("plugin", "load", "arith")
    assert r.returncode == 0 and r.stdout == "OK\n", r.stderr
    assert d.ctl("add", "1", "2").stdout == "3\n"


def test_a_dropin_others_can_write_is_refused(tmp_path):
    """A drop-in says what runs as whom: one that others (or its group)
    could change is refused, as a plugin would be, and so is one in a
    directory they could change."""
    code, err = check(tmp_path, ini(), {"a.ini": prog("a", "sleep 3305")},
                      "-t")
    assert code == 0, err
    os.chmod(tmp_path / "conf.d" / "a.ini", 0o666)
    code, err = check(tmp_path, ini(), {}, "-t")
    assert code == 78, err
    assert re.search(r"a\.ini: refusing this drop-in file: it is "
                     r"writable by others \(mode 0666\)", err), err
    os.chmod(tmp_path / "conf.d" / "a.ini", 0o644)
    os.chmod(tmp_path / "conf.d", 0o777)
    code, err = check(tmp_path, ini(), {}, "-t")
    assert code == 78, err
    assert re.search(r"refusing this drop-in file: the directory \S*conf\.d "
                     r"is writable by others \(mode 0777\)", err), err


def test_a_dry_run_beside_a_reload_does_not_lose_it(make_daemon):
    """Regression: the monitor kept only the last configuration it read
    for the server; a `reload --dry-run` read between a reload's read and
    the server's word that it applied it made the monitor drop the
    applied one, and a server restarted after a crash ran the older
    configuration (its new program gone).  Several rounds, the two
    requests sent at once on two connections."""
    d = make_daemon(ini())
    for i in range(5):
        dropin(d, "p%d.ini" % i, prog("p%d" % i, "sleep 34%02d" % i))
        a, b = d.raw(), d.raw()
        a.send(a.command("RELOAD"))
        b.send(b.command("RELOAD", "--dry-run"))
        assert not isinstance(a.reply(), Exception)
        b.reply()
        wait_state(d, "p%d" % i, "RUNNING")
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: d.server_pid != old and
             d.ctl("ping").stdout == "PONG\n")
    assert [n for n, _ in status(d)] == ["p%d" % i for i in range(5)]
