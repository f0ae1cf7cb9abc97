"""procctld facing a service manager's side gone wrong (issue 13's
review): a notify socket that is full, missing or no socket's name, and
listening sockets passed by socket activation that cannot be listeners.
The monitor never blocks on the manager, and what is wrong is said in a
line that names it."""
import os
import socket

import pytest

from conftest import default_ini, wait_for
from test_systemd import Notify


def fill(path):
    """Datagrams sent to PATH until its queue is full: the manager has
    stopped reading.  How many."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setblocking(False)
    n = 0
    try:
        while True:
            s.sendto(b"FILLER=%d" % n, path)
            n += 1
    except BlockingIOError:
        return n
    finally:
        s.close()


@pytest.fixture
def notify(tmp_path):
    n = Notify(tmp_path)
    yield n
    n.close()


# ---- the notify socket ----

def test_full_notify_socket_never_blocks_the_monitor(make_daemon, notify):
    """The manager never reads: READY=1 and every WATCHDOG=1 find the
    queue full; the monitor says so once and goes on serving."""
    assert fill(notify.path) > 0
    d = make_daemon(env=notify.env(WATCHDOG_USEC="2000"))
    d.wait_log(r"sd_notify: the service manager is not reading "
               r"\$NOTIFY_SOCKET")
    pid = int(d.ctl("run", "sleep", "100").stdout)
    assert d.ctl("close", pid).returncode == 0
    assert d.log().count("is not reading $NOTIFY_SOCKET") == 1
    assert d.stop() == 0


def test_ready_said_once_the_manager_reads(make_daemon, notify):
    """A state the full queue refused is sent again: once the manager
    reads, it hears READY=1."""
    filled = fill(notify.path)
    d = make_daemon(env=notify.env())
    d.wait_log(r"is not reading \$NOTIFY_SOCKET")
    assert len(notify.read()) == filled            # the fillers only
    m = notify.wait(lambda m: "READY" in m, filled)
    assert m["READY"] == "1"
    assert d.ctl("ping").stdout == "PONG\n"


@pytest.mark.parametrize("where,said", [
    ("missing", r"sd_notify to \$NOTIFY_SOCKET: No such file or directory "
     r"\(the service manager does not hear from procctld\)"),
    ("relative", r"\$NOTIFY_SOCKET is not a socket's path nor an "
     r"@abstract name of at most 107 bytes"),
    ("long", r"\$NOTIFY_SOCKET is not a socket's path nor an "
     r"@abstract name of at most 107 bytes"),
])
def test_unusable_notify_socket_said_once(make_daemon, tmp_path, where,
                                          said):
    path = {"missing": str(tmp_path / "gone.sock"),
            "relative": "notify.sock",
            "long": "/" + "n" * 200}[where]
    d = make_daemon(env=dict(os.environ, NOTIFY_SOCKET=path,
                             WATCHDOG_USEC="20000"))
    d.wait_log(said)
    assert d.ctl("ping").stdout == "PONG\n"
    # Every watchdog tick fails the same way: one line, not one a tick.
    pid = int(d.ctl("run", "sleep", "100").stdout)
    assert d.ctl("close", pid).returncode == 0
    assert len([l for l in d.log().splitlines()
                if "NOTIFY_SOCKET" in l]) == 1, d.log()
    assert d.stop() == 0


def test_abstract_notify_socket(make_daemon):
    """NOTIFY_SOCKET=@name: the abstract socket of that name, as
    sd_notify(3) reads it."""
    name = "procctl-test-%d" % os.getpid()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(60)
    try:
        make_daemon(env=dict(os.environ, NOTIFY_SOCKET="@" + name))
        assert s.recv(4096) == b"READY=1"
    finally:
        s.close()
