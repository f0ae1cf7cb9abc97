"""TCP mode: listeners from [tcp], authentication against the secrets file,
redis-cli and procctl (one-shot and shell) as remote clients."""
import contextlib
import json
import os
import re
import socket
import subprocess

import pytest

from conftest import PROCCTL, default_ini, hashed, wait_for
from test_shell import alive

SECRETS = "root:rootpw\nnobody:nobodypw\n# a comment\nghost:ghostpw\n"
IS_ROOT = os.geteuid() == 0


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port free at this moment, and only then: another process (a test
    run beside this one, an outgoing connection) may take it before a
    daemon binds it.  Start daemons with tcp_daemon(), which tries again;
    for a port that must stay unreachable, use dead_port()."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dead_port(host="127.0.0.1"):
    """A port nothing listens on while this lasts: bound here and never
    listened on, so a connection to it is refused; and bound without
    SO_REUSEADDR, so no other socket (a daemon of a concurrent run) can
    bind it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        yield s.getsockname()[1]


def tcp_daemon(make_daemon, ini_for, where=((socket.AF_INET, "127.0.0.1"),),
               attempts=20):
    """A started daemon listening on fresh TCP ports, one per (family,
    host) in WHERE; INI_FOR(ports) makes its configuration.  procctld
    takes no port 0 (so it cannot pick a free one itself), and a port
    found free here can be taken before the daemon binds it: when the
    daemon stops on "Address already in use", try again with other ports.
    The daemon gets .ports and .port (the first)."""
    for _ in range(attempts):
        ports = [free_port(f, h) for f, h in where]
        d = make_daemon(ini_for(ports), start=False)
        d.start(wait=False)
        # Up when the last line of start-up is logged: every listener is
        # then open ("listening on tcp ..." comes once per listener).
        wait_for(lambda: d.proc.poll() is not None or re.search(
            r"procctld \S+ listening on ", d.log()), timeout=60,
            describe=d.log)
        if d.proc.poll() is None:
            d.ports, d.port = ports, ports[0]
            return d
        assert "Address already in use" in d.log(), d.log()
    raise AssertionError("no free ports in %d attempts:\n%s" % (attempts,
                                                               d.log()))


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def tcp_ini(tmp_path, listen, secrets=SECRETS, mode=0o600, extra="",
            plain=False):
    """[tcp] on LISTEN, with SECRETS (user:secret lines) hashed into the
    secrets file, as they must be (PLAIN: written as they are)."""
    path = tmp_path / "secrets"
    path.write_text(secrets if plain else hashed(secrets))
    os.chmod(path, mode)
    lines = "".join("listen = %s\n" % l for l in listen)
    return default_ini() + "\n[tcp]\n%ssecrets = %s\n%s" % (lines, path,
                                                           extra)


@pytest.fixture
def tcp(make_daemon, tmp_path):
    return tcp_daemon(make_daemon, lambda ports: tcp_ini(
        tmp_path, ["127.0.0.1:%d" % ports[0]]))


def redis(port, *args, user="root", secret="rootpw", host="127.0.0.1"):
    cmd = ["redis-cli", "-h", host, "-p", str(port)]
    if user is not None:
        cmd += ["--user", user, "--pass", secret]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def ctl(target, *args, secret="rootpw", json_out=False):
    env = dict(os.environ)
    env.pop("PROCCTL_SECRET", None)
    if secret is not None:
        env["PROCCTL_SECRET"] = secret
    cmd = [str(PROCCTL), "-H", target] + (["--json"] if json_out else [])
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                          text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL, start_new_session=True)


class Tcp:
    """A raw TCP client speaking RESP2 arrays.  SOURCE: the local address
    to connect from (any of 127.0.0.0/8 is this machine's), for a peer
    the daemon counts apart."""

    def __init__(self, port, host="127.0.0.1", source=None):
        self.s = socket.create_connection(
            (host, port), timeout=20,
            source_address=(source, 0) if source else None)
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.f.readline().decode().rstrip("\r\n")

    def close(self):
        self.f.close()
        self.s.close()


def test_redis_cli_over_tcp(tcp):
    r = redis(tcp.port, "add", "1", "2")
    assert r.returncode == 0 and r.stdout == "3\n", r.stderr
    r = redis(tcp.port, "mult", "6", "7")
    assert r.stdout == "42\n"
    # The authenticated user owns what the session starts.
    pid = int(redis(tcp.port, "run", "sleep", "60").stdout)
    rows = json.loads(tcp.ctl("list", "details", json=True).stdout)
    row = [r for r in rows if r["pid"] == pid][0]
    assert row["owner"] == "root" and row["scope"] == "one-shot"
    assert tcp.ctl("close", pid).returncode == 0


def test_unauthenticated_commands_refused(tcp):
    r = redis(tcp.port, "add", "1", "2", user=None)
    assert r.stdout == "NOAUTH Authentication required.\n\n", r.stdout
    c = Tcp(tcp.port)
    # Not even PING or COMMAND: which commands exist is for users only.
    # Redis's own words, whatever the command.
    noauth = "-NOAUTH Authentication required."
    assert c.cmd("ping") == noauth
    assert c.cmd("command") == noauth
    assert c.cmd("run", "touch", "/tmp/procctl-should-not-exist") == noauth
    assert c.cmd("list") == noauth
    assert c.cmd("no-such-command") == noauth
    assert c.cmd("auth", "root", "rootpw") == "+OK"
    assert c.cmd("add", "2", "3") == ":5"
    c.close()
    assert not os.path.exists("/tmp/procctl-should-not-exist")


def test_wrong_secrets_generic_error_delay_and_log(tcp):
    c = Tcp(tcp.port)
    # Wrong secret, unknown user, user with a secret but no account: all
    # get the same words.
    for user, secret in [("root", "nope"), ("nosuchuser", "x"),
                         ("ghost", "ghostpw"), ("root", "rootpw2"),
                         ("root", "")]:
        assert c.cmd("auth", user, secret) == \
            "-AUTH invalid username or secret"
    # The single-argument form is Redis's user "default": unknown here.
    assert c.cmd("auth", "rootpw") == "-AUTH invalid username or secret"
    # The connection is still usable and still unauthenticated.
    assert c.cmd("add", "1", "1") == "-NOAUTH Authentication required."
    assert c.cmd("auth", "root", "rootpw") == "+OK"
    assert c.cmd("add", "1", "1") == ":2"
    c.close()
    tcp.wait_log(r"authentication failure from 127\.0\.0\.1:\d+ for user "
                 r"'root' \(1 on this connection, 1 since start\)")
    tcp.wait_log(r"for user 'nosuchuser' \(2 on this connection, 2 since")
    tcp.wait_log(r"user 'ghost' has a secret but no local account")
    tcp.wait_log(r"for user 'default' \(6 on this connection, 6 since")
    log = tcp.log()
    assert "rootpw2" not in log and "nope" not in log   # no secrets logged
    # The count goes on across connections.
    c = Tcp(tcp.port)
    c.cmd("auth", "root", "bad")
    c.close()
    tcp.wait_log(r"\(1 on this connection, 7 since start\)")


def test_failed_auth_holds_back_pipelined_commands(tcp):
    """A guess is answered late, and what was pipelined behind it waits
    for that answer, in order: no way to race past the delay."""
    s = socket.create_connection(("127.0.0.1", tcp.port), timeout=20)
    s.sendall(b"AUTH root bad\r\nAUTH root bad2\r\nPING\r\nADD 1 2\r\n"
              b"AUTH root rootpw\r\nADD 1 2\r\n")
    f = s.makefile("rb")
    got = [f.readline().decode().rstrip() for _ in range(6)]
    assert got[:2] == ["-AUTH invalid username or secret"] * 2
    assert got[2:4] == ["-NOAUTH Authentication required."] * 2
    assert got[4:] == ["+OK", ":3"]
    s.close()


def decided(d, host="127.0.0.1"):
    """AUTH attempts from HOST the daemon D has decided: (checked and
    wrong, not checked because a name or address was throttled)."""
    log = d.log()
    return (len(re.findall(r"authentication failure from %s:\d+ " %
                           re.escape(host), log)),
            len(re.findall(r"AUTH from %s for user '[^']*' not checked" %
                           re.escape(host), log)))


def test_disconnect_during_auth_delay(tcp):
    # More than the address may fail unthrottled (10), fewer than it may
    # hold connections (16): the closed ones hold theirs until answered.
    n = 14
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", tcp.port), timeout=20)
        s.sendall(b"AUTH user%d bad\r\nADD 1 1\r\n" % i)
        s.close()
    # Every attempt is decided (checked, or refused unchecked once the
    # address is throttled) and answered late, to a closed connection.
    wait_for(lambda: sum(decided(tcp)) == n, timeout=60,
             describe=lambda: "decided %r of %d:\n%s" % (decided(tcp), n,
                                                        tcp.log()))
    c = Tcp(tcp.port)
    assert c.cmd("auth", "root", "bad") == "-AUTH invalid username or secret"
    c.close()
    # Another address, unthrottled, is served as ever.
    c = Tcp(tcp.port, source="127.0.0.2")
    assert c.cmd("auth", "root", "rootpw") == "+OK"
    assert c.cmd("add", "1", "1") == ":2"
    c.close()
    assert tcp.proc.poll() is None


def test_hello_auth(tcp):
    c = Tcp(tcp.port)
    assert c.cmd("hello", "3", "auth", "root", "wrong") == \
        "-AUTH invalid username or secret"
    head = c.cmd("hello", "3", "auth", "root", "rootpw")
    assert head.startswith("%")        # the RESP3 map of server facts
    c.close()


def test_procctl_one_shot_over_tcp(tcp):
    r = ctl("tcp://root@127.0.0.1:%d" % tcp.port, "add", "1", "2")
    assert r.returncode == 0 and r.stdout == "3\n", r.stderr
    r = ctl("tcp://127.0.0.1:%d" % tcp.port, "list")      # user: login
    assert r.returncode == 0, r.stderr
    r = ctl("tcp://root@127.0.0.1:%d" % tcp.port, "add", "1", "2",
            secret="wrong")
    assert r.returncode == 77
    assert "invalid username or secret" in r.stderr
    # No secret and no terminal to ask on: a clear error, not a hang.
    r = ctl("tcp://root@127.0.0.1:%d" % tcp.port, "add", "1", "2",
            secret=None)
    assert r.returncode != 0 and "PROCCTL_SECRET" in r.stderr
    # PROCCTL_HOST works as -H does.
    env = dict(os.environ, PROCCTL_HOST="tcp://root@127.0.0.1:%d" % tcp.port,
               PROCCTL_SECRET="rootpw")
    r = subprocess.run([str(PROCCTL), "mult", "3", "3"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.stdout == "9\n", r.stderr
    # Nothing listens: exit 69 with the address in the message.
    with dead_port() as port:
        r = ctl("tcp://root@127.0.0.1:%d" % port, "add", "1", "2")
    assert r.returncode == 69 and "127.0.0.1" in r.stderr


def test_bad_targets(tcp):
    for bad in ["tcp://127.0.0.1", "tcp://127.0.0.1:0",
                "tcp://127.0.0.1:99999", "http://x:1", "tcp://@h:1"]:
        r = ctl(bad, "add", "1", "2")
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.startswith("procctl: "), r.stderr


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_listener(make_daemon, tmp_path):
    d = tcp_daemon(make_daemon, lambda ports: tcp_ini(
        tmp_path, ["127.0.0.1:%d" % ports[0], "[::1]:%d" % ports[1]]),
        [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
    p4, p6 = d.ports
    assert redis(p6, "add", "2", "2", host="::1").stdout == "4\n"
    assert redis(p4, "add", "2", "2").stdout == "4\n"
    r = ctl("tcp://root@[::1]:%d" % p6, "add", "5", "5")
    assert r.stdout == "10\n", r.stderr
    assert re.search(r"listening on \[::1\]:%d" % p6, d.log()) or \
        re.search(r"listening on .*::1.*%d" % p6, d.log())


@pytest.mark.skipif(not IS_ROOT, reason="needs root: runs a process as "
                    "the user 'nobody'")
def test_authenticated_user_owns_processes(tcp):
    r = redis(tcp.port, "run", "sleep", "60", user="nobody",
              secret="nobodypw")
    pid = int(r.stdout)
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", status, re.M)
    assert uid.groups() == ("65534",) * 3
    rows = json.loads(tcp.ctl("list", "details", json=True).stdout)
    assert [r for r in rows if r["pid"] == pid][0]["owner"] == "nobody"
    # nobody sees only nobody's processes; root (admin) sees them all.
    root_pid = int(redis(tcp.port, "run", "sleep", "61").stdout)
    mine = redis(tcp.port, "list", user="nobody", secret="nobodypw").stdout
    assert str(pid) in mine and str(root_pid) not in mine
    r = redis(tcp.port, "close", root_pid, user="nobody", secret="nobodypw")
    assert r.stdout.startswith("NOENT"), r.stdout
    assert redis(tcp.port, "close", pid, user="nobody",
                 secret="nobodypw").returncode == 0
    redis(tcp.port, "close", root_pid)


# ---- start-up refusals: exit 78 with a clear reason, before listening ----

def refuses(make_daemon, ini, pattern):
    d = make_daemon(ini, start=False)
    d.start(wait=False)
    assert d.proc.wait(timeout=30) == 78, d.log()
    assert re.search(pattern, d.log()), d.log()
    assert "listening on" not in d.log()
    assert not d.sock.exists()


def test_secrets_readable_by_others_refused(make_daemon, tmp_path):
    refuses(make_daemon, tcp_ini(tmp_path, ["127.0.0.1:%d" % free_port()],
                                 mode=0o644),
            r"secrets file .*: mode 0644 lets others read or change it; "
            r"chmod 600 it")


def test_secrets_missing_refused(make_daemon, tmp_path):
    ini = default_ini() + "\n[tcp]\nlisten = 127.0.0.1:%d\n" % free_port()
    refuses(make_daemon, ini, r"\[tcp\] listen needs secrets = FILE")
    ini += "secrets = %s\n" % (tmp_path / "nope")
    refuses(make_daemon, ini, r"secrets file .*nope: No such file")


def test_secrets_malformed_refused(make_daemon, tmp_path):
    refuses(make_daemon, tcp_ini(tmp_path, ["127.0.0.1:%d" % free_port()],
                                 secrets="root:ok\njustaname\n"),
            r"secrets:2: expected user:hash")


def test_non_loopback_without_tls_refused(make_daemon, tmp_path):
    for spec in ["0.0.0.0:%d" % free_port(), "[::]:%d" % free_port()]:
        refuses(make_daemon, tcp_ini(tmp_path, [spec]),
                r"\[tcp\] listen = %s: not a loopback address; plaintext "
                r"TCP is allowed only on loopback: set tls_cert and tls_key"
                % re.escape(spec))


def test_bad_listen_specs_refused(make_daemon, tmp_path):
    for spec in ["127.0.0.1", "127.0.0.1:notaport", "127.0.0.1:70000",
                 "127.0.0.1:0", "[::1:5", "127.0.0.1:-1", "127.0.0.1: 80"]:
        refuses(make_daemon, tcp_ini(tmp_path, [spec]),
                r"listen.*%s.*expected HOST:PORT" % re.escape(spec))


def test_tcp_off_by_default(daemon):
    assert "listening on tcp" not in daemon.log()
    ports = open("/proc/net/tcp").read() + open("/proc/net/tcp6").read()
    inodes = {os.readlink("/proc/%d/fd/%s" % (daemon.server_pid, fd))
              for fd in os.listdir("/proc/%d/fd" % daemon.server_pid)}
    socks = {i[8:-1] for i in inodes if i.startswith("socket:[")}
    listening = [l.split() for l in ports.split("\n")[1:] if l.strip()]
    assert not [l for l in listening if l[3] == "0A" and l[9] in socks]


# ---- the shell over TCP ----

def test_shell_connects_over_tcp(tcp, tmux):
    t = tmux("%s -s %s" % (PROCCTL, tcp.sock),
             env={"PROCCTL_SECRET": "rootpw"})
    t.wait(r"procctl \S+> *$")
    t.type("connect 127.0.0.1 %d" % tcp.port)
    t.wait(r"connected to 127\.0\.0\.1:%d as root\n"
           r"procctl root@127\.0\.0\.1:%d> *$" % (tcp.port, tcp.port))
    t.type("add 19 23")
    t.wait(r"^42$")
    # Events arrive over TCP too.
    pid = int(redis(tcp.port, "run", "sh", "-c", "exit 4").stdout)
    t.wait(r"\[event\] %d sh exited with status 4" % pid)
    # A session-scoped process started over TCP ends on disconnect.
    t.type("run sleep 100")
    t.wait(r"sleep 100\n\d+")
    scoped = int(t.screen().split("run sleep 100\n")[1].split()[0])
    t.type("disconnect")
    t.wait(r"^disconnected$")
    wait_for(lambda: not alive(scoped))
    t.type("exit")
    wait_for(t.dead)


def test_shell_tcp_wrong_secret_and_prompt(tcp, tmux):
    t = tmux("%s" % PROCCTL, env={"PROCCTL_SOCKET": str(tcp.sock)})
    t.wait(r"procctl \S+> *$")
    # No PROCCTL_SECRET: the shell asks on the terminal, without echo.
    t.type("connect 127.0.0.1 %d" % tcp.port)
    t.wait(r"secret for \S+@127\.0\.0\.1:%d: *$" % tcp.port)
    t.type("wrongpw")
    t.wait(r"invalid username or secret")
    assert "wrongpw" not in t.screen()
    t.wait(r"procctl \(not connected\)> *$")
    t.type("connect nobody@127.0.0.1 %d" % tcp.port)
    t.wait(r"secret for nobody@127\.0\.0\.1:%d: *$" % tcp.port)
    t.type("nobodypw")
    t.wait(r"connected to 127\.0\.0\.1:%d as nobody" % tcp.port)
    t.type("connect root@127.0.0.1 %d" % tcp.port)
    t.wait(r"(secret for[\s\S]*){3}")
    t.type("rootpw")
    # (as root: an earlier line says "as nobody", and AUTH takes a
    # moment now that secrets are hashes)
    t.wait(r"connected to .*127\.0\.0\.1:%d as root" % tcp.port)
    t.type("mult 2 21")
    t.wait(r"^42$")
    assert "rootpw" not in t.screen()


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_shell_connects_over_ipv6(make_daemon, tmp_path, tmux):
    d = tcp_daemon(make_daemon, lambda ports: tcp_ini(
        tmp_path, ["[::1]:%d" % ports[0]]), [(socket.AF_INET6, "::1")])
    p6 = d.port
    t = tmux("%s -s %s" % (PROCCTL, d.sock), env={"PROCCTL_SECRET": "rootpw"})
    t.wait(r"procctl \S+> *$")
    t.type("connect ::1 %d" % p6)
    t.wait(r"connected to \[::1\]:%d as root" % p6)
    t.type("add 1 1")
    t.wait(r"^2$")
