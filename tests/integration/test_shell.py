"""The interactive shell, driven through a terminal as a person would:
tmux send-keys to type, capture-pane to read the screen."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from conftest import (PROCCTL, default_ini, plugin_ini, proc_state,
                      wait_for, wait_state)
from test_proc import ignores_term

PROMPT = r"procctl \S+> *$"


def shell(tmux, daemon, env=None):
    t = tmux("%s -s %s" % (PROCCTL, daemon.sock), env=env)
    t.wait("connected to %s" % daemon.sock)
    t.wait(PROMPT)
    return t


def sockets(d):
    """Daemon D's open sockets: its listener and one per connection."""
    return {fd: what for fd, what in d.fd_table().items()
            if what.startswith("socket:")}


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_connect_disconnect_exit(daemon, tmux):
    t = shell(tmux, daemon)
    t.type("add 1 2")
    t.wait(r"^3$")
    t.type("disconnect")
    t.wait(r"^disconnected$")
    t.wait(r"procctl \(not connected\)> *$")
    t.type("add 2 2")
    t.wait("not connected: connect")
    t.type("connect %s" % daemon.sock)
    t.wait(r"connected to .*\n.*\n?procctl %s> *$" % daemon.sock)
    t.type("mult 6 7")
    t.wait(r"^42$")
    # Connecting while connected switches servers (here: the same one).
    t.type("connect unix://%s" % daemon.sock)
    t.wait(r"(connected to %s[\s\S]*){3}" % daemon.sock)
    t.type("exit")
    wait_for(t.dead)


def test_starts_unconnected_and_says_how(daemon, tmux, tmp_path):
    t = tmux("%s -s %s" % (PROCCTL, tmp_path / "nothing.sock"))
    t.wait("cannot reach procctld")
    t.wait(r"procctl \(not connected\)> *$")
    t.type("help")
    t.wait(r"connect \[<user>@\]<host> <port>")
    t.type("connect %s" % daemon.sock)
    t.wait("connected to %s" % daemon.sock)
    t.send("C-d")                       # Ctrl-D leaves too
    wait_for(t.dead)


def test_completion(daemon, tmux):
    t = shell(tmux, daemon)
    t.type("mu", enter=False)
    t.send("Tab")
    t.wait(r"> mult *$")
    t.send("C-u")
    t.type("run sleep 60")
    t.wait(r"^\d+$")
    t.type("close sl", enter=False)
    t.send("Tab")
    t.wait(r"> close sleep *$")
    t.send("C-u")
    # Shell commands complete as well as the daemon's.
    t.type("disc", enter=False)
    t.send("Tab")
    t.wait(r"> disconnect *$")


def test_completion_follows_the_command_metadata(daemon, tmux):
    """What completes after a command comes from its declared arguments
    (the daemon's command maps), not from names in the client."""
    first = int(daemon.ctl("run", "sleep", "60").stdout)
    t = shell(tmux, daemon)
    # close: the running processes' names and pids, from `list` at
    # connect...
    t.type("close ", enter=False)
    t.send("Tab", "Tab")
    t.wait(r"^%d +sleep *$" % first)
    t.send("C-u")
    # ... and from "started" events after it.
    later = int(daemon.ctl("run", "sh", "-c", "sleep 60").stdout)
    t.wait(r"\[event\] %d sh started" % later)
    t.type("close s", enter=False)
    t.send("Tab", "Tab")
    t.wait(r"^sh +sleep *$")
    t.send("C-u")
    t.type("close ", enter=False)
    t.send("Tab", "Tab")
    t.wait(r"^%s +%s +sh +sleep *$" % tuple(sorted([str(first),
                                                    str(later)])))
    t.send("C-u")
    # The second argument of close is the keyword all.
    t.type("close sleep a", enter=False)
    t.send("Tab")
    t.wait(r"> close sleep all *$")
    t.send("C-u")
    # list's keywords.
    t.type("list ", enter=False)
    t.send("Tab", "Tab")
    t.wait(r"^all +details *$")
    t.type("d", enter=False)
    t.send("Tab")
    t.wait(r"> list details *$")
    t.send("C-u")
    # run's option, and file names for its program.
    t.type("run --d", enter=False)
    t.send("Tab")
    t.wait(r"> run --detach *$")
    t.send("C-u")
    t.type("run /bin/slee", enter=False)
    t.send("Tab")
    t.wait(r"> run /bin/sleep *$")
    t.send("C-u")
    # Nothing after a command whose arguments are all given.  The shell
    # reads keys in order: once a marker typed after the Tabs shows, the
    # Tabs have been handled.  Had they completed or listed anything, the
    # line would not read "list all details x", or a listing would have
    # left the line before it on the screen above.  (list takes both
    # keywords now: 'all' alone is not all its arguments.)
    t.type("list all details ", enter=False)
    t.wait(r"> list all details *$")
    t.send("Tab", "Tab")
    t.type("x", enter=False)
    screen = t.wait(r"> list all details x *$")
    assert not [l for l in screen.split("\n")
                if l.rstrip().endswith("> list all details")], screen


