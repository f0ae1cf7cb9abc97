"""procctld's own log (docs/logs.md, "procctld's own log"): a stderr that
nobody reads never stops the daemon, lines dropped meanwhile are counted;
bytes a user chose are escaped; journald gets syslog priorities; log_file
is appended to and rotated."""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import PROCCTLD, Raw, connectable, default_ini, wait_for
from test_tcp import Tcp, tcp_daemon, tcp_ini

IS_ROOT = os.geteuid() == 0
DROPPED = re.compile(
    r"^procctld: warn: (\d+) log lines dropped \(stderr not read\)$", re.M)
STAMP = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d procctld: ")


def flood(d, n, every=250):
    """N connections to daemon D, each a log line ("client N connected",
    at debug), and a PING every EVERY of them and at the end that must be
    answered (then every line before it has been logged: connections are
    accepted in order).  The timeouts bound a hung daemon; they measure
    nothing."""
    for i in range(n + 1):
        if i % every == 0 or i == n:
            c = Raw(d.sock, timeout=30)
            assert c.call("PING") == "PONG", "no answer after %d" % i
            c.close()
        if i == n:
            break
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(str(d.sock))
        s.close()


def answers(d):
    return connectable(d.sock) and d.ctl("ping").stdout == "PONG\n"


def whole_lines(text):
    return text[:text.rfind("\n") + 1].splitlines()


def test_stderr_nobody_reads_never_blocks(make_daemon):
    """It used to stop answering everyone after about 700 lines, blocked
    in fprintf(stderr)."""
    d = make_daemon(stderr_pipe=True)
    flood(d, 12000)
    r = d.ctl("run", "/bin/true")
    assert r.returncode == 0, r.stderr
    # The reader comes back: what was queued, then how much was lost.
    wait_for(lambda: DROPPED.search(d.read_stderr()),
             describe=lambda: d.read_stderr()[-3000:])
    lost = sum(int(n) for n in DROPPED.findall(d.read_stderr()))
    assert lost > 0
    # Lines flow again after the count: this process's is there.
    r = d.ctl("run", "/bin/true")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: "%d true started by" % int(r.stdout) in
             d.read_stderr(), describe=lambda: d.read_stderr()[-3000:])
    # Every line whole (none cut into by another writer), and ours.
    for line in whole_lines(d.read_stderr()):
        assert line.startswith("procctld: "), line
    # Non-blocking writes, but stderr's own description stays blocking:
    # it is shared with the other process and with output = inherit.
    for pid in (d.proc.pid, d.server_pid):
        with open("/proc/%d/fdinfo/2" % pid) as f:
            flags = int(re.search(r"flags:\s+(\d+)", f.read()).group(1), 8)
        assert not flags & os.O_NONBLOCK, (pid, oct(flags))


def test_names_a_user_chose_are_escaped(daemon, tmp_path):
    # ESC (a colour), BEL, a newline, C1 CSI in UTF-8, a bidi override, a
    # byte that is not UTF-8, a backslash; an e-acute stays as it is.
    name = "x\x1b[31m\x07y\nz\u009b\u202e\udcff\\\u00e9"
    link = tmp_path / name
    os.symlink("/bin/true", link)
    r = daemon.ctl("run", str(link))
    assert r.returncode == 0, r.stderr
    shown = r"x\x1b[31m\x07y\x0az\xc2\x9b\xe2\x80\xae\xff\\" + "\u00e9"
    daemon.wait_log(re.escape(shown) + r" started by \S+ \(uid \d+\)\n")
    raw = daemon.logpath.read_bytes()
    for b in (b"\x1b", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae", b"\xff"):
        assert b not in raw, b


def test_user_name_of_an_unauthenticated_peer_is_escaped(make_daemon,
                                                          tmp_path):
    d = tcp_daemon(make_daemon, lambda ports: tcp_ini(
        tmp_path, ["127.0.0.1:%d" % ports[0]]))
    c = Tcp(d.port)
    assert c.cmd("auth", "\x1b]0;owned\x07\r\nfake", "x") == \
        "-AUTH invalid username or secret"
    c.close()
    d.wait_log(r"for user '\\x1b\]0;owned\\x07\\x0d\\x0afake' \(1 on")
    assert b"\x1b" not in d.logpath.read_bytes()


def test_c1_and_del_of_an_unauthenticated_peer_are_escaped(make_daemon,
                                                            tmp_path):
    """C1 controls (U+009B in UTF-8, and 0x9b raw), DEL and ESC in the user
    name a TCP peer gives before it has authenticated, by AUTH and by
    HELLO 3 AUTH: the log line shows each byte as \\xNN."""
    d = tcp_daemon(make_daemon, lambda ports: tcp_ini(
        tmp_path, ["127.0.0.1:%d" % ports[0]]))
    names = [b"a\xc2\x9b[2Jb\x9bc\x7fd\x1b[5me",
             b"h\xc2\x9b1;1H\x9b\x7f\x07"]
    shown = [r"a\xc2\x9b[2Jb\x9bc\x7fd\x1b[5me",
             r"h\xc2\x9b1;1H\x9b\x7f\x07"]
    for i, req in enumerate([[b"AUTH", names[0], b"x"],
                             [b"HELLO", b"3", b"AUTH", names[1], b"x"]]):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=20)
        s.sendall(b"*%d\r\n" % len(req) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in req))
        got = b""
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got.startswith(b"-AUTH invalid username or secret"), got
        s.close()
        d.wait_log(r"for user '%s' \(\d+ on" % re.escape(shown[i]))
    raw = d.logpath.read_bytes()
    for b in (b"\x1b", b"\x07", b"\x7f", b"\x9b"):
        assert b not in raw, b


