"""The wire protocol: RESP2/RESP3, inline commands, pipelining, limits,
framing errors, pushes, and isolation between clients."""
import socket
import subprocess

from conftest import Error, Push, default_ini, wait_for


def test_hello_resp3(daemon):
    c = daemon.raw()
    h = c.call("HELLO", "3")
    assert h["server"] == b"procctld" and h["proto"] == 3
    assert h["limits"]["max_request"] > 0
    names = {cmd["name"].decode() for cmd in h["commands"]}
    assert {"run", "close", "list", "add", "sub", "mult", "div", "help",
            "ping", "subscribe", "quit", "hello", "command", "echo"} <= names
    add = [cmd for cmd in h["commands"] if cmd["name"] == b"add"][0]
    assert add["arity"] == -3 and add["usage"].startswith(b"add ")
    assert add["plugin"] == b"arith" and add["summary"]
    assert c.call("HELLO", "4").code == "NOPROTO"
    assert c.call("HELLO", "3", "AUTH", "u", "p").code == "AUTH"
    # Still RESP3 after the refused HELLO.
    assert c.call("ping") == "PONG"


def test_resp2_by_default(daemon):
    c = daemon.raw()
    rows = c.call("COMMAND")
    assert isinstance(rows[0], list)      # maps flattened for RESP2
    assert c.call("PING", "hi") == b"hi"
    assert c.call("COMMAND", "COUNT") == len(rows)
    info = c.call("COMMAND", "INFO", "add", "nope")
    assert info[0][1] == b"add" and info[1] is None
    assert c.call("COMMAND", "DOCS").code == "ARGS"


def test_inline_commands(daemon):
    c = daemon.raw()
    c.send(b"add 1 2\r\nmult 2 3\nPING\r\n\r\n  \r\nlist\r\n")
    assert c.read() == 3
    assert c.read() == 6
    assert c.read() == "PONG"
    assert c.read() == []
    c.send(b'run "/bin/sh" -c "exit 0"\r\n')
    assert isinstance(c.read(), int)


def test_nc_and_socat_style(daemon):
    # What a person types in socat: inline lines, answered in order, and
    # the answers are all there when the input ends.
    r = subprocess.run(["/usr/bin/python3", "-c", """
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"add 1 2\\nhelp add\\nbogus\\n"); s.shutdown(socket.SHUT_WR)
out = b""
while True:
    d = s.recv(4096)
    if not d: break
    out += d
sys.stdout.buffer.write(out)
""", str(daemon.sock)], capture_output=True, timeout=30)
    assert r.stdout.startswith(b":3\r\n*18\r\n")
    assert r.stdout.endswith(b"-ERR unknown command 'bogus'; 'help' lists "
                             b"the commands\r\n")


def test_pipelining_thousands_in_one_write(daemon):
    c = daemon.raw()
    n = 5000
    payload = b"".join(c.command("add", i, 1) for i in range(n))
    c.send(payload)
    got = [c.read() for _ in range(n)]
    assert got == [i + 1 for i in range(n)]


def test_pipelining_mixed_with_deferred(daemon):
    c = daemon.raw()
    pid = daemon.raw().call("run", "sleep", "60")
    # close defers its reply; what follows must wait and stay in order.
    c.send(c.command("add", 1, 1) + c.command("close", pid) +
           b"".join(c.command("add", i, 0) for i in range(100)))
    assert c.read() == 2
    closed = c.read()
    assert closed[closed.index(b"pid") + 1] == pid
    assert [c.read() for _ in range(100)] == list(range(100))


def test_redis_cli_pipe_mode(daemon):
    cmds = "".join("*3\r\n$3\r\nadd\r\n$1\r\n1\r\n$%d\r\n%d\r\n"
                   % (len(str(i)), i) for i in range(3000))
    r = subprocess.run(["redis-cli", "-s", str(daemon.sock), "--pipe"],
                       input=cmds.encode(), capture_output=True, timeout=60)
    assert b"errors: 0, replies: 3000" in r.stdout, r.stdout


def test_unknown_command_and_arity(daemon):
    c = daemon.raw()
    e = c.call("frobnicate", "x")
    assert e.code == "ERR" and "frobnicate" in e.text
    e = c.call("close")
    assert e.code == "ARGS" and "usage: close <pid|name> [all]" in e.text
    e = c.call("quit", "now")
    assert e.code == "ARGS"
    assert c.call("ping") == "PONG"


def test_framing_error_closes_only_that_client(daemon):
    other = daemon.raw()
    assert other.call("ping") == "PONG"
    for bad in [b"*1\r\n:5\r\n", b"*x\r\n", b"*1\r\n$3\r\nabcdef\r\n",
                b'add "1\r\n']:
        c = daemon.raw()
        c.send(bad)
        e = c.read()
        assert isinstance(e, Error) and e.code == "PROTO", (bad, e)
        assert c.closed()
    assert other.call("add", 2, 2) == 4