def test_event_arrives_while_typing(daemon, tmux):
    t = shell(tmux, daemon)
    t.type("add 40 2", enter=False)
    pid = int(daemon.ctl("run", "sh", "-c", "exit 7").stdout)
    screen = t.wait(r"\[event\] %d sh exited with status 7 after" % pid)
    # The half-typed line is intact on the last line, cursor at its end.
    assert t.lines()[-1].endswith("> add 40 2"), screen
    t.send("Enter")
    t.wait(r"^42$")


def test_session_processes_end_with_the_session(daemon, tmux):
    t = shell(tmux, daemon)
    t.type("run sleep 100")
    scoped = int(t.wait(r"^(\d+)$").split("run sleep 100\n")[1].split()[0])
    t.type("run --detach sleep 101")
    t.wait(r"sleep 101\n\d+")
    detached = int(t.screen().split("run --detach sleep 101\n")[1].split()[0])
    oneshot = int(daemon.ctl("run", "sleep", "102").stdout)
    rows = {r["pid"]: r for r in json.loads(
        daemon.ctl("list", "details", json=True).stdout)}
    assert rows[scoped]["scope"] == "session"
    assert rows[detached]["scope"] == "detached"
    assert rows[oneshot]["scope"] == "one-shot"
    t.type("disconnect")
    wait_for(lambda: not alive(scoped))
    assert alive(detached) and alive(oneshot)
    # A dropped connection (the terminal closed) ends them too.
    t.type("connect %s" % daemon.sock)
    t.wait(r"(connected to[\s\S]*){2}")
    t.type("run sleep 103")
    t.wait(r"sleep 103\n\d+")
    again = int(t.screen().split("run sleep 103\n")[1].split()[0])
    t.kill()
    wait_for(lambda: not alive(again))
    assert alive(detached)


def test_session_scope_off_by_config(make_daemon, tmux):
    d = make_daemon(default_ini(proc="session_scope = no"))
    before = sockets(d)
    t = shell(tmux, d)
    t.type("run sleep 100")
    t.wait(r"sleep 100\n\d+")
    pid = int(t.screen().split("run sleep 100\n")[1].split()[0])
    t.type("exit")
    wait_for(t.dead)
    # Wait for the daemon to have closed the shell's connection (its
    # socket fd gone): what the end of a session does to its processes is
    # done in that same loop turn, so the next request sees it.
    wait_for(lambda: sockets(d) == before, timeout=60,
             describe=lambda: "sockets before %r, now %r" % (before,
                                                             sockets(d)))
    assert proc_state(d, pid) == "running"
    assert alive(pid)


