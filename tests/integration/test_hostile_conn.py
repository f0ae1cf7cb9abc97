"""Hostile peers against connections and authentication: nobody, local
or remote, authenticated or not, takes the daemon from the others.

- Connection slots: a local user is capped (max_clients_per_user), TCP
  peers have a pool of their own ([tcp] max_clients) and a cap per
  address, a TCP peer that does not authenticate (or finish its TLS
  handshake) within auth_timeout is closed, and a client refused at the
  file-descriptor limit reads -LIMIT before the close.
- AUTH: guesses are throttled per user name and per address across
  connections; before AUTH a TCP peer is answered nothing but -NOAUTH;
  secrets are stored as crypt(3) hashes (plain text is refused, with the
  command that makes the line), and `procctld --hash-secret` makes them.

The numbers are drawn for each run: the limits hold whatever they are.
Two cases that need the real users and the PKI of test_security.py live
there (test_one_user_cannot_take_every_slot,
test_tls_handshake_not_finished_closed_after_auth_timeout): session
fixtures are not to be imported into another module, where they would be
made a second time."""
import random
import re
import signal
import socket
import subprocess

from conftest import PROCCTLD, Error, Raw, eof, hashed, wait_for
from test_tcp import Tcp, decided, free_port, tcp_daemon, tcp_ini

NOAUTH = "-NOAUTH Authentication required."
# Let in, but not yet anyone (the words are the NOAUTH test's).
NOT_YET = ("-NOAUTH", "-AUTH")
TCP_LIMIT = b"-LIMIT too many clients; try again later\r\n"


def tcp_with(make_daemon, tmp_path, tcp_extra="", daemon_extra=""):
    """A daemon with [tcp] on a fresh loopback port: TCP_EXTRA more [tcp]
    keys, DAEMON_EXTRA more [daemon] keys."""
    def ini(ports):
        text = tcp_ini(tmp_path, ["127.0.0.1:%d" % ports[0]],
                       extra=tcp_extra)
        return text.replace("[daemon]\n", "[daemon]\n%s\n" % daemon_extra,
                            1)
    return tcp_daemon(make_daemon, ini)


# ---- connection slots ----

def test_tcp_pool_is_apart_from_local(make_daemon, tmp_path):
    """Idle, unauthenticated TCP connections filling [tcp] max_clients
    take no slot from local users ([daemon] max_clients)."""
    m = random.randint(2, 4)
    t = random.randint(m + 1, m + 5)
    d = tcp_with(make_daemon, tmp_path, tcp_extra="max_clients = %d\n" % t,
                 daemon_extra="max_clients = %d" % m)
    held = [Tcp(d.port) for _ in range(t)]
    for c in held:
        assert c.cmd("ping").startswith(NOT_YET)    # each one in
    over = Tcp(d.port)
    assert over.f.readline() == TCP_LIMIT
    assert eof(over.s)
    local = [d.raw() for _ in range(m - 1)]
    for c in local:
        assert c.call("ping") == "PONG"
    r = d.ctl("list")
    assert r.returncode == 0, r.stderr
    d.wait_log(r"refused a client from 127\.0\.0\.1: \[tcp\] max_clients "
               r"\(%d\) reached" % t)


def test_tcp_connections_capped_per_address(make_daemon, tmp_path):
    a = random.randint(2, 6)
    d = tcp_with(make_daemon, tmp_path,
                 tcp_extra="max_clients_per_address = %d\n" % a)
    held = [Tcp(d.port) for _ in range(a)]
    for c in held:
        assert c.cmd("ping").startswith(NOT_YET)
    over = Tcp(d.port)
    assert over.f.readline() == TCP_LIMIT
    assert eof(over.s)
    # Another address is another count.
    other = Tcp(d.port, source="127.0.0.2")
    assert other.cmd("auth", "root", "rootpw") == "+OK"
    assert other.cmd("add", "2", "2") == ":4"
    d.wait_log(r"127\.0\.0\.1 holds \[tcp\] max_clients_per_address "
               r"\(%d\) connections" % a)
    held.pop().close()
    wait_for(lambda: Tcp(d.port).cmd("ping").startswith(NOT_YET))


def test_unauthenticated_tcp_closed_after_auth_timeout(make_daemon, tmp_path):
    d = tcp_with(make_daemon, tmp_path, tcp_extra="auth_timeout = 1\n")
    idle = Tcp(d.port)
    partial = Tcp(d.port)
    partial.s.sendall(b"*3\r\n$4\r\nAUTH\r\n$4\r\nroot\r\n")    # no secret
    authed = Tcp(d.port)
    assert authed.cmd("auth", "root", "rootpw") == "+OK"
    assert eof(idle.s) and eof(partial.s)
    d.wait_log(r"client \d+ from 127\.0\.0\.1:\d+: not authenticated "
               r"within auth_timeout \(1000 ms\); closing")
    # Its deadline has passed too (it was accepted first): it stays.
    assert authed.cmd("add", "1", "2") == ":3"


