"""Integration fixtures: a real procctld on a temporary socket, driven by
the real procctl, by redis-cli, and by a raw RESP client for the protocol
edge cases no well-behaved client produces."""
import functools
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

# procctl draws a table wider than $COLUMNS as records: the tests read
# tables as a pipe gets them (one line a row), whatever terminal runs them.
os.environ.pop("COLUMNS", None)

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PROCCTL_BUILD", ROOT / "build"))
PROCCTLD = BUILD / "procctld"
PROCCTL = BUILD / "procctl"
SANITIZED = bool(os.environ.get("PROCCTL_SANITIZED"))
SAN_PATTERN = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")


def _safe_for_plugins(path):
    """procctld refuses plugins below a directory others can write (see
    docs/security.md); a checkout may live under one."""
    p = Path(path).resolve()
    for d in [p] + list(p.parents):
        st = d.stat()
        if st.st_uid not in (0, os.geteuid()):
            return False
        if st.st_mode & 0o022 and not st.st_mode & 0o1000:
            return False
    return True


def _plugin_dir():
    built = BUILD / "plugins"
    if not built.is_dir() or _safe_for_plugins(built):
        return built
    import shutil
    import tempfile
    safe = Path(tempfile.mkdtemp(prefix="procctl-plugins-"))
    os.chmod(safe, 0o755)
    for so in built.glob("*.so"):
        shutil.copy(so, safe / so.name)
        os.chmod(safe / so.name, 0o755)
    print("note: %s is below a directory others can write; testing "
          "copies in %s" % (built, safe))
    return safe


PLUGINS = _plugin_dir()


