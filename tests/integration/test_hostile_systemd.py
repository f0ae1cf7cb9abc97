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


def test_manager_that_stalls_now_and_then_is_one_line(make_daemon,
                                                      notify):
    """The queue fills, drains, fills again, ... under a watchdog of a
    millisecond: the first time is said, not each."""
    fill(notify.path)
    d = make_daemon(env=notify.env(WATCHDOG_USEC="2000"))
    d.wait_log(r"is not reading \$NOTIFY_SOCKET")
    for _ in range(5):
        # Room for one: the next WATCHDOG=1 takes it and the queue is
        # full again for the ticks after it.
        at = len(notify.read())
        fill(notify.path)
        notify.sock.recv(4096)
        notify.wait(lambda m: m.get("WATCHDOG") == "1", at)
    assert d.ctl("ping").stdout == "PONG\n"
    assert d.log().count("is not reading $NOTIFY_SOCKET") == 1, d.log()


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


# ---- sockets passed by socket activation ----

# Plays systemd's part: makes the sockets its arguments name (up to
# "--"), puts them at fd 3 on, sets LISTEN_FDS and LISTEN_PID (ours,
# unless "pid=N" says another) and execs the rest: the pid stays.
HAND = r'''
import os, socket, sys

at = sys.argv.index("--")
keep, pid = [], os.getpid()
for spec in sys.argv[1:at]:
    kind, _, path = spec.partition(":")
    if kind == "pid":
        pid = int(path)
        continue
    if kind == "file":
        keep.append(os.open("/dev/null", os.O_RDONLY))
        continue
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if kind == "dgram"
                      else socket.SOCK_STREAM)
    s.bind(path)
    if kind == "accepted":
        s.listen()
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        keep.append(s.accept()[0].detach())
        continue
    if kind == "listen":
        s.listen()
    keep.append(s.detach())
high = [os.dup(fd) for fd in keep]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
os.environ.update(LISTEN_FDS=str(len(keep)), LISTEN_PID=str(pid))
os.execv(sys.argv[at + 1], sys.argv[at + 1:])
'''


def handed(make_daemon, tmp_path, specs):
    """A daemon started with the sockets SPECS name passed to it, as
    systemd passes them; its exit status (it does not start)."""
    hand = tmp_path / "hand.py"
    hand.write_text(HAND)
    d = make_daemon(start=False, prefix=["/usr/bin/python3", str(hand)] +
                    specs + ["--"], sock=tmp_path / "p.sock")
    d.start(wait=False)
    return d


@pytest.mark.parametrize("kind,why", [
    ("file", r"fd 3 \(not a socket\) cannot be listened on: it is not a "
     r"socket"),
    ("dgram", r"fd 3 \(unix \S+/p\.sock\) cannot be listened on: it is not "
     r"a stream socket \(ListenStream=\)"),
    ("accepted", r"fd 3 \(unix \S+/p\.sock\) cannot be listened on: it is "
     r"not listening \(Accept=yes passes connections, not listeners\)"),
    ("bound", r"fd 3 \(unix \S+/p\.sock\) cannot be listened on: it is "
     r"not listening"),
])
def test_passed_socket_that_cannot_listen(make_daemon, tmp_path, kind, why):
    """A passed fd on the configured path that is no listening stream
    socket is refused for what it is (not 'another procctld is
    listening', not 'Protocol wrong type'), before anything is bound;
    an unusable socket unit is a configuration error: 78."""
    sock = tmp_path / "p.sock"
    d = handed(make_daemon, tmp_path, ["%s:%s" % (kind, sock)])
    assert d.proc.wait(timeout=60) == 78, d.log()
    d.wait_log(r"socket activation: " + why)
    assert "another procctld" not in d.log()
    assert "Protocol wrong type" not in d.log()


def test_too_many_passed_sockets(make_daemon, tmp_path):
    specs = ["listen:%s" % (tmp_path / ("s%d" % i)) for i in range(65)]
    d = handed(make_daemon, tmp_path, specs)
    assert d.proc.wait(timeout=60) == 78, d.log()
    d.wait_log(r"socket activation: 65 sockets passed; procctld takes at "
               r"most 64")


def test_sockets_passed_to_another_pid(make_daemon, tmp_path):
    """LISTEN_PID not ours: nothing was passed to procctld (sd_listen_fds
    says so), which binds its own socket, and says why in a note."""
    d = handed(make_daemon, tmp_path, ["pid:1", "listen:%s" %
                                       (tmp_path / "theirs.sock")])
    d.wait_ready()
    d.wait_log(r"socket activation: LISTEN_FDS=1, LISTEN_PID=1 is not for "
               r"procctld \(pid \d+\): no socket taken")
    assert d.ctl("ping").stdout == "PONG\n"
    # The socket meant for another is closed, not kept by procctld.
    with open("/proc/net/unix") as f:
        assert "theirs.sock" not in f.read()
    assert d.stop() == 0


@pytest.mark.parametrize("count", ["abc", "2"])
def test_listen_fds_that_cannot_be(make_daemon, tmp_path, count):
    """LISTEN_FDS that is no number, or counts fds that are not open."""
    hand = tmp_path / "hand.py"
    hand.write_text(HAND.replace("LISTEN_FDS=str(len(keep))",
                                 "LISTEN_FDS=%r" % count))
    d = make_daemon(start=False, prefix=["/usr/bin/python3", str(hand),
                                         "--"])
    d.start(wait=False)
    assert d.proc.wait(timeout=60) == 78, d.log()
    d.wait_log(r"socket activation: LISTEN_FDS=%s, LISTEN_PID=\d+: (Invalid "
               r"argument|Bad file descriptor); procctld takes the "
               r"listening sockets systemd passes" % count)
