"""The seed program's four known defects, each as a regression test:
1. the client died of SIGPIPE when the server went away;
2. replies were lost when the client typed fast;
3. at most 1024 clients could connect;
4. `run /` crashed the server."""
import resource
import socket
import subprocess

import pytest

from conftest import (PROCCTL, Push, connectable, default_ini, wait_for,
                      wait_state)
from test_proc import ignores_term


# ---- 1. SIGPIPE ----

def test_client_survives_daemon_death_mid_request(make_daemon):
    d = make_daemon(default_ini(proc="close_timeout = 60"))
    pid = int(d.ctl("run", "sh", "-c", "trap '' TERM; sleep 60; :").stdout)
    # The shell ignores TERM once its trap is set: close then waits.
    wait_for(lambda: ignores_term(pid))
    waiting = subprocess.Popen([str(PROCCTL), "-s", str(d.sock), "close",
                                str(pid)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    # The request is in: the daemon has sent TERM and waits for the exit.
    wait_state(d, pid, "closing")
    d.kill_hard()                        # the daemon dies, hard
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 69, err  # an exit code, not a signal
    assert "connection to" in err and "lost" in err
    subprocess.run(["kill", "-KILL", "--", "-%d" % pid])


def test_client_large_request_to_dead_daemon(make_daemon):
    d = make_daemon()
    d.kill_hard()
    # The server follows its monitor (SIGTERM from the kernel) and stops
    # listening: then the daemon is dead.
    wait_for(lambda: not connectable(d.sock))
    r = d.ctl("run", "x" * 100000)
    assert r.returncode == 69 and r.returncode > 0
    assert "cannot reach procctld" in r.stderr


def test_daemon_survives_clients_vanishing_mid_reply(daemon):
    for _ in range(50):
        c = daemon.raw()
        c.send(c.command("COMMAND") * 200)   # megabytes of replies
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()                            # reset, replies unread
    assert daemon.ctl("add", "1", "1").stdout == "2\n"
    assert daemon.proc.poll() is None


# ---- 2. replies lost when typing fast ----

def test_no_reply_lost_when_typing_fast_with_events(daemon):
    c = daemon.raw()
    c.call("HELLO", "3")
    c.call("SUBSCRIBE")
    n = 10000
    # Typed lines (inline), each its own command, with processes starting
    # and ending meanwhile so that events interleave with the replies.
    lines = []
    for i in range(n):
        lines.append(b"run true\r\n" if i % 100 == 0 else
                     b"add %d %d\r\n" % (i, i))
    c.send(b"".join(lines))
    replies, events = [], 0
    while len(replies) < n:
        v = c.read()
        if isinstance(v, Push):
            events += 1
        else:
            replies.append(v)
    for i, v in enumerate(replies):
        if i % 100 != 0:
            assert v == 2 * i, (i, v)
        else:
            assert isinstance(v, int) and v > 0
    assert events > 0


# ---- 3. at most 1024 clients ----

def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n:
        pytest.skip("RLIMIT_NOFILE hard limit %d is below %d" % (hard, n))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n), hard))


def test_many_concurrent_clients(daemon):
    n = 3000                      # well past the seed's 1024
    raise_nofile(n + 200)
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(daemon.sock))
        socks.append(s)
    for i, s in enumerate(socks):
        s.sendall(b"add %d 1\r\n" % i)
    for i, s in enumerate(socks):
        s.settimeout(30)
        data = b""
        while not data.endswith(b"\r\n"):
            data += s.recv(100)
        assert data == b":%d\r\n" % (i + 1)
    # All of them at once, and one more through the CLI.
    assert daemon.ctl("add", "1", "1").stdout == "2\n"
    for s in socks:
        s.close()


# ---- 4. run / ----

@pytest.mark.parametrize("path,why", [
    ("/", "is a directory"), ("//", "is a directory"),
    (".", "is a directory"), ("/dev/null", "permission denied"),
    ("", "no such file or directory"),
])
def test_run_slash_is_an_error_not_a_crash(daemon, path, why):
    r = daemon.ctl("run", path)
    assert r.returncode == 1 and why in r.stderr, r.stderr
    assert daemon.proc.poll() is None
    assert daemon.ctl("add", "1", "1").stdout == "2\n"
    assert daemon.redis("run", "/").stdout.startswith("EXEC cannot run '/'")
