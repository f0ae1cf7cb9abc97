"""procctld under systemd, with systemd's side played by fakes (these
machines run no systemd as PID 1): Type=notify through a NOTIFY_SOCKET
of our own (READY=1, STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1),
socket activation through systemd-socket-activate, and the unit files
checked by systemd-analyze verify."""
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, PROCCTLD, ROOT, connectable, default_ini, wait_for
from test_tcp import free_port, tcp_ini

ACTIVATE = shutil.which("systemd-socket-activate")
ANALYZE = shutil.which("systemd-analyze")


class Notify:
    """A service manager's notify socket: an AF_UNIX datagram socket in a
    directory of the test's; every datagram procctld sends is kept, in
    order, as a dict of its KEY=VALUE lines."""

    def __init__(self, tmp):
        self.path = str(Path(tmp) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.got = []

    def env(self, **more):
        return dict(os.environ, NOTIFY_SOCKET=self.path, **more)

    def read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.got
            self.got.append(dict(line.split("=", 1) for line in
                                 data.decode().splitlines() if "=" in line))

    def wait(self, pred, after=0, timeout=30):
        """The first message from index AFTER on for which PRED is true;
        its index is .last."""
        def find():
            for i, m in enumerate(self.read()[after:], after):
                if pred(m):
                    self.last = i
                    return m
            return None
        return wait_for(find, timeout=timeout,
                        describe=lambda: "got %r" % self.got)

    def wait_status(self, pattern, after=0):
        return self.wait(lambda m: re.fullmatch(pattern, m.get("STATUS",
                                                               "")), after)

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    n = Notify(tmp_path)
    yield n
    n.close()


def environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return f.read().split(b"\0")


def names(env):
    return {e.split(b"=", 1)[0] for e in env if e}


def test_ready_only_once_it_serves(make_daemon, notify):
    """READY=1 is the first thing said, and when it comes the socket
    accepts connections and the server answers on it."""
    d = make_daemon(start=False, env=notify.env())
    d.start(wait=False)
    m = notify.wait(lambda m: m, timeout=60)
    assert m.get("READY") == "1", notify.got
    assert connectable(d.sock)
    assert d.ctl("ping").stdout == "PONG\n"
    assert d.proc.poll() is None


def test_status_counts_processes_and_clients(make_daemon, notify):
    d = make_daemon(env=notify.env())
    notify.wait(lambda m: m.get("READY") == "1")
    notify.wait_status(r"0 processes, \d+ clients?")
    pid = int(d.ctl("run", "sleep", "100").stdout)
    notify.wait_status(r"1 process, 0 clients", notify.last)
    held = d.raw()
    assert held.call("PING") == "PONG"
    notify.wait_status(r"1 process, 1 client", notify.last)
    assert d.ctl("close", pid).returncode == 0
    held.close()
    notify.wait_status(r"0 processes, 0 clients", notify.last)


def test_stopping_on_sigterm(make_daemon, notify):
    d = make_daemon(env=notify.env())
    notify.wait(lambda m: m.get("READY") == "1")
    d.proc.send_signal(signal.SIGTERM)
    notify.wait(lambda m: m.get("STOPPING") == "1")
    assert d.stop() == 0


def test_reloading_then_ready_on_sighup(make_daemon, notify):
    d = make_daemon(env=notify.env())
    first = notify.wait(lambda m: m.get("READY") == "1")
    assert first
    start = notify.last
    d.proc.send_signal(signal.SIGHUP)
    m = notify.wait(lambda m: m.get("RELOADING") == "1", start + 1)
    assert int(m["MONOTONIC_USEC"]) > 0
    notify.wait(lambda m: m.get("READY") == "1", notify.last + 1)
    d.wait_log(r"SIGHUP: \[access\] policy reloaded")
    # A reload that fails is over too: READY=1 again all the same.
    d.ini.write_text(d.ini.read_text() + "\n[daemon]\nbogus_key = 1\n")
    d.proc.send_signal(signal.SIGHUP)
    notify.wait(lambda m: m.get("RELOADING") == "1", notify.last + 1)
    notify.wait(lambda m: m.get("READY") == "1", notify.last + 1)
    d.wait_log(r"SIGHUP: .* not reloaded")


def test_watchdog(make_daemon, notify):
    """WATCHDOG_USEC set (WatchdogSec=): WATCHDOG=1 keeps coming from the
    monitor's loop, while it has nothing else to do."""
    make_daemon(env=notify.env(WATCHDOG_USEC="200000"))
    notify.wait(lambda m: m.get("READY") == "1")
    for _ in range(3):
        notify.wait(lambda m: m.get("WATCHDOG") == "1", notify.last + 1)


def test_notify_socket_is_the_monitors_only(make_daemon, notify):
    """procctld's own NOTIFY_SOCKET (and watchdog) is not handed to the
    server nor to a managed process; the monitor keeps it across a
    `daemon upgrade` re-exec (same pid: no MAINPID=), and says READY=1
    again after it."""
    d = make_daemon(env=notify.env(WATCHDOG_USEC="60000000"))
    notify.wait(lambda m: m.get("READY") == "1")
    ours = {b"NOTIFY_SOCKET", b"WATCHDOG_USEC", b"WATCHDOG_PID"}
    assert not names(environ(d.server_pid)) & ours
    pid = int(d.ctl("run", "sleep", "100").stdout)
    assert not names(environ(pid)) & ours
    old, mon = d.server_pid, d.proc.pid
    at = len(notify.read())
    assert d.ctl("daemon", "upgrade").returncode == 0
    notify.wait(lambda m: m.get("RELOADING") == "1", at)
    m = notify.wait(lambda m: m.get("READY") == "1", notify.last + 1)
    assert "MAINPID" not in m
    wait_for(lambda: d.server_pid != old and d.ctl("ping").returncode == 0)
    assert d.proc.pid == mon and d.proc.poll() is None
    assert not names(environ(d.server_pid)) & ours
    notify.wait_status(r"1 process, \d+ clients?", notify.last)
    assert d.ctl("close", pid).returncode == 0


def test_no_notify_socket_no_change(make_daemon):
    """Without NOTIFY_SOCKET nothing is sent and nothing is logged."""
    d = make_daemon()
    assert d.ctl("ping").stdout == "PONG\n"
    assert "sd_notify" not in d.log()


# ---- socket activation ----

need_activate = pytest.mark.skipif(
    ACTIVATE is None, reason="no systemd-socket-activate (package systemd)")


def activated(make_daemon, listen, ini=None, sock=None):
    """A daemon started as systemd-socket-activate starts it: LISTEN on
    its own sockets (-l each), exec'd at the first connection."""
    prefix = [ACTIVATE]
    for spec in listen:
        prefix += ["-l", str(spec)]
    d = make_daemon(ini, start=False, prefix=prefix, sock=sock)
    d.start(wait=False)
    return d


def listener_inode(d):
    """The socket the server accepts on at fd 4 (the first listener the
    monitor hands it: the Unix socket)."""
    return d.fd_table()[4]


@need_activate
def test_socket_activation(make_daemon, tmp_path):
    """The Unix socket systemd passed is accepted on as it is (not bound
    again); it survives a server killed with SIGKILL (the monitor hands
    it to the next); SIGHUP does not make it again when it is deleted;
    the path stays when procctld exits."""
    sock = tmp_path / "act.sock"
    d = activated(make_daemon, [sock], sock=sock)
    wait_for(lambda: connectable(sock))
    ino = sock.stat().st_ino
    # The first connection is what makes systemd-socket-activate exec.
    r = d.ctl("ping", timeout=60)
    assert r.stdout == "PONG\n", r.stderr + d.log()
    d.wait_log(r"socket activation: accepting on %s, passed by the "
               r"service manager" % re.escape(str(sock)))
    assert sock.stat().st_ino == ino
    pid = int(d.ctl("run", "sleep", "100").stdout)
    before, old = listener_inode(d), d.server_pid
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: d.server_pid != old and d.ctl("ping").returncode == 0,
             timeout=60)
    assert listener_inode(d) == before
    assert str(pid) in d.ctl("list").stdout
    # Deleted: systemd's to make again, not ours.
    sock.unlink()
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"SIGHUP: the socket %s was deleted; it is the service "
               r"manager's \(socket activation\)" % re.escape(str(sock)))
    assert not sock.exists()
    d.stop()
    # Made again, as systemd would: it goes through `daemon upgrade`
    # as it is, still systemd's: procctld leaves it at exit.
    d2 = activated(make_daemon, [sock], sock=sock)
    wait_for(lambda: connectable(sock))
    assert d2.ctl("ping", timeout=60).stdout == "PONG\n", d2.log()
    before, old = listener_inode(d2), d2.server_pid
    assert d2.ctl("daemon", "upgrade").returncode == 0
    wait_for(lambda: d2.server_pid != old and d2.ctl("ping").returncode ==
             0, timeout=60)
    d2.wait_log(r"upgrade: re-executing")
    assert listener_inode(d2) == before
    assert d2.stop() == 0
    assert sock.exists(), "procctld removed the socket systemd made"


