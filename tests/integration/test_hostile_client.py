"""procctl facing a server it cannot trust (issue 12): a reply that breaks
RESP3's framing is a protocol error, exit 76, in one-shot and the shell,
never a crash or a guess; and nothing a server sends, well framed or
not, reaches a person's terminal as a control sequence.

The server here is a fake: a Unix socket that answers HELLO and
SUBSCRIBE as procctld would, then sends what the case says.  It keeps
the connection open after that, so that an exit status is the client's
own judgement of the bytes, never a reaction to the end of the stream."""
import json
import os
import re
import socket
import subprocess
import threading

import pytest

from conftest import PROCCTL, SAN_PATTERN, wait_for

EXIT_PROTO = 76

# What procctld answers HELLO 3 with, cut down to what procctl reads.
HELLO_MAP = (b"%4\r\n+server\r\n+procctld\r\n+proto\r\n:3\r\n"
             b"+version\r\n+0.1.0\r\n+commands\r\n*0\r\n")


def requests(conn):
    """Each request (an array of bulk strings) the client sends on CONN,
    as a list of bytes, until it hangs up."""
    data = b""
    while True:
        m = re.match(rb"\*(\d+)\r\n", data)
        if m:
            args, at = [], m.end()
            for _ in range(int(m.group(1))):
                n = re.match(rb"\$(\d+)\r\n", data[at:])
                if not n or len(data) < at + n.end() + int(n.group(1)) + 2:
                    break
                at += n.end()
                args.append(data[at:at + int(n.group(1))])
                at += int(n.group(1)) + 2
            else:
                data = data[at:]
                yield args
                continue
        try:
            chunk = conn.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        data += chunk


class Fake:
    """A listener on PATH.  ANSWER(args) gives the bytes for each request
    that is neither HELLO nor SUBSCRIBE (HELLO, a map, unless HELLO is
    given; SUBSCRIBE, +OK, then PUSHES)."""

    def __init__(self, path, answer, hello=HELLO_MAP, pushes=b""):
        self.path = str(path)
        self.answer, self.hello, self.pushes = answer, hello, pushes
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.conns = []
        self.seen = []                  # every request, in order
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,),
                             daemon=True).start()

    def _talk(self, conn):
        try:
            for args in requests(conn):
                self.seen.append(args)
                name = args[0].upper() if args else b""
                if name == b"HELLO":
                    conn.sendall(self.hello)
                elif name == b"SUBSCRIBE":
                    conn.sendall(b"+OK\r\n" + self.pushes)
                else:
                    conn.sendall(self.answer(args))
        except OSError:
            pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()
        self.thread.join(timeout=60)
        os.unlink(self.path)


@pytest.fixture
def fake(tmp_path):
    made = []

    def make(answer, **kw):
        f = Fake(tmp_path / ("fake%d.sock" % len(made)), answer, **kw)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def procctl(sock, *args, input=None, timeout=60):
    """procctl -s SOCK ARGS..., bytes in and out.  -t bounds a client
    that would wait for more instead of refusing: the test then fails on
    its exit status, not by hanging."""
    r = subprocess.run([str(PROCCTL), "-s", str(sock), "-t", "20"] +
                       list(args), input=input, capture_output=True,
                       timeout=timeout)
    assert not SAN_PATTERN.search(r.stderr.decode(errors="replace")), \
        r.stderr.decode(errors="replace")
    return r


# Frames no procctld sends, each after a well-formed HELLO.  Every one
# is a protocol error; several used to be taken as values (the empty big
# number made --json read a byte before its buffer), others to wait for
# bytes that no reply may hold.
MALFORMED = {
    "empty big number": b"(\r\n",
    "big number, not digits": b"(12x\r\n",
    "big number, sign only": b"(-\r\n",
    "empty double": b",\r\n",
    "double, two points": b",1.5.5\r\n",
    "double, hexadecimal": b",0x1p3\r\n",
    "double, a point and no digits": b",1.\r\n",
    "double, nan with a payload": b",nan(0x1)\r\n",
    "empty integer": b":\r\n",
    "integer out of range": b":99999999999999999999\r\n",
    "boolean, not t or f": b"#x\r\n",
    "boolean, two letters": b"#tf\r\n",
    "null with a body": b"_1\r\n",
    "CR inside a simple string": b"+a\rb\r\n",
    "LF inside an error": b"-ERR a\nb\r\n",
    "bulk length below -1": b"$-5\r\n",
    "bulk length out of range": b"$99999999999\r\n",
    "bulk length past long long": b"$99999999999999999999\r\n",
    "bulk not ended by CRLF": b"$3\r\nabcdef\r\n",
    "verbatim without a format": b"=2\r\nab\r\n",
    "aggregate length below -1": b"*-7\r\n",
    "map length -1": b"%-1\r\n",
    "aggregate out of range": b"*99999999999\r\n",
    "map out of range": b"%9223372036854775807\r\n",
    "push inside an array": b"*1\r\n>1\r\n:1\r\n",
    "nested too deeply": b"*1\r\n" * 40 + b":1\r\n",
    "a chain of attributes": b"|0\r\n" * 100 + b":1\r\n",
    "unknown type": b"?x\r\n",
    "a line past 64 KiB": b"+" + b"x" * 70000,
}