def journal_env(st):
    return dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))


def test_journal_keeps_the_levels(make_daemon):
    """JOURNAL_STREAM names the stderr procctld was given: journald's
    stream.  Every line starts with its syslog priority instead of
    "procctld: " (journald adds the identifier)."""
    d = make_daemon(stderr_pipe=True, env=journal_env)
    assert d.ctl("run", "/bin/true").returncode == 0
    wait_for(lambda: re.search(r"^<6>info: proc: \d+ true started by",
                               d.read_stderr(), re.M),
             describe=d.read_stderr)
    # The monitor's lines are notices; a restarted server keeps the
    # prefixes (it inherits the variable and the stream).
    old = d.server_pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: re.search(r"^<5>monitor: the server was killed by "
                               r"signal 9", d.read_stderr(), re.M),
             describe=d.read_stderr)
    wait_for(lambda: d.server_pid != old and answers(d))
    wait_for(lambda: len(re.findall(r"^<6>info: procctld \S+ listening on",
                                    d.read_stderr(), re.M)) == 2,
             describe=d.read_stderr)
    text = d.read_stderr()
    assert re.search(r"^<7>debug: client \d+ connected", text, re.M)
    for line in whole_lines(text):
        assert re.match(r"<[3-7]>(error|warn|info|debug|monitor): ",
                        line), line


def test_journal_stream_naming_another_file_is_ignored(make_daemon):
    d = make_daemon(stderr_pipe=True,
                    env=dict(os.environ, JOURNAL_STREAM="1:2"))
    wait_for(lambda: "listening on" in d.read_stderr())
    for line in whole_lines(d.read_stderr()):
        assert line.startswith("procctld: "), line


def server_may_write(tmp_path):
    """A directory the server can rename in, and the [daemon] lines that
    make it so: as root the server is `nobody`, given a directory of its
    own under /tmp (tmp_path's parents are closed to it)."""
    if not IS_ROOT:
        (tmp_path / "logs").mkdir()
        return tmp_path / "logs", ""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody to run the server as")
    logdir = Path(tempfile.mkdtemp(prefix="procctl-log-", dir="/tmp"))
    os.chown(logdir, nobody.pw_uid, nobody.pw_gid)
    return logdir, "server_user = nobody\n"