@need_activate
def test_activated_socket_matching_no_listener(make_daemon, tmp_path):
    """A passed socket that is none of the configured listeners is
    refused by what it is, and procctld does not start."""
    other = tmp_path / "other.sock"
    d = activated(make_daemon, [other], sock=tmp_path / "mine.sock")
    wait_for(lambda: connectable(other))
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(str(other))
    assert d.proc.wait(timeout=60) == 78, d.log()
    c.close()
    assert re.search(r"socket activation: fd 3 \(unix %s\) is none of the "
                     r"configured listeners \(the Unix socket %s"
                     % (re.escape(str(other)),
                        re.escape(str(tmp_path / "mine.sock"))), d.log())
    assert not (tmp_path / "mine.sock").exists()
    assert other.exists()


@need_activate
def test_activated_tcp_beside_a_bound_unix_socket(make_daemon, tmp_path):
    """A TCP listener systemd passed is taken by its address; the Unix
    socket it did not pass is bound as without activation."""
    def connect(d, port):
        """A connection to PORT once systemd-socket-activate listens
        there; None if it exited (the port was taken meanwhile)."""
        def attempt():
            if d.proc.poll() is not None:
                return "exited"
            try:
                return socket.create_connection(("127.0.0.1", port),
                                                timeout=5)
            except ConnectionRefusedError:
                return None
        s = wait_for(attempt, timeout=60, describe=d.log)
        return None if s == "exited" else s

    for _ in range(20):
        port = free_port()
        d = activated(make_daemon, ["127.0.0.1:%d" % port],
                      ini=tcp_ini(tmp_path, ["127.0.0.1:%d" % port]))
        s = connect(d, port)
        if s is not None:
            break
    else:
        raise AssertionError("no free port")
    s.sendall(b"PING\r\n")
    s.settimeout(60)
    assert s.recv(100).startswith(b"-"), "TCP served before AUTH"
    s.close()
    d.wait_log(r"socket activation: accepting on tcp 127\.0\.0\.1:%d "
               r"\(fd 3\)" % port)
    wait_for(lambda: connectable(d.sock))
    assert d.ctl("ping").stdout == "PONG\n"
    assert d.stop() == 0
    assert not d.sock.exists()       # ours: removed as always