def test_client_refused_at_fd_limit_reads_limit(make_daemon):
    """Out of file descriptors, the daemon still tells a refused client
    why (the spare fd accepts it, writes -LIMIT, closes it)."""
    n = random.randint(80, 130)
    d = make_daemon(prefix=["prlimit", "--nofile=64:64", "--"])
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(d.sock))
        held.append(s)
    d.wait_log("refusing new clients until fds are freed")
    served = refused = 0
    for s in held:
        c = Raw.adopt(s)
        try:
            c.send(c.command("ping"))
        except (BrokenPipeError, ConnectionResetError):
            pass                    # refused: what it was told is there
        v = c.read()
        if v == "PONG":
            served += 1
            continue
        assert isinstance(v, Error) and v.code == "LIMIT", v
        assert "out of file descriptors" in v.text
        assert c.closed()
        refused += 1
    assert served > 0 and refused > 0 and served + refused == n
    for s in held:
        s.close()
    wait_for(lambda: d.ctl("add", "1", "1").stdout == "2\n")


# ---- AUTH ----

def burst(port, n, user, source=None):
    """N connections from SOURCE, each sending one wrong AUTH for USER at
    (nearly) the same moment; every reply."""
    conns = [Tcp(port, source=source) for _ in range(n)]
    for i, c in enumerate(conns):
        c.s.sendall(b"AUTH %s guess-%d\r\n" % (user.encode(), i))
    replies = [c.f.readline() for c in conns]
    for c in conns:
        c.close()
    return replies


def test_parallel_auth_guesses_are_throttled(make_daemon, tmp_path):
    """Many connections guessing at once get the checks one connection
    would: the rest are answered without being checked, by name across
    addresses and by address across names."""
    d = tcp_with(make_daemon, tmp_path,
                 tcp_extra="max_clients_per_address = 64\n")
    n = random.randint(15, 30)
    assert burst(d.port, n, "root") == \
        [b"-AUTH invalid username or secret\r\n"] * n
    wait_for(lambda: sum(decided(d)) == n, timeout=60,
             describe=lambda: "decided %r of %d" % (decided(d), n))
    checked, unchecked = decided(d)
    assert unchecked > 0 and checked <= n // 2, (checked, unchecked)
    d.wait_log(r"AUTH: \d+ failures for user 'root': nothing is checked "
               r"for it for \d+s")
    # Someone else, elsewhere, is not held back.
    other = Tcp(d.port, source="127.0.0.2")
    assert other.cmd("auth", "nobody", "nobodypw") == "+OK"
    other.close()
    # The name stays throttled from a fresh address.
    m = random.randint(8, 16)
    assert burst(d.port, m, "root", source="127.0.0.3") == \
        [b"-AUTH invalid username or secret\r\n"] * m
    wait_for(lambda: sum(decided(d, "127.0.0.3")) == m, timeout=60)
    checked, unchecked = decided(d, "127.0.0.3")
    assert unchecked > 0 and checked <= m // 2, (checked, unchecked)
    # And an address guessing at many names is throttled as well.
    k = random.randint(15, 25)
    conns = [Tcp(d.port, source="127.0.0.4") for _ in range(k)]
    for i, c in enumerate(conns):
        c.s.sendall(b"AUTH user-%d guess\r\n" % i)
    for c in conns:
        assert c.f.readline() == b"-AUTH invalid username or secret\r\n"
    wait_for(lambda: sum(decided(d, "127.0.0.4")) == k, timeout=60)
    checked, unchecked = decided(d, "127.0.0.4")
    assert unchecked > 0 and checked < k, (checked, unchecked)
    assert d.proc.poll() is None


def test_nothing_but_noauth_before_auth_over_tcp(make_daemon, tmp_path):
    """HELLO without AUTH gives neither the version, nor the limits, nor
    the command table: Redis's -NOAUTH, as for every command."""
    d = tcp_with(make_daemon, tmp_path)
    c = Tcp(d.port)
    for args in [("hello", "3"), ("hello",), ("hello", "2"),
                 ("hello", "3", "setname", "x"), ("hello", "4"),
                 ("hello", "3", "auth", "root"), ("command",),
                 ("command", "count"), ("ping",), ("subscribe",),
                 ("help",), ("plugin", "list")]:
        assert c.cmd(*args) == NOAUTH, args
    # Nothing else was sent: the next line is the next reply.
    assert c.cmd("ping") == NOAUTH
    assert c.cmd("hello", "3", "auth", "root", "rootpw").startswith("%")
    c.close()