@pytest.mark.parametrize("json_out", [False, True], ids=["human", "json"])
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_reply_is_exit_76(fake, name, json_out):
    f = fake(lambda args: MALFORMED[name])
    r = procctl(f.path, *(["--json"] if json_out else []), "get")
    assert r.returncode == EXIT_PROTO, (r.returncode, r.stdout, r.stderr)
    assert re.fullmatch(rb"procctl: protocol error from \S+: [^\r\n]+\n",
                        r.stderr), r.stderr
    assert r.stdout == b""


def test_the_reported_frame(fake):
    """The issue's own bytes: +OK for HELLO, then an empty big number."""
    f = fake(lambda args: b"(\r\n", hello=b"+OK\r\n")
    for extra in ([], ["--json"]):
        r = procctl(f.path, *extra, "get")
        assert r.returncode == EXIT_PROTO, r
        assert b"protocol error" in r.stderr


def test_hello_must_be_a_map(fake):
    for hello in (b":1\r\n", b"+OK\r\n", b"$2\r\nhi\r\n", b"_\r\n"):
        f = fake(lambda args: b"+OK\r\n", hello=hello)
        r = procctl(f.path, "get")
        assert r.returncode == EXIT_PROTO, (hello, r)
        assert b"HELLO answered with something else than a map" in \
            r.stderr, r.stderr


def test_malformed_push_ends_events(fake):
    """`procctl events`: a push that breaks the framing ends the stream
    with 76, after the events before it were shown."""
    good = b">3\r\n+event\r\n+started\r\n%1\r\n+name\r\n+a\r\n"
    f = fake(lambda args: b"+OK\r\n", pushes=good + b">3\r\n+event\r\n(\r\n")
    r = procctl(f.path, "events")
    assert r.returncode == EXIT_PROTO, r
    assert r.stdout == b"[event] a started\n"
    assert b"protocol error" in r.stderr


def test_well_formed_numbers_are_valid_json(fake):
    """What RESP3 allows and JSON does not ('+', leading zeros) is made a
    JSON number; inf and nan are null."""
    reply = (b"*6\r\n,+1.5\r\n,007.25e+3\r\n(+0012\r\n(-0\r\n,inf\r\n"
             b",nan\r\n")
    f = fake(lambda args: reply)
    r = procctl(f.path, "--json", "get")
    assert r.returncode == 0, r
    assert json.loads(r.stdout) == [1.5, 7250.0, 12, 0, None, None]


@pytest.mark.parametrize("name", ["empty big number", "bulk length out of "
                                  "range", "push inside an array"])
def test_scripted_shell_says_so_and_exits_76(fake, name):
    f = fake(lambda args: MALFORMED[name])
    r = procctl(f.path, input=b"get\n")
    assert r.returncode == EXIT_PROTO, r
    assert re.search(rb"^procctl: protocol error from \S+: .*; "
                     rb"disconnected$", r.stderr, re.M), r.stderr
    assert re.search(rb"^procctl: 1 command\(s\) got no reply$", r.stderr,
                     re.M), r.stderr


def test_a_reply_nobody_asked_for(fake):
    """A server that answers more than was asked is as broken."""
    f = fake(lambda args: b"+OK\r\n+OK\r\n")
    r = procctl(f.path, input=b"get\n")
    assert r.returncode == EXIT_PROTO, r
    assert b"a reply nobody asked for; disconnected" in r.stderr


def test_shell_on_a_terminal_disconnects(fake, tmux):
    """On a terminal, the shell says so, disconnects and stays: it does not
    crash, and does not connect again to a server that would do the
    same."""
    f = fake(lambda args: MALFORMED["empty big number"])
    t = tmux("%s -s %s" % (PROCCTL, f.path))
    t.wait(r"^connected to ")
    t.type("get")
    t.wait(r"^protocol error from \S+: invalid big number; disconnected$")
    t.wait(r"^1 command\(s\) got no reply$")
    t.wait(r"procctl \(not connected\)> *$")
    t.type("disconnect")
    t.wait(r"^not connected$")
    assert not t.dead()
    assert len(f.conns) == 1, f.seen


# ---- what a well-framed reply may hold ----