def test_daemon_restarted_under_the_shell(make_daemon, tmux):
    """The daemon stops and a new one starts on the same socket: the shell
    says so, keeps retrying without holding up the terminal, and is back
    with its events once the daemon is."""
    d = make_daemon()
    t = shell(tmux, d)
    t.type("add 1 1")
    t.wait(r"^2$")
    d.stop()
    t.wait(r"^connection lost; reconnecting\.\.\.$")
    t.wait(r"procctl \(reconnecting\)> *$")
    # The terminal is the user's meanwhile; a command is refused at once.
    t.type("add 1 2")
    t.wait(r"^not connected: reconnecting \(type disconnect to stop\)$")
    d.start()
    t.wait(r"^reconnected$")
    t.wait(r"procctl %s> *$" % re.escape(str(d.sock)))
    t.type("add 20 22")
    t.wait(r"^42$")
    # Events flow again: the handshake subscribed anew.
    t.type("run sleep 0.2")
    pid = int(t.wait(r"run sleep 0\.2\n\d+").split(
        "run sleep 0.2\n")[1].split()[0])
    t.wait(r"\[event\] %d sleep exited with status 0 after" % pid)
    screen = t.screen()
    assert screen.count("connection lost") == 1, screen
    assert screen.count("reconnected") == 1, screen
    # Killed rather than stopped: the same again.
    d.kill_hard()
    t.wait(r"(connection lost; reconnecting[\s\S]*){2}")
    d.start()
    t.wait(r"(^reconnected$[\s\S]*){2}")
    t.type("mult 6 7")
    t.wait(r"^42$")
    assert not t.dead()


def test_session_outlives_a_server_restart(make_daemon, tmux):
    """The server process dies and the monitor starts another: the shell
    reconnects with its session token, and the daemon gives it back its
    session-scoped process, which then ends with the session as ever."""
    # A grace longer than any wait below: the process can end only
    # because its session, back, ended.
    d = make_daemon(default_ini(proc="session_grace = 600"))
    t = shell(tmux, d)
    t.type("run sleep 100")
    pid = int(t.wait(r"run sleep 100\n\d+").split(
        "run sleep 100\n")[1].split()[0])
    os.kill(d.server_pid, signal.SIGKILL)
    t.wait(r"^connection lost; reconnecting\.\.\.$")
    t.wait(r"^reconnected$", timeout=60)
    assert proc_state(d, pid) == "running" and alive(pid)
    t.type("disconnect")
    t.wait(r"^disconnected$")
    wait_for(lambda: not alive(pid), timeout=60)


def test_reconnects_over_tcp_with_the_same_secret(make_daemon, tmp_path,
                                                  tmux):
    """Over TCP the shell reconnects as the same user with the secret it
    was given, without asking for it again."""
    from test_tcp import tcp_daemon, tcp_ini   # test_tcp imports this file
    d = tcp_daemon(make_daemon, lambda ports: tcp_ini(
        tmp_path, ["127.0.0.1:%d" % ports[0]]))
    t = tmux("%s -H tcp://nobody@127.0.0.1:%d" % (PROCCTL, d.port))
    t.wait(r"secret for nobody@127\.0\.0\.1:%d: *$" % d.port)
    t.type("nobodypw")
    t.wait(r"connected to 127\.0\.0\.1:%d as nobody" % d.port)
    d.stop()
    t.wait(r"^connection lost; reconnecting\.\.\.$")
    d.start()
    t.wait(r"^reconnected$")
    t.wait(r"procctl nobody@127\.0\.0\.1:%d> *$" % d.port)
    t.type("add 1 2")
    t.wait(r"^3$")
    screen = t.screen()
    assert screen.count("secret for") == 1, screen
    assert "nobodypw" not in screen


def test_ctrl_c_clears_the_line(daemon, tmux):
    t = shell(tmux, daemon)
    t.type("add 1 1 this is junk", enter=False)
    t.send("C-c")
    t.type("add 1 1")
    t.wait(r"^2$")
    assert not t.dead()


def ticks(screen):
    """The numbers of the "tick N" lines a follow showed."""
    return [int(n) for n in re.findall(r"(?:\"line\":\"|  )tick (\d+)",
                                       screen)]