def test_oversized_request(make_daemon):
    d = make_daemon(default_ini(extra_daemon="max_request = 4k"))
    c = d.raw()
    c.send(c.command("add", "1", "2" * 5000))
    e = c.read()
    assert e.code == "PROTO" and "too large" in e.text
    assert c.closed()
    # A long inline line without a newline is refused too.
    c = d.raw()
    c.send(b"add " + b"1" * 5000)
    assert c.read().code == "PROTO"
    assert c.closed()
    assert d.raw().call("add", 1, 1) == 2


def test_quit(daemon):
    c = daemon.raw()
    c.send(c.command("QUIT") + c.command("ping"))
    assert c.read() == "OK"
    assert c.closed()


def test_push_events_only_when_subscribed(daemon):
    sub = daemon.raw()
    sub.call("HELLO", "3")
    assert sub.call("SUBSCRIBE") == "OK"
    quiet = daemon.raw()
    quiet.call("HELLO", "3")
    pid = daemon.raw().call("run", "sh", "-c", "sleep 0.2")
    ev = sub.read()
    assert isinstance(ev, Push) and ev[0] == b"event" and ev[1] == b"started"
    assert ev[2]["pid"] == pid
    ev = sub.read()
    assert ev[1] == b"exited" and ev[2]["exit_code"] == 0
    assert ev[2]["result"].startswith(b"exited with status 0 after")
    # The unsubscribed connection got nothing: its next read is a reply.
    assert quiet.call("ping") == "PONG"


def test_push_never_inside_a_reply(daemon):
    sub = daemon.raw()
    sub.call("HELLO", "3")
    sub.call("SUBSCRIBE")
    # This connection's own run pushes 'started' while its reply is built;
    # the frame must come whole, before or after the integer reply.
    n = 200
    sub.send(b"".join(sub.command("run", "true") for _ in range(n)))
    replies, pushes = [], []
    while len(replies) < n or len(pushes) < 2 * n:
        v = sub.read()
        (pushes if isinstance(v, Push) else replies).append(v)
    assert all(isinstance(r, int) for r in replies)
    assert sorted(p[2]["pid"] for p in pushes if p[1] == b"started") == \
        sorted(replies)


def test_resp2_subscriber_gets_arrays(daemon):
    sub = daemon.raw()
    sub.call("SUBSCRIBE")
    daemon.ctl("run", "true")
    ev = sub.read()
    assert isinstance(ev, list) and not isinstance(ev, Push)
    assert ev[0] == b"event" and ev[1] == b"started"


def test_slow_reader_does_not_block_others(make_daemon):
    d = make_daemon(default_ini(extra_daemon="max_output = 256k"))
    hog = d.raw()
    hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.call("HELLO", "3")
    # Requests whose replies it never reads: the daemon stops reading it
    # rather than buffering without bound.
    big = hog.command("COMMAND") * 2000
    # 34 KB: the socket takes it all whether or not the daemon reads.
    hog.send(big)
    # Everyone else is served meanwhile.
    for i in range(50):
        assert d.raw().call("add", i, 1) == i + 1
    assert d.ctl("list").returncode == 0
    hog.close()
    assert d.raw().call("ping") == "PONG"


def test_slow_subscriber_loses_events_not_replies(make_daemon):
    d = make_daemon(default_ini(extra_daemon="max_output = 64k"))
    slow = d.raw()
    slow.call("HELLO", "3")
    slow.call("SUBSCRIBE")
    runner = d.raw()
    # 600 events of 2 KB (the record carries the command line): more than
    # the socket holds, so some are lost while `slow` does not read.
    runner.send(b"".join(runner.command("run", "true", "x" * 2000)
                         for _ in range(300)))
    pids = {runner.read() for _ in range(300)}
    wait_for(lambda: d.raw().call("list") == [])    # every event made
    # Now read: what was kept, then the PING's reply (replies are never
    # lost; it comes after every push queued before it).
    slow.send(slow.command("ping"))
    events = []
    while True:
        v = slow.read()
        if v == "PONG":
            break
        events.append(v)
    # One more event: if nothing flowed since the last loss, the notice of
    # it comes first.
    pid = d.raw().call("run", "true")
    while True:
        v = slow.read()
        events.append(v)
        if v[1] == b"started" and v[2]["pid"] == pid:
            break
    dropped = [v for v in events if v[1] == b"dropped"]
    assert dropped and all(isinstance(v, Push) and v[2] > 0
                           for v in dropped)
    # Each event was either received or counted in a notice.
    kept = [v for v in events if v[1] != b"dropped" and v[2]["pid"] in pids]
    assert len(kept) + sum(v[2] for v in dropped) == 600
    slow.send(slow.command("ping"))
    assert slow.reply() == "PONG"