def no_controls(data):
    """DATA (bytes) holds no byte a terminal would obey: no C0 but
    newline, no DEL, no C1 in UTF-8 or raw, no ESC anywhere."""
    text = data.decode("utf-8", errors="surrogateescape")
    for ch in text:
        o = ord(ch)
        if (o < 0x20 and ch != "\n") or 0x7f <= o <= 0x9f or \
                0xdc80 <= o <= 0xdcff:
            return False
    return True


HOSTILE = b"a\x1b]0;owned\x07b\x1b[2Jc\xc2\x9bd\x9be\x7ff"
SHOWN = rb"a\x1b]0;owned\x07b\x1b[2Jc\xc2\x9bd\x9be\x7ff"


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def test_error_from_the_server_is_escaped(fake):
    f = fake(lambda args: b"-ERR " + HOSTILE + b"\r\n")
    r = procctl(f.path, "get")
    assert r.returncode == 1, r
    assert r.stderr == b"procctl: " + SHOWN + b"\n"
    f = fake(lambda args: b"!%d\r\nNOENT %s\r\n" % (len(HOSTILE) + 6,
                                                     HOSTILE))
    r = procctl(f.path, "get")
    assert r.returncode == 3, r
    assert r.stderr == b"procctl: " + SHOWN + b"\n"


def test_refused_hello_is_escaped(fake):
    f = fake(lambda args: b"+OK\r\n", hello=b"-NOPERM " + HOSTILE + b"\r\n")
    r = procctl(f.path, "get")
    assert r.returncode == 77, r
    assert r.stderr.endswith(b": " + SHOWN + b"\n"), r.stderr


def test_a_plain_string_is_escaped(fake):
    """A bulk string on its own (echo's) keeps its lines; nothing else a
    terminal would obey."""
    f = fake(lambda args: bulk(HOSTILE + b"\nline\ttwo"))
    r = procctl(f.path, "get")
    assert r.returncode == 0, r
    assert r.stdout == SHOWN + b"\nline\ttwo\n"


def test_event_kind_and_owner_are_escaped(fake):
    push = (b">3\r\n+event\r\n" + bulk(HOSTILE) + b"%3\r\n+pid\r\n:7\r\n"
            b"+name\r\n" + bulk(HOSTILE) + b"+owner\r\n" + bulk(HOSTILE))
    f = fake(lambda args: b"+OK\r\n", pushes=push + b"(\r\n")
    r = procctl(f.path, "events")
    assert r.returncode == EXIT_PROTO, r
    assert r.stdout == b"[event] 7 " + SHOWN + b" " + SHOWN + b" (" + \
        SHOWN + b")\n"


def test_help_from_the_server_is_escaped(fake):
    """What a daemon says of its commands is printed by --help: its
    strings are escaped as any reply's."""
    cmd = (b"%6\r\n+name\r\n+get\r\n+usage\r\n" + bulk(b"get " + HOSTILE) +
           b"+summary\r\n" + bulk(HOSTILE) + b"+arity\r\n:1\r\n"
           b"+group\r\n" + bulk(HOSTILE) + b"+options\r\n*1\r\n"
           b"%3\r\n+name\r\n" + bulk(HOSTILE) + b"+letter\r\n$1\r\n\x1b\r\n"
           b"+summary\r\n" + bulk(HOSTILE))
    hello = (b"%4\r\n+server\r\n+procctld\r\n+proto\r\n:3\r\n+version\r\n"
             b"+0.1.0\r\n+commands\r\n*1\r\n" + cmd)
    f = fake(lambda args: b"*1\r\n" + cmd, hello=hello)
    for args in (["--help"], ["help", "get"]):
        r = procctl(f.path, *args)
        assert r.returncode == 0, r
        assert no_controls(r.stdout), r.stdout
        assert SHOWN in r.stdout, r.stdout


def test_json_escapes_what_a_terminal_obeys(fake):
    """--json stays valid JSON, the same text; C1 controls, DEL and the
    bidirectional overrides are \\u escapes, as control bytes are."""
    text = "a\x1b[2Jb\x07c\u009bd\x7fe\u202ef\u00e9"
    f = fake(lambda args: b"%1\r\n" + bulk(text.encode()) +
             bulk(text.encode()))
    r = procctl(f.path, "--json", "get")
    assert r.returncode == 0, r
    assert json.loads(r.stdout) == {text: text}
    assert no_controls(r.stdout), r.stdout
    assert b"\xe2\x80\xae" not in r.stdout
    assert "\u00e9".encode() in r.stdout
    # A byte that is not UTF-8 cannot be carried: U+FFFD, still JSON.
    f = fake(lambda args: bulk(b"x\x9by\xffz"))
    r = procctl(f.path, "--json", "get")
    assert json.loads(r.stdout) == "x\ufffdy\ufffdz"