def ticker(d, gate):
    """A process of D's that writes "early", then, once GATE exists,
    "tick N" every 100 ms (a line stays on a 40-line screen for 4 s);
    its pid."""
    return int(d.ctl("run", "/bin/sh", "-c", "echo early; while [ ! -e %s ]; "
                     "do sleep 0.02; done; i=0; while :; do i=$((i+1)); "
                     "echo tick $i; sleep 0.1; done" % gate).stdout)


def ring_tick(d, pid):
    """The number of the last line in PID's ring (0 before the first)."""
    r = d.ctl("logs", "-n", "1", str(pid), json=True)
    assert r.returncode == 0, r.stderr
    got = [json.loads(l) for l in r.stdout.splitlines()]   # NDJSON
    line = got[0]["line"] if got else ""
    return int(line.split()[1]) if line.startswith("tick ") else 0


def test_follow_until_ctrl_c(make_daemon, tmux, tmp_path):
    """logs -f in the shell: the last lines, then each new one, with no
    prompt and nothing typed echoed into them; events still show.  Ctrl-C
    gives the prompt back on the same connection, and the lines stop."""
    d = make_daemon(default_ini())
    gate = tmp_path / "go"
    pid = ticker(d, gate)
    wait_for(lambda: ring_tick(d, pid) == 0 and
             d.ctl("logs", str(pid)).stdout.endswith("early\n"))
    t = shell(tmux, d)
    before = sockets(d)
    t.type("logs -f %d" % pid)
    t.wait(r"^TIME +STREAM +LINE\n\S+Z  stdout  early$")
    gate.touch()
    # Lines written once following had started.
    t.wait(r"^\S+Z  stdout  tick \d+$")
    # Keys wait unread: nothing typed lands among the lines.
    t.type("typed while following", enter=False)
    other = int(d.ctl("run", "true").stdout)
    t.wait(r"^\[event\] %d true exited with status 0" % other)
    wait_for(lambda: max(ticks(t.screen())) >= 3, timeout=60,
             describe=t.screen)
    shown = max(ticks(t.screen()))
    assert not re.search(PROMPT, t.screen(), re.M), t.screen()
    t.send("C-c")
    screen = t.wait(PROMPT)
    assert "typed while following" not in screen, screen
    last = max(ticks(screen))
    assert last >= shown
    # The same connection: its socket is the one it had.
    t.type("list")
    t.wait(r"^%d +sh +\S+ +running" % pid)
    wait_for(lambda: sockets(d) == before, timeout=60,
             describe=lambda: "sockets before %r, now %r" % (before,
                                                             sockets(d)))
    # The process writes on; once its ring is 10 lines past the last one
    # shown, none of them has come.
    wait_for(lambda: ring_tick(d, pid) > last + 10, timeout=60)
    t.type("add 40 2")
    screen = t.wait(r"^42\n.*procctl \S+> *$")
    assert max(ticks(screen)) == last, screen
    assert "typed while following" not in screen, screen
    # It follows again, on the same connection, and stops again.
    t.type("logs -n 1 -f %d" % pid)
    wait_for(lambda: max(ticks(t.screen())) > last + 10, timeout=60,
             describe=t.screen)
    t.send("C-c")
    t.wait(PROMPT)
    t.type("mult 6 7")
    t.wait(r"^42\n(.*\n)*42$")
    assert sockets(d) == before and not t.dead()


def test_follow_json_and_errors(make_daemon, tmux, tmp_path):
    """A shell started with --json follows in NDJSON: the last lines, then
    each new one, an object a line.  A follow the daemon refuses gives the
    prompt back at once."""
    d = make_daemon(default_ini())
    gate = tmp_path / "go"
    pid = ticker(d, gate)
    wait_for(lambda: d.ctl("logs", str(pid)).stdout.endswith("early\n"))
    t = tmux("%s --json -s %s" % (PROCCTL, d.sock))
    t.wait(PROMPT)
    t.type("logs -f nosuch")
    t.wait(r"^error: no process nosuch of yours\n.*procctl \S+> *$")
    t.type("logs -f %d" % pid)
    t.wait(r'^\{"time":"\S+Z","stream":"stdout","line":"early"\}$')
    gate.touch()
    line = t.wait(r'^\{"pid":%d,"time":.*"line":"tick 1".*\}$' % pid)
    obj = json.loads([l for l in line.split("\n")
                      if '"line":"tick 1"' in l][0])
    assert obj["stream"] == "stdout" and obj["text"].endswith("tick 1")
    t.send("C-c")
    t.wait(PROMPT)
    t.type("add 1 2")
    t.wait(r"^3$")