class Error(Exception):
    """A RESP error reply, as a value."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text
        self.code = text.split(" ", 1)[0]


class Push(list):
    """A RESP3 push frame."""


class Raw:
    """A RESP client over a plain socket."""

    def __init__(self, path, timeout=20):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    @classmethod
    def adopt(cls, sock, timeout=20):
        """A Raw over a socket connected elsewhere (e.g. by raw_as)."""
        c = cls.__new__(cls)
        c.sock = sock
        c.sock.settimeout(timeout)
        c.buf = b""
        return c

    def send(self, data):
        self.sock.sendall(data)

    def command(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        return out

    def call(self, *args):
        self.send(self.command(*args))
        return self.read()

    def reply(self):
        """The next value that is not a push."""
        while True:
            v = self.read()
            if not isinstance(v, Push):
                return v

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Error(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b",":
            return rest.decode()       # keep doubles exact, as text
        if t == b"(":
            return int(rest)
        if t == b"#":
            return rest == b"t"
        if t == b"_":
            return None
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return Error(data.decode(errors="replace")) if t == b"!" else data
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return None
            items = [self.read() for _ in range(n)]
            return Push(items) if t == b">" else items
        if t == b"%":
            n = int(rest)
            d = {}
            for _ in range(n):
                k = self.read()
                d[k.decode() if isinstance(k, bytes) else k] = self.read()
            return d
        raise AssertionError("bad reply type: %r" % line)

    def closed(self, timeout=60):
        """True when the daemon has closed the connection; False if it
        has not within TIMEOUT (a bound for a hung daemon on a loaded
        machine, not a measure: keep it long)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class Daemon:
    def __init__(self, tmp, ini=None, args=(), prefix=(), sock=None,
                 binary=None, stderr_pipe=False, env=None):
        """STDERR_PIPE: the daemon's stderr is a pipe this object reads
        only when asked (read_stderr), as a stderr nobody reads would be;
        stdout still goes to the log file.  ENV: its environment."""
        self.stderr_pipe = stderr_pipe
        self.stderr_r = None
        self.stderr_data = b""
        self.env = env
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.sock = Path(sock) if sock else self.tmp / "procctl.sock"
        self.logpath = self.tmp / "procctld.log"
        self.ini = self.tmp / "procctld.ini"
        self.ini.write_text(ini if ini is not None else default_ini())
        self.args = list(args)
        self.prefix = list(prefix)
        self.binary = Path(binary) if binary else PROCCTLD
        self.proc = None

    def start(self, wait=True):
        self.log_offset = (self.logpath.stat().st_size
                           if self.logpath.exists() else 0)
        self.logfile = open(self.logpath, "ab")
        stderr = self.logfile
        if self.stderr_pipe:
            self.stderr_r, stderr = os.pipe()
            os.set_blocking(self.stderr_r, False)
            self.stderr_pipe_stat = os.fstat(stderr)
            if callable(self.env):
                self.env = self.env(self.stderr_pipe_stat)
        self.proc = subprocess.Popen(
            self.prefix + [str(self.binary), "-c", str(self.ini), "-s",
                           str(self.sock), "-l", "debug"] + self.args,
            stdin=subprocess.DEVNULL, stdout=self.logfile,
            stderr=stderr, env=self.env)
        if self.stderr_pipe:
            os.close(stderr)
        if wait:
            self.wait_ready()
        return self

    def read_stderr(self):
        """With stderr_pipe: what the daemon wrote to its stderr so far
        (everything read until now), as text."""
        while True:
            try:
                data = os.read(self.stderr_r, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                break
            self.stderr_data += data
        return self.stderr_data.decode(errors="replace")

    def wait_ready(self):
        if self.stderr_pipe:
            # Its log is not ours to read yet: up when it answers.
            wait_for(lambda: self.proc.poll() is not None or (
                connectable(self.sock) and self.ctl("ping").stdout ==
                "PONG\n"), timeout=30)
            assert self.proc.poll() is None, "procctld exited %s" % (
                self.proc.returncode)
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("procctld exited %s:\n%s" % (
                    self.proc.returncode, self.log()))
            # The last start-up line, after every listener (a "listening
            # on tcp" line comes before the others are open).
            if re.search(r"procctld \S+ listening on",
                         self.log()[self.log_offset:]):
                return
            time.sleep(0.02)
        raise AssertionError("procctld did not start:\n" + self.log())

    def log(self):
        return self.logpath.read_text(errors="replace")

    def wait_log(self, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return True
            time.sleep(0.02)
        raise AssertionError("no %r in log:\n%s" % (pattern, self.log()))

    def ctl(self, *args, json=False, input=None, timeout=60, env=None):
        cmd = [str(PROCCTL), "-s", str(self.sock)]
        if json:
            cmd.append("--json")
        cmd += [str(a) for a in args]
        return subprocess.run(cmd, capture_output=True, text=True,
                              input=input, timeout=timeout, env=env)

    def redis(self, *args, input=None, timeout=60):
        cmd = ["redis-cli", "-s", str(self.sock)] + [str(a) for a in args]
        return subprocess.run(cmd, capture_output=True, text=True,
                              input=input, timeout=timeout)

    def raw(self, timeout=20):
        return Raw(self.sock, timeout)

    def raw_as(self, uid, gid, timeout=20):
        """A Raw connected by a process with UID and GID (needs root; the
        socket and its directory must let that user in): the daemon sees
        that user through SO_PEERCRED, taken at connect()."""
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                parent.close()
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(str(self.sock))
                socket.send_fds(child, [b"x"], [s.fileno()])
                code = 0
            finally:
                os._exit(code)
        child.close()
        try:
            _, fds, _, _ = socket.recv_fds(parent, 1, 1)
        finally:
            parent.close()
            os.waitpid(pid, 0)
        assert fds, "could not connect to %s as uid %d" % (self.sock, uid)
        return Raw.adopt(socket.socket(fileno=fds[0]), timeout)

    @property
    def server_pid(self):
        """procctld is two processes: self.proc is the monitor (the parent
        of every managed process), and this is its child the server, which
        holds the sockets and runs the plugins."""
        for _ in range(2000):
            path = "/proc/%d/task/%d/children" % (self.proc.pid,
                                                 self.proc.pid)
            for c in open(path).read().split():
                try:
                    comm = open("/proc/%s/comm" % c).read().strip()
                except (FileNotFoundError, ProcessLookupError):
                    continue            # a child that just ended
                if comm == "procctld-srv":
                    return int(c)
            time.sleep(0.01)
        raise AssertionError("no server process under %d" % self.proc.pid)

    def kill_hard(self):
        """kill -9 of the whole daemon, as a crash would: the server, then
        the monitor, and wait until both are gone (a server outliving its
        monitor for a moment would still answer on the socket)."""
        srv = self.server_pid
        os.kill(srv, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait()

        def gone():
            try:
                with open("/proc/%d/stat" % srv) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except (FileNotFoundError, ProcessLookupError):
                return True
        wait_for(gone)

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.server_pid))

    def fd_table(self):
        """The server's open fds: {fd: what it refers to}, as
        /proc/PID/fd says ("socket:[123]", "anon_inode:[pidfd]", a path)."""
        d = "/proc/%d/fd" % self.server_pid
        table = {}
        for fd in os.listdir(d):
            try:
                table[int(fd)] = os.readlink(os.path.join(d, fd))
            except FileNotFoundError:
                pass                    # closed while we looked
        return table

    def stop(self, expect_code=0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        reader = None
        if self.stderr_r is not None:
            # Its last words (a sanitizer's report too) must not wait
            # for a reader.
            import threading
            os.set_blocking(self.stderr_r, True)
            reader = threading.Thread(target=self._read_to_end,
                                      daemon=True)
            reader.start()
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("procctld ignored SIGTERM:\n" + self.log())
        if reader is not None:
            reader.join(timeout=60)
        self.logfile.close()
        if expect_code is not None:
            assert code == expect_code, self.log()
        return code

    def _read_to_end(self):
        while True:
            data = os.read(self.stderr_r, 1 << 20)
            if not data:
                break
            self.stderr_data += data
        os.close(self.stderr_r)
        self.stderr_r = None

    def check_sanitizers(self):
        text = self.log() + self.stderr_data.decode(errors="replace")
        m = SAN_PATTERN.search(text)
        assert m is None, "sanitizer report:\n" + text


@functools.lru_cache(maxsize=None)
def hash_secret(secret, user=None):
    """SECRET's hash as `procctld --hash-secret` prints it (with USER:
    the whole line for a secrets file).  yescrypt is slow by design
    (tens of ms): each is made once per run."""
    opt = "--hash-secret" + ("=" + user if user else "")
    r = subprocess.run([str(PROCCTLD), opt], input=secret + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def hashed(text):
    """A secrets file's TEXT with each user:secret line's secret replaced
    by its hash (comments and lines without a colon as they are)."""
    out = []
    for line in text.split("\n"):
        if line and not line.startswith("#") and ":" in line:
            user, secret = line.split(":", 1)
            line = "%s:%s" % (user, hash_secret(secret))
        out.append(line)
    return "\n".join(out)


def eof(sock, timeout=60):
    """True once the peer has closed SOCK (what it sent first is read
    away); False if it has not within TIMEOUT, a bound for a hung daemon,
    not a measure."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def default_ini(extra_daemon="", proc="", arith=""):
    # The server's default user is `procctl` where there is one (the
    # Debian package makes it, and `make deb-test` for a while): pinned
    # to nobody, so the tests see the same daemon on any machine.  On the
    # blank line after EXTRA_DAEMON, so that every line keeps its number
    # (tests read file:line in messages); before it if EXTRA_DAEMON opens
    # a section of its own.
    pin = "" if "server_user" in extra_daemon else "server_user = nobody"
    head, tail = "", pin
    if re.search(r"^\[", extra_daemon, re.M):
        head, tail = pin + "\n" if pin else "", ""
    return f"""[daemon]
plugin_dir = {PLUGINS}
{head}{extra_daemon}
{tail}
[plugin:proc]
path = proc.so
close_timeout = 2
{proc}

[plugin:arith]
path = arith.so
{arith}
"""


@pytest.fixture
def public_sock():
    """A socket path in a directory other users can reach (pytest's own
    is 0700): for tests that connect as another user."""
    pub = tempfile.mkdtemp(prefix="procctl-test-")
    os.chmod(pub, 0o711)
    yield os.path.join(pub, "s.sock")
    shutil.rmtree(pub, ignore_errors=True)


@pytest.fixture
def make_daemon(tmp_path):
    made = []

    def make(ini=None, start=True, **kw):
        d = Daemon(tmp_path / ("d%d" % len(made)), ini=ini, **kw)
        made.append(d)
        return d.start() if start else d

    yield make
    for d in made:
        if d.proc is not None and d.proc.poll() is None:
            d.stop()
        d.check_sanitizers()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()


def wait_for(pred, timeout=20, interval=0.02, describe=None):
    """Poll PRED until it is true.  The timeout only bounds a failure: wait
    for the condition that matters, never for time to pass.  DESCRIBE, a
    function, says in the failure what was seen instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("condition not met within %ss%s" % (
        timeout, ": " + describe() if describe else ""))


def stopped_child(pid, settle=0.2):
    """A child of PID that is stopped (state t or T) and still is SETTLE
    seconds later: the one a test stopped, not one passing through a
    tracer's syscall stop (the monitor's short-lived spawn trampoline,
    say, under strace -f)."""
    def stopped():
        out = set()
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
        for c in kids:
            try:
                with open("/proc/%s/stat" % c) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] in ("t", "T"):
                        out.add(int(c))
            except (FileNotFoundError, ProcessLookupError):
                pass            # a child that just ended
        return out

    def settled():
        first = stopped()
        if not first:
            return None
        time.sleep(settle)
        both = first & stopped()
        return min(both) if both else None
    return wait_for(settled)


def connectable(path):
    """True once something accepts connections on the Unix socket PATH (the
    file exists from bind(), a moment before listen())."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def proc_state(d, pid):
    """PID's state as daemon D's `list all` shows it ("running",
    "closing", "exited", ...), or None when D does not list it."""
    r = d.ctl("list", "all", json=True)
    for row in json.loads(r.stdout or "[]"):
        if row["pid"] == pid:
            return row["state"]
    return None


def wait_state(d, pid, state, timeout=60):
    """Wait until daemon D lists PID in STATE."""
    return wait_for(lambda: proc_state(d, pid) == state, timeout=timeout,
                    describe=lambda: "pid %d is %r, not %r" % (
                        pid, proc_state(d, pid), state))


_tmux_ids = itertools.count()


class Tmux:
    """A terminal a person would use: keys in, screen out."""

    def __init__(self, name, cmd, env=None, width=150, height=40):
        # A name of its own: `kill-server` returns before the server is
        # gone, and a new session on a dying server's socket fails with
        # "server exited unexpectedly".
        self.sock = "procctl-test-%d-%d-%s" % (os.getpid(), next(_tmux_ids),
                                               name)
        self.base = ["tmux", "-L", self.sock, "-f", "/dev/null"]
        full_env = dict(os.environ, **(env or {}))
        full_env.pop("TMUX", None)
        subprocess.run(self.base + ["new-session", "-d", "-s", "t", "-x",
                                    str(width), "-y", str(height), cmd],
                       check=True, env=full_env)
        subprocess.run(self.base + ["set-option", "-t", "t",
                                    "remain-on-exit", "on"], check=True)

    def send(self, *keys):
        subprocess.run(self.base + ["send-keys", "-t", "t"] + list(keys),
                       check=True)

    def type(self, text, enter=True):
        self.send("-l", text)
        if enter:
            self.send("Enter")

    def screen(self):
        r = subprocess.run(self.base + ["capture-pane", "-p", "-N", "-t", "t"],
                           capture_output=True, text=True)
        return r.stdout

    def lines(self):
        return [l for l in self.screen().split("\n") if l.strip()]

    def wait(self, pattern, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.screen(), re.M):
                return self.screen()
            time.sleep(0.05)
        raise AssertionError("no %r on screen:\n%s" % (pattern,
                                                        self.screen()))

    def dead(self):
        r = subprocess.run(self.base + ["list-panes", "-t", "t", "-F",
                                        "#{pane_dead}"],
                           capture_output=True, text=True)
        return r.stdout.strip() == "1"

    def kill(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True)


@pytest.fixture
def tmux(tmp_path):
    made = []

    def make(cmd, env=None, name=None, width=150):
        t = Tmux(name or str(len(made)), cmd, dict({"HOME": str(tmp_path)},
                                                   **(env or {})),
                 width=width)
        made.append(t)
        return t

    yield make
    for t in made:
        t.kill()


@pytest.fixture(scope="session")
def test_plugins(tmp_path_factory):
    out = tmp_path_factory.mktemp("plugins")
    for name in ["misbehave", "dup", "initfail", "badabi", "nosymbol",
                 "keeper"]:
        subprocess.run(["cc", "-std=c17", "-Wall", "-Werror", "-shared",
                        "-fPIC", "-I", str(ROOT / "include"), "-o",
                        str(out / (name + ".so")),
                        str(Path(__file__).resolve().parent / "plugins" / (name + ".c"))],
                       check=True)
    (out / "text.so").write_text("not an ELF file\n")
    return out


def plugin_ini(test_plugins, *names, extra=""):
    text = default_ini()
    for n in names:
        text += "\n[plugin:%s]\npath = %s/%s.so\n%s" % (
            n, test_plugins, n, extra if n == "misbehave" else "")
    return text
