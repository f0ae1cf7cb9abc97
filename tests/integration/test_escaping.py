"""Names a user chose, through the real daemon to the real procctl
(issue 12): every control byte (C0, DEL, C1 in UTF-8 and raw) is shown
escaped wherever it reaches a person: tables, errors, events, the shell;
--json stays valid JSON with those characters as \\u escapes."""
import json
import os
import subprocess
import threading

from conftest import PROCCTL, wait_for
from test_hostile_client import no_controls
from test_shell import shell

# ESC (a colour), BEL, C1 CSI in UTF-8, C1 CSI as a raw byte, DEL.
NAME = b"sl\x1b[31mee\x07p\xc2\x9bx\x9by\x7fz"
SHOWN = rb"sl\x1b[31mee\x07p\xc2\x9bx\x9by\x7fz"
# As JSON carries it: the raw C1 byte is not UTF-8, so U+FFFD.
AS_JSON = "sl\x1b[31mee\x07p\u009bx\ufffdy\x7fz"


def ctl(d, *args):
    r = subprocess.run([str(PROCCTL), "-s", str(d.sock)] + list(args),
                       capture_output=True, timeout=60)
    return r


def sleeper(d, tmp_path, secs="60"):
    """A process named NAME (a link to sleep): its pid."""
    link = os.path.join(bytes(tmp_path), NAME)
    if not os.path.lexists(link):
        os.symlink(b"/bin/sleep", link)
    r = ctl(d, "run", link, secs)
    assert r.returncode == 0, r
    return int(r.stdout)


def test_tables_show_names_escaped(daemon, tmp_path):
    pid = sleeper(daemon, tmp_path)
    for args in (["list"], ["list", "details"]):
        r = ctl(daemon, *args)
        assert r.returncode == 0, r
        assert b"%d  " % pid in r.stdout and SHOWN in r.stdout, r.stdout
        assert no_controls(r.stdout), r.stdout
    r = ctl(daemon, "--json", "list", "details")
    assert r.returncode == 0, r
    rows = json.loads(r.stdout)
    assert [row["name"] for row in rows if row["pid"] == pid] == [AS_JSON]
    assert no_controls(r.stdout), r.stdout


def test_errors_show_names_escaped(daemon, tmp_path):
    """The daemon's error echoes the name it was given; procctl shows it
    escaped (it used to print it raw: the terminal obeyed it)."""
    r = ctl(daemon, "close", NAME)
    assert r.returncode == 3, r
    assert r.stderr == b"procctl: no running process named '" + SHOWN + \
        b"'\n", r.stderr
    r = ctl(daemon, "run", os.path.join(bytes(tmp_path), b"none", NAME))
    assert r.returncode != 0 and SHOWN in r.stderr, r
    assert no_controls(r.stderr), r.stderr
    # --json changes the reply's output only: the error is a line for a
    # person, on stderr, escaped the same.
    r = ctl(daemon, "--json", "close", NAME)
    assert r.returncode == 3 and SHOWN in r.stderr, r


class Lines:
    """What a process writes on stdout, as bytes, line by line."""

    def __init__(self, proc):
        self.got = []
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc):
        for line in proc.stdout:
            self.got.append(line)


def test_events_one_shot_escaped(daemon, tmp_path):
    p = subprocess.Popen([str(PROCCTL), "-s", str(daemon.sock), "events"],
                         stdout=subprocess.PIPE)
    q = subprocess.Popen([str(PROCCTL), "-s", str(daemon.sock), "--json",
                          "events"], stdout=subprocess.PIPE)
    try:
        pl, ql = Lines(p), Lines(q)
        pids = set()

        # Subscribed once a start shows in both: until then, start more.
        def seen():
            if not any(SHOWN in l for l in pl.got) or not any(
                    b"started" in l for l in ql.got):
                pids.add(sleeper(daemon, tmp_path, "0"))
                return False
            return True
        wait_for(seen, timeout=60, interval=0.2,
                 describe=lambda: "%r / %r" % (pl.got, ql.got))
        for l in pl.got:
            assert l.startswith(b"[event] ") and no_controls(l), l
            assert SHOWN in l, l
        for l in ql.got:
            assert no_controls(l), l
            ev = json.loads(l)
            assert ev[:1] == ["event"] and ev[2]["pid"] in pids, ev
            assert ev[2]["name"] == AS_JSON, ev
    finally:
        p.kill()
        q.kill()
        p.wait()
        q.wait()


def test_shell_shows_errors_and_events_escaped(daemon, tmux, tmp_path):
    t = shell(tmux, daemon)
    # The shell's own quoting makes the bytes (\xHH); the daemon's error
    # echoes them; the screen shows them as text, not as a colour.
    t.type(r'close "no\x1b[31mpe\x07\xc2\x9b\x9b\x7f"')
    t.wait(r"^error: no running process named "
           r"'no\\x1b\[31mpe\\x07\\xc2\\x9b\\x9b\\x7f'$")
    pid = sleeper(daemon, tmp_path)
    t.wait(r"^\[event\] %d %s started" % (pid, SHOWN.decode().replace(
        "\\", "\\\\").replace("[", "\\[")))


def test_scripted_shell_escapes_and_json_events(daemon, tmp_path):
    """The shell without a terminal: replies on stdout, one a line; with
    --json the events too, valid and escaped."""
    p = subprocess.Popen([str(PROCCTL), "-s", str(daemon.sock), "--json"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out = Lines(p)
        p.stdin.write(b'ping "\\x1b]0;x\\x07\\xc2\\x9b"\n')
        p.stdin.flush()
        wait_for(lambda: out.got, timeout=60)
        assert json.loads(out.got[0]) == "\x1b]0;x\x07\u009b"
        assert no_controls(out.got[0]), out.got
        pid = sleeper(daemon, tmp_path)

        def started():
            return [json.loads(l) for l in out.got[1:]
                    if json.loads(l)[1:2] == ["started"] and
                    json.loads(l)[2]["pid"] == pid]
        wait_for(started, timeout=60, describe=lambda: repr(out.got))
        assert started()[0][2]["name"] == AS_JSON
        assert all(no_controls(l) for l in out.got), out.got
    finally:
        p.stdin.close()
        p.kill()
        p.wait()
    p = subprocess.run([str(PROCCTL), "-s", str(daemon.sock)],
                       input=b'close "no\\x1b[2Jpe"\necho "a\\x1bb"\n',
                       capture_output=True, timeout=60)
    assert p.stdout == (b"error: no running process named 'no\\x1b[2Jpe'\n"
                        b"a\\x1bb\n"), p.stdout
    assert p.returncode == 3, p