def test_log_file_is_written_and_rotated(make_daemon, tmp_path):
    logdir, extra = server_may_write(tmp_path)
    path = logdir / "procctld.log"
    try:
        d = make_daemon(default_ini(extra_daemon=extra + "log_file = %s\n"
                                    "log_max = 16k\nlog_backups = 2\n" %
                                    path), start=False)
        d.start(wait=False)
        wait_for(lambda: d.proc.poll() is not None or answers(d),
                 describe=d.log)
        assert d.proc.poll() is None, d.log()
        assert path.stat().st_mode & 0o777 == 0o640

        def rotated_twice():
            flood(d, 200, every=100)
            return (logdir / "procctld.log.2").exists()
        wait_for(rotated_twice, timeout=120)
        flood(d, 400)
        assert sorted(p.name for p in logdir.iterdir()) == [
            "procctld.log", "procctld.log.1", "procctld.log.2"]
        for name in ("procctld.log.1", "procctld.log.2"):
            size = (logdir / name).stat().st_size
            assert 16384 <= size < 16384 + 8192, (name, size)
        for p in logdir.iterdir():
            for line in whole_lines(p.read_text()):
                assert STAMP.match(line), (p.name, line)
        # The server's lines go there, not to stderr.
        assert "connected: uid" not in d.log()
        # The monitor writes there too, following the rotation.
        os.kill(d.server_pid, signal.SIGKILL)
        wait_for(lambda: any(
            "monitor: the server was killed by signal 9" in p.read_text()
            for p in logdir.iterdir()), describe=lambda: "\n".join(
                "== %s\n%s" % (p, p.read_text()[-1500:])
                for p in logdir.iterdir()) + "\n== stderr\n" + d.log())
        wait_for(lambda: answers(d))
        assert d.stop() == 0
    finally:
        if IS_ROOT:
            shutil.rmtree(logdir)


def test_log_file_moved_away_is_opened_again(make_daemon, tmp_path):
    """logrotate moves the file (log_max = 0: rotation is left to it): the
    server writes to PATH again, created anew, within a second; the
    monitor before its next line."""
    logdir, extra = server_may_write(tmp_path)
    path = logdir / "procctld.log"
    try:
        d = make_daemon(default_ini(extra_daemon=extra + "log_file = %s\n"
                                    "log_max = 0\n" % path), start=False)
        d.start(wait=False)
        wait_for(lambda: d.proc.poll() is not None or answers(d),
                 describe=d.log)
        os.rename(path, logdir / "moved.log")

        def reopened():
            flood(d, 20)
            return path.exists() and "connected: uid" in path.read_text()
        wait_for(reopened)
        os.kill(d.server_pid, signal.SIGKILL)
        wait_for(lambda: "monitor: the server was killed by signal 9" in
                 path.read_text(), describe=lambda: path.read_text())
        wait_for(lambda: answers(d))
        assert "listening on" in (logdir / "moved.log").read_text()
        assert not list(logdir.glob("procctld.log.*"))
        assert d.stop() == 0
    finally:
        if IS_ROOT:
            shutil.rmtree(logdir)


@pytest.mark.skipif(not IS_ROOT, reason="needs a server that drops root")
def test_log_file_in_a_directory_the_server_cannot_write(make_daemon):
    """The server opens log_file as root and keeps it; renaming it needs
    the directory, which it no longer may write to: said once, at start,
    and the file just grows."""
    uid = pwd.getpwnam("nobody").pw_uid
    d = make_daemon(default_ini(extra_daemon="server_user = nobody\n"
                                "log_file = procctld.log\nlog_max = 4k\n"),
                    start=False)
    d.start(wait=False)
    path = d.tmp / "procctld.log"      # beside the configuration
    wait_for(lambda: path.exists() and "cannot rotate" in path.read_text(),
             describe=d.log)
    flood(d, 300)
    text = path.read_text()
    assert re.search(r"procctld: warn: log_file %s: cannot rotate \(%s: "
                     r"Permission denied; uid %d needs to write to its "
                     r"directory\)" % (re.escape(str(path)),
                                       re.escape(str(d.tmp)), uid), text)
    assert text.count("cannot rotate") == 1
    assert path.stat().st_size > 4096
    assert not (d.tmp / "procctld.log.1").exists()


@pytest.mark.parametrize("make_path,why", [
    (lambda t: t / "no" / "such" / "dir.log", "No such file or directory"),
    (lambda t: (t / "link.log").symlink_to(t / "elsewhere") or
     t / "link.log", "Too many levels of symbolic links"),
])
def test_unusable_log_file_exits_78(tmp_path, make_path, why):
    path = make_path(tmp_path)
    ini = tmp_path / "procctld.ini"
    ini.write_text(default_ini(extra_daemon="log_file = %s\n" % path))
    r = subprocess.run([str(PROCCTLD), "-c", str(ini), "-s",
                        str(tmp_path / "s.sock")], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 78, r.stderr
    assert "[daemon] log_file = %s: %s; not starting" % (path, why) in \
        r.stderr
    assert not (tmp_path / "s.sock").exists()
    assert not (tmp_path / "elsewhere").exists()