def test_history_persists(daemon, tmux, tmp_path):
    t = shell(tmux, daemon)
    t.type("add 5 5")
    t.wait(r"^10$")
    t.type("exit")
    wait_for(t.dead)
    assert "add 5 5" in (tmp_path / ".procctl_history").read_text()
    t2 = shell(tmux, daemon)
    t2.send("Up")
    t2.wait(r"> exit$")
    t2.send("Up")
    t2.wait(r"> add 5 5$")


def test_piped_input_fast_with_events(daemon):
    n = 5000
    lines = []
    for i in range(n):
        lines.append("run true" if i % 250 == 0 else "add %d 1" % i)
    r = subprocess.run([str(PROCCTL), "-s", str(daemon.sock)],
                       input="\n".join(lines) + "\n", capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")[:-1]
    events = [l for l in out if l.startswith("[event] ")]
    replies = [l for l in out if not l.startswith("[event] ")]
    assert len(replies) == n           # no prompt noise, none lost
    for i, line in enumerate(replies):
        if i % 250:
            assert line == str(i + 1), (i, line)
    assert any(" started " in e or e.endswith(" started (%s)" %
               e.rsplit("(", 1)[-1][:-1]) for e in events)


def test_piped_errors_and_exit_status(daemon):
    r = subprocess.run([str(PROCCTL), "-s", str(daemon.sock)],
                       input="add 1 2\nbogus\n", capture_output=True,
                       text=True, timeout=60)
    assert r.stdout == "3\nerror: unknown command 'bogus'; 'help' lists " \
        "the commands\n"
    assert r.returncode == 1
    r = subprocess.run([str(PROCCTL), "-s", str(daemon.sock), "shell"],
                       input="disconnect\nadd 1 1\n", capture_output=True,
                       text=True, timeout=60)
    assert "not connected" in r.stdout and r.returncode == 69


class Lines:
    """What a process writes on stdout, line by line, gathered by a thread:
    reads that cannot hang the test."""

    def __init__(self, proc):
        self.got = []
        self.thread = threading.Thread(target=self._pump, args=(proc,),
                                       daemon=True)
        self.thread.start()

    def _pump(self, proc):
        for line in proc.stdout:
            self.got.append(line)


def test_events_one_shot(daemon):
    p = subprocess.Popen([str(PROCCTL), "-s", str(daemon.sock), "events"],
                         stdout=subprocess.PIPE, text=True)
    q = subprocess.Popen([str(PROCCTL), "-s", str(daemon.sock), "--json",
                          "events"], stdout=subprocess.PIPE, text=True)
    pl, ql = Lines(p), Lines(q)
    # Subscribed once an event shows: until both have shown one, run a
    # process (its events are then left out).
    warm = set()

    def subscribed():
        if pl.got and ql.got:
            return True
        warm.add(int(daemon.ctl("run", "true").stdout))
        return False
    wait_for(subscribed, timeout=60, interval=0.1,
             describe=lambda: "text %r, json %r" % (pl.got, ql.got))
    pid = int(daemon.ctl("run", "sh", "-c", "exit 3").stdout)

    def text():
        return [l for l in pl.got if int(l.split()[1]) not in warm]

    def js():
        return [json.loads(l) for l in ql.got
                if json.loads(l)[2]["pid"] not in warm]
    wait_for(lambda: len(text()) >= 2 and len(js()) >= 2, timeout=60,
             describe=lambda: "text %r, json %r" % (pl.got, ql.got))
    assert len(text()) == 2, pl.got
    assert text()[0].startswith("[event] %d sh started" % pid)
    assert text()[1].startswith(
        "[event] %d sh exited with status 3 after" % pid)
    started, ended = js()
    assert started[:2] == ["event", "started"] and started[2]["pid"] == pid
    assert ended[:2] == ["event", "exited"] and ended[2]["exit_code"] == 3
    # One-shot commands never see pushes; events ends when the daemon does.
    daemon.stop()
    assert p.wait(timeout=30) == 69 and q.wait(timeout=30) == 69


def test_a_plugins_commands_complete(make_daemon, test_plugins, tmux):
    """Completion comes from the daemon's COMMAND list: a plugin the shell
    has never heard of completes like the shipped ones."""
    d = make_daemon(plugin_ini(test_plugins, "dup"))
    t = shell(tmux, d)
    t.type("dupo", enter=False)
    t.send("Tab")
    t.wait(r"> dupok *$")
    t.send("Enter")
    t.wait(r"^dup$")
    t.type("help dupo", enter=False)
    t.send("Tab")
    t.wait(r"> help dupok *$")


def test_daemon_killed_during_a_deferred_reply(make_daemon, tmux):
    """The shell waits for close's reply (the process ignores SIGTERM);
    the daemon dies meanwhile: connection lost, no hang."""
    d = make_daemon(default_ini(proc="close_timeout = 60"))
    t = shell(tmux, d)
    t.type("run sh -c 'trap \"\" TERM; sleep 100'")
    t.wait(r"TERM; sleep 100'\n\d+")
    pid = int(t.screen().split("TERM; sleep 100'\n")[1].split()[0])
    wait_for(lambda: ignores_term(pid))  # its trap is set
    t.type("close sh")
    wait_state(d, pid, "closing")        # the daemon has the request
    d.kill_hard()
    # The request is answered, with the reason, before the shell says
    # what it does next.
    t.wait(r"^error: connection lost before the reply\n"
           r"connection lost; reconnecting\.\.\.$")
    t.wait(r"procctl \(reconnecting\)> *$")
    assert not t.dead()
    try:
        os.killpg(pid, signal.SIGKILL)   # no daemon left to close it
    except ProcessLookupError:
        pass


def test_piped_input_daemon_dies(make_daemon):
    d = make_daemon()
    p = subprocess.Popen([str(PROCCTL), "-s", str(d.sock)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdin.write("add 1 1\n")
    p.stdin.flush()
    assert p.stdout.readline() == "2\n"
    d.kill_hard()
    # Further input after the daemon is gone: no SIGPIPE death, a clear
    # message and exit 69.
    try:
        p.stdin.write("add 2 2\n" * 1000)
        p.stdin.close()
    except BrokenPipeError:
        pass
    assert p.wait(timeout=30) == 69
    # One answer per command on stdout, what happened to the session on
    # stderr.
    rest = p.stdout.read().split("\n")[:-1]
    assert 0 < len(rest) <= 1000
    assert set(rest) == {"not connected: connect [<path> | [<user>@]<host> "
                         "<port>] first"}
    assert "procctl: connection lost\n" in p.stderr.read()


class Hellos:
    """A listener on a Unix socket that takes the first request of each
    connection (the client's HELLO) and hangs up, as a daemon dying in the
    handshake would: a record of every connection a client makes."""

    def __init__(self, path):
        self.path = str(path)
        if os.path.exists(self.path):
            os.unlink(self.path)        # a stopped daemon's, if left
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.got = []
        self.when = []                  # time.monotonic() of each
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return                  # closed: the test is over
            with conn:
                conn.settimeout(20)
                self.got.append(self._first_request(conn))
                self.when.append(time.monotonic())

    @staticmethod
    def _first_request(conn):
        """The first array of bulk strings, as a list of str."""
        data = b""
        while True:
            m = re.match(rb"\*(\d+)\r\n", data)
            if m:
                args, at = [], m.end()
                for _ in range(int(m.group(1))):
                    n = re.match(rb"\$(\d+)\r\n", data[at:])
                    if not n or len(data) < at + n.end() + int(n.group(1)):
                        break
                    at += n.end()
                    args.append(data[at:at + int(n.group(1))].decode())
                    at += int(n.group(1)) + 2
                else:
                    return args
            try:
                chunk = conn.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return None
            data += chunk

    def tokens(self):
        """The SESSION token of each HELLO seen (None: it named none)."""
        out = []
        for h in self.got:
            i = h.index("SESSION") if h and "SESSION" in h else -1
            out.append(h[i + 1] if i >= 0 else None)
        return out

    def close(self):
        # shutdown wakes the thread's accept; close alone would leave the
        # socket listening until it returned.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=60)
        os.unlink(self.path)


def test_the_shell_names_its_session(tmux, tmp_path):
    """The shell sends HELLO 3 SESSION <token> on every connection it
    makes, the same token each time; another shell has another; one-shot
    procctl names no session."""
    fake = Hellos(tmp_path / "fake.sock")
    try:
        t = tmux("%s -s %s" % (PROCCTL, fake.path), name="a")
        # Hung up on in the handshake, the shell tries again.
        wait_for(lambda: len(fake.got) >= 2, timeout=60,
                 describe=lambda: "hellos %r" % fake.got)
        first = fake.got[0]
        assert first[:3] == ["HELLO", "3", "SESSION"], first
        assert re.fullmatch(r"[0-9a-f]{32}", first[3]), first
        assert fake.got[1] == first
        t.wait(r"^connection lost; reconnecting\.\.\.$")
        t.type("disconnect")
        t.wait(r"^disconnected$")
        seen = len(fake.got)
        tmux("%s -s %s" % (PROCCTL, fake.path), name="b")
        wait_for(lambda: len(fake.got) > seen, timeout=60)
        other = fake.got[seen]
        assert other[:3] == ["HELLO", "3", "SESSION"], other
        assert other[3] != first[3]
        seen = len(fake.got)
        r = subprocess.run([str(PROCCTL), "-s", fake.path, "add", "1", "1"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 69, r
        wait_for(lambda: None in fake.tokens()[seen:], timeout=60,
                 describe=lambda: "hellos %r" % fake.got[seen:])
        assert ["HELLO", "3"] in fake.got[seen:]
    finally:
        fake.close()


def test_disconnect_stops_reconnecting(make_daemon, tmux):
    """Two shells lose the daemon; one says disconnect.  Then a listener
    on the socket takes the tries.  A shell waits at most two seconds
    between tries, so over twice that a shell still trying would have
    tried at least once; the other shell, still trying, shows that the
    listener does see tries over that span."""
    d = make_daemon()
    quits, keeps = shell(tmux, d), shell(tmux, d)
    d.stop()
    quits.wait(r"^connection lost; reconnecting\.\.\.$")
    keeps.wait(r"^connection lost; reconnecting\.\.\.$")
    quits.type("disconnect")
    quits.wait(r"^disconnected$")
    quits.wait(r"procctl \(not connected\)> *$")
    quits.type("add 1 1")
    quits.wait(r"^not connected: connect \[")
    fake = Hellos(d.sock)
    try:
        wait_for(lambda: len(fake.when) >= 2 and
                 fake.when[-1] - fake.when[0] > 2 * 2.0, timeout=60,
                 describe=lambda: "hellos %r" % fake.got)
        assert len(set(fake.tokens())) == 1, fake.got
        # The one still trying says nothing of its failed tries.
        screen = keeps.screen()
        assert screen.count("connection lost") == 1, screen
        assert "reconnected" not in quits.screen()
    finally:
        fake.close()
    # connect, later, is the user's choice again.
    d.start()
    quits.type("connect %s" % d.sock)
    quits.wait(r"(connected to %s[\s\S]*){2}" % re.escape(str(d.sock)))
    quits.type("add 2 2")
    quits.wait(r"^4$")
    keeps.wait(r"^reconnected$")