# ---- the unit files ----

def units(tmp_path):
    """procctld.service and procctld.socket as `make install` writes them,
    made for paths that exist here: the built procctld as BINDIR."""
    build = tmp_path / "build"
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    r = subprocess.run(
        ["make", "-C", str(ROOT), "--no-print-directory",
         "BUILD=%s" % build, "BINDIR=%s" % BUILD, "SYSCONFDIR=/etc",
         "%s/inst/procctld.service" % build,
         "%s/inst/procctld.socket" % build],
        capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    unitdir = tmp_path / "units"
    unitdir.mkdir()
    for name in ("procctld.service", "procctld.socket"):
        shutil.copy(build / "inst" / name, unitdir / name)
    return unitdir


def test_units_content(tmp_path):
    d = units(tmp_path)
    service = (d / "procctld.service").read_text()
    sock = (d / "procctld.socket").read_text()
    assert "ExecStart=%s -c /etc/procctl/procctld.ini" % PROCCTLD in service
    assert re.search(r"(?m)^Type=notify$", service)
    # Nothing that would take stderr from journald's stream (the <N>
    # prefixes: test_daemon_log.py), nor what a supervisor of users'
    # processes cannot live with.
    for bad in ("StandardError=", "StandardOutput=", "ProtectHome=",
                "PrivateTmp=", "NoNewPrivileges=", "ProtectSystem=",
                "User=", "DynamicUser="):
        assert not re.search(r"(?m)^%s" % bad, service), bad
    assert re.search(r"(?m)^ListenStream=/run/procctl/procctl\.sock$", sock)
    assert re.search(r"(?m)^SocketMode=0660$", sock)
    assert "@" not in service and "@" not in sock


@pytest.mark.skipif(ANALYZE is None, reason="no systemd-analyze")
def test_units_verify(tmp_path):
    d = units(tmp_path)
    # Documentation=man:procctld(8) is checked with man(1): the pages of
    # this tree.
    man = tmp_path / "man"
    (man / "man8").mkdir(parents=True)
    (man / "man1").mkdir()
    shutil.copy(ROOT / "docs/procctld.8", man / "man8")
    shutil.copy(ROOT / "docs/procctl.1", man / "man1")
    env = dict(os.environ, MANPATH=str(man), SYSTEMD_LOG_LEVEL="notice")
    cmd = [ANALYZE, "verify"]
    if shutil.which("man") is None:
        cmd.append("--man=no")
    r = subprocess.run(cmd + [str(d / "procctld.socket"),
                              str(d / "procctld.service")],
                       capture_output=True, text=True, env=env, timeout=120)
    out = r.stdout + r.stderr
    if r.returncode != 0 and re.search(r"Failed to (initialize manager|"
                                       r"set up)|Operation not permitted",
                                       out):
        pytest.skip("systemd-analyze verify cannot run here: " + out)
    assert r.returncode == 0, out
    # Unknown or misplaced keys are warnings, not failures: none at all.
    assert not re.search(r"Unknown|ignoring|not supported|obsolete", out,
                         re.I), out