def test_requests_before_auth_are_small(make_daemon, tmp_path):
    """Before AUTH, Redis's limits for the unauthenticated: 10 words and
    16 KiB a request; a peer over them is closed."""
    d = tcp_with(make_daemon, tmp_path)
    words = random.randint(11, 40)
    c = Tcp(d.port)
    assert c.cmd(*(["add"] + ["1"] * (words - 1))).startswith("-PROTO")
    assert eof(c.s)
    c = Tcp(d.port)
    big = random.randint(17, 64) * 1024
    assert c.cmd("auth", "root", "x" * big).startswith("-PROTO")
    assert eof(c.s)
    c = Tcp(d.port)
    assert c.cmd("auth", "root", "rootpw") == "+OK"
    assert c.cmd(*(["add"] + ["1"] * (words - 1))) == ":%d" % (words - 1)
    c.close()


def daemon_log_after_exit(make_daemon, ini):
    d = make_daemon(ini, start=False)
    d.start(wait=False)
    code = d.proc.wait(timeout=60)
    return code, d


def test_plaintext_secret_refused_with_hint(make_daemon, tmp_path):
    pw = "pw-%08x" % random.getrandbits(32)
    line = random.randint(1, 4)
    text = "# users\n" * (line - 1) + "root:%s\n" % pw
    code, d = daemon_log_after_exit(make_daemon, tcp_ini(
        tmp_path, ["127.0.0.1:%d" % free_port()], secrets=text, plain=True))
    assert code == 78, d.log()
    assert re.search(r"secrets:%d: the secret of 'root' is not a crypt\(3\) "
                     r"hash; a secret in plain text is refused: write the "
                     r"line that `procctld --hash-secret=root` prints" % line,
                     d.log()), d.log()
    assert pw not in d.log()
    assert "listening on" not in d.log()
    # A hash of a method too fast to stand guessing: refused too.
    md5 = "root:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\n"
    code, d = daemon_log_after_exit(make_daemon, tcp_ini(
        tmp_path, ["127.0.0.1:%d" % free_port()], secrets=md5, plain=True))
    assert code == 78 and "too fast to resist guessing" in d.log(), d.log()


def test_sighup_refuses_plaintext_and_keeps_the_secrets(make_daemon,
                                                        tmp_path):
    d = tcp_with(make_daemon, tmp_path)
    c = Tcp(d.port)
    assert c.cmd("auth", "root", "rootpw") == "+OK"
    c.close()
    new = "pw-%08x" % random.getrandbits(32)
    (tmp_path / "secrets").write_text("root:%s\n" % new)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"secrets:1: the secret of 'root' is not a crypt\(3\) hash")
    d.wait_log(r"not reloaded")
    c = Tcp(d.port)
    assert c.cmd("auth", "root", new) == "-AUTH invalid username or secret"
    assert c.cmd("auth", "root", "rootpw") == "+OK"
    c.close()
    assert new not in d.log()
    # Hashed, the same secret is taken.
    (tmp_path / "secrets").write_text(hashed("root:%s\n" % new))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: Tcp(d.port).cmd("auth", "root", new) == "+OK",
             timeout=60)


def test_hash_secret_makes_the_line_auth_takes(make_daemon, tmp_path):
    secret = "s3cret %08x:with colon" % random.getrandbits(32)
    r = subprocess.run([str(PROCCTLD), "--hash-secret=root"],
                       input=secret + "\n", capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"root:\$y\$[./0-9A-Za-z$]+\n", r.stdout), r.stdout
    assert secret not in r.stdout + r.stderr
    line = r.stdout
    d = tcp_daemon(make_daemon, lambda ports: tcp_ini(
        tmp_path, ["127.0.0.1:%d" % ports[0]], secrets=line, plain=True))
    c = Tcp(d.port)
    assert c.cmd("auth", "root", secret + "x") == \
        "-AUTH invalid username or secret"
    assert c.cmd("auth", "root", secret) == "+OK"
    c.close()
    # Without =USER, the hash alone; no secret at all is an error (65).
    r = subprocess.run([str(PROCCTLD), "--hash-secret"], input=secret,
                       capture_output=True, text=True, timeout=60)
    assert re.fullmatch(r"\$y\$[./0-9A-Za-z$]+\n", r.stdout), r.stdout
    r = subprocess.run([str(PROCCTLD), "--hash-secret"], input="",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 65 and "no secret on standard input" in r.stderr
