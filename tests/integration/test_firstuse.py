"""The first five minutes of a new user (issue 13): what procctl says
when a command is mistyped, what help looks like on a terminal, what
`list details` lists and how it shows run times, where a user's daemon
puts its socket, what `make` installs, and that the README's examples
and the shell completion work as written."""
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import (PROCCTL, PROCCTLD, PLUGINS, ROOT, default_ini,
                      wait_for)
from test_hostile_client import Fake

IS_ROOT = os.geteuid() == 0


def ctl(d, *args, env=None, input=None):
    return subprocess.run([str(PROCCTL), "-s", str(d.sock)] +
                          [str(a) for a in args], capture_output=True,
                          text=True, timeout=60, env=env, input=input)


def with_columns(n):
    env = dict(os.environ, COLUMNS=str(n))
    return env


def ignores_term(pid):
    """True once PID has SIGTERM ignored (the shell ran its trap)."""
    for line in open("/proc/%d/status" % pid):
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16) & (1 << (15 - 1)) != 0
    return False


# ---- a forced kill says how long the process ran ----

FORCED = re.compile(r"^killed by SIGKILL \(did not end within the close "
                    r"timeout\) after \d+\.\ds \(closed: \S+\)$")


def test_forced_kill_result_has_its_duration(daemon):
    """The result of a process closed with SIGKILL after close_timeout
    ends with how long it ran, in list details, in JSON and in the event
    (the issue saw it cut after 'after ')."""
    # Unbuffered: select() says when a line is there to read.
    ev = subprocess.Popen([str(PROCCTL), "-s", str(daemon.sock), "events"],
                          stdout=subprocess.PIPE, bufsize=0)
    readline = lambda: ev.stdout.readline().decode()
    try:
        # Subscribed once an event of ours comes through.
        first, deadline = "", time.monotonic() + 60
        while not first and time.monotonic() < deadline:
            ctl(daemon, "run", "true")
            if select.select([ev.stdout], [], [], 0.2)[0]:
                first = readline()
        assert first.startswith("[event] "), first
        pid = int(ctl(daemon, "run", "sh", "-c",
                      "trap '' TERM; sleep 60; :").stdout)
        wait_for(lambda: ignores_term(pid))
        r = ctl(daemon, "close", pid)
        assert r.returncode == 0, r.stderr
        line, deadline = "", time.monotonic() + 60
        while time.monotonic() < deadline:
            if select.select([ev.stdout], [], [], 0.5)[0]:
                line = readline()
                if line.startswith("[event] %d sh killed" % pid):
                    break
        text = line.split("[event] %d sh " % pid, 1)[-1].rstrip("\n")
        assert FORCED.match(text), line
    finally:
        ev.terminate()
        ev.wait()
    row = [r for r in json.loads(ctl(daemon, "--json", "list", "all",
                                     "details").stdout)
           if r["pid"] == pid][0]
    assert FORCED.match(row["result"]), row
    table = ctl(daemon, "list", "all", "details").stdout
    line = [l for l in table.split("\n") if l.startswith("%d " % pid)][0]
    assert re.search(r"close timeout\) after \d+\.\ds \(closed: ", line), \
        line


# ---- mistakes: one line, and exit 2 ----

def test_unknown_command_is_bad_usage(daemon):
    r = ctl(daemon, "bogus")
    assert r.returncode == 2, r
    assert r.stdout == ""
    assert r.stderr == ("procctl: unknown command 'bogus'; 'help' lists "
                        "the commands\n")
    # Known commands keep their codes: a daemon's error is 1, its usage
    # error 2.
    assert ctl(daemon, "div", "1", "0").returncode == 1
    assert ctl(daemon, "list", "bogus").returncode == 2
    # The shell keeps its rule: a script with a failed command exits 1.
    r = ctl(daemon, input="bogus\n")
    assert r.returncode == 1 and "unknown command 'bogus'" in r.stdout


@pytest.mark.parametrize("args,said", [
    (["--bogus"], "unknown option '--bogus'"),
    (["-x", "list"], "unknown option '-x'"),
    (["-s"], "option '-s' needs a value"),
    (["--socket"], "option '--socket' needs a value"),
])
def test_unknown_option_one_line_and_a_hint(args, said):
    r = subprocess.run([str(PROCCTL)] + args, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr == "procctl: %s; 'procctl --help' lists the options\n" \
        % said, r.stderr
    assert r.stdout == ""


# ---- help: grouped, protocol last, within the terminal ----

def groups(text):
    """The headings of help's groups, in order."""
    return [m.group(1) for m in re.finditer(r"^(\S[^:\n]*):\n", text,
                                            re.M)]


@pytest.mark.parametrize("columns", [None, 60, 100, 40])
def test_help_fits_the_terminal(daemon, columns):
    env = with_columns(columns) if columns else dict(os.environ,
                                                     COLUMNS="")
    width = columns or 80          # a pipe: 80
    r = ctl(daemon, "help", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.rstrip("\n").split("\n")
    assert max(len(l) for l in lines) <= width, r.stdout
    # Every command still there, each summary whole (joined again).
    flat = " ".join(l.strip() for l in lines)
    assert "Start a program (searched in PATH without a '/'); replies " \
        "with its pid" in flat
    assert re.search(r"run \[--detach\] .*<path> \[args\.\.\.\]", flat)
    # --help's list of the daemon's commands is the same.
    r = ctl(daemon, "--help", env=env)
    assert r.stdout.endswith(ctl(daemon, "help", env=env).stdout)
    # procctl's own part is written for 80 columns.
    if width >= 80:
        assert max(len(l) for l in r.stdout.split("\n")) <= width, r.stdout


def test_help_groups_protocol_last(daemon):
    out = ctl(daemon, "help").stdout
    heads = groups(out)
    assert heads == ["arithmetic (arith)", "logs (proc)",
                     "processes (proc)", "programs (proc)", "daemon (core)",
                     "protocol (core)"], heads
    # The protocol's commands: one paragraph of names, not a table.
    proto = out.split("protocol (core):\n", 1)[1]
    names = " ".join(proto.split())
    assert names == ("AUTH COMMAND ECHO HELLO PING QUIT SUBSCRIBE "
                     "UNFOLLOW ('help NAME' describes one)"), proto
    # ... and each is still described when asked.
    assert ctl(daemon, "help", "hello").stdout.startswith("usage: HELLO ")
    # The shell's help: its own commands, then the same text, all within
    # 80 columns too.
    r = ctl(daemon, input="help\n")
    own, theirs = r.stdout.split("daemon commands: below\n")
    assert groups(theirs) == heads and theirs == out
    assert max(len(l) for l in r.stdout.split("\n")) <= 80, r.stdout


@pytest.fixture
def plugin_daemon(make_daemon, tmp_path_factory):
    """A daemon with two plugins procctl knows nothing of: argdemo (its
    commands in the group 'demo') and misbehave (no group: its name)."""
    out = tmp_path_factory.mktemp("firstuse")
    for name in ("argdemo", "misbehave"):
        subprocess.run(["cc", "-std=c17", "-Wall", "-Werror", "-shared",
                        "-fPIC", "-I", str(ROOT / "include"), "-o",
                        str(out / (name + ".so")),
                        str(ROOT / "tests/integration/plugins" /
                            (name + ".c"))], check=True)
    return make_daemon(default_ini() + "\n[plugin:argdemo]\npath = %s\n"
                       "\n[plugin:misbehave]\npath = %s\n" % (
                           out / "argdemo.so", out / "misbehave.so"))


def test_help_places_commands_it_does_not_know(plugin_daemon):
    """A plugin's group is a group like any other, among the plugins';
    a command without one is under its plugin's name: never dropped."""
    out = ctl(plugin_daemon, "help").stdout
    heads = groups(out)
    assert "demo (argdemo)" in heads and "misbehave (misbehave)" in heads
    assert heads.index("misbehave (misbehave)") < heads.index(
        "daemon (core)") < heads.index("protocol (core)")
    assert heads == sorted(heads[:-2]) + ["daemon (core)",
                                          "protocol (core)"], heads
    assert re.search(r"^  greet \[--loud\]", out, re.M), out


# ---- list and list details agree; run times for people ----

def test_list_details_agrees_with_list(daemon):
    live = int(ctl(daemon, "run", "sleep", "300").stdout)
    gone = int(ctl(daemon, "run", "true").stdout)
    wait_for(lambda: json.loads(ctl(daemon, "--json", "list").stdout) and
             len(json.loads(ctl(daemon, "--json", "list").stdout)) == 1)
    pids = lambda *a: [r["pid"] for r in json.loads(
        ctl(daemon, "--json", "list", *a).stdout)]
    assert pids() == [live]
    assert pids("details") == [live]
    assert sorted(pids("all")) == sorted([live, gone])
    assert sorted(pids("all", "details")) == sorted([live, gone])
    assert sorted(pids("details", "all")) == sorted([live, gone])
    assert ctl(daemon, "close", live).returncode == 0


def test_a_table_wider_than_the_terminal_is_records(daemon, tmux):
    """`list all details` is wider than 80 columns: on a terminal of 80
    (or COLUMNS=80) each row is a record of "key: value" lines; into a
    pipe, or when it fits, a table of one line a row."""
    live = int(ctl(daemon, "run", "sleep", "300").stdout)
    gone = int(ctl(daemon, "run", "true").stdout)
    wait_for(lambda: len(json.loads(ctl(daemon, "--json", "list").stdout))
             == 1)
    out = ctl(daemon, "list", "all", "details", env=with_columns(80)).stdout
    records = out.split("\n\n")
    assert len(records) == 2, out
    for rec in records:
        lines = rec.strip("\n").split("\n")
        assert lines[0].startswith("pid:") and len(lines) == 17, rec
        assert all(len(l) <= 80 or l.startswith(("command:", "result:",
                                                  "cgroup:"))
                   for l in lines), rec
    assert {int(r.split()[1]) for r in records} == {live, gone}
    piped = ctl(daemon, "list", "all", "details").stdout.split("\n")
    assert piped[0].startswith("PID ") and len(piped) == 4, piped
    wide = ctl(daemon, "list", env=with_columns(400)).stdout.split("\n")
    assert wide[0].startswith("PID "), wide
    t = tmux("%s -s %s list all details; sleep 600" % (PROCCTL, daemon.sock),
             width=80)
    screen = t.wait(r"^tree:.*\n(.|\n)*^tree:")
    assert "PID " not in screen and re.search(r"^pid: +%d$" % live, screen,
                                              re.M), screen
    assert ctl(daemon, "close", live).returncode == 0


def test_run_time_human_in_tables_numeric_in_json(daemon):
    pid = int(ctl(daemon, "run", "sleep", "300").stdout)
    out = ctl(daemon, "list", "details").stdout
    head, row = out.split("\n")[:2]
    col = head.index("RUN TIME")
    assert re.match(r"\d+\.\ds +", row[col:]), out
    rows = json.loads(ctl(daemon, "--json", "list", "details").stdout)
    assert isinstance(rows[0]["run_time"], float)
    assert ctl(daemon, "close", pid).returncode == 0


def test_durations_past_a_minute(tmp_path):
    """A double in a record is a duration: 3.2s, 4m05s, 1h02m, 2d03h in a
    table and in a record; the seconds as they came in JSON."""
    times = ["3.25", "245.9", "3725.3", "183600", "0"]
    row = lambda t: (b"%3\r\n+pid\r\n:1\r\n+run_time\r\n," + t.encode() +
                     b"\r\n+note\r\n,1.5\r\n")

    def answer(args):
        if args[:2] == [b"list", b"details"]:
            return b"*%d\r\n" % len(times) + b"".join(row(t) for t in times)
        return row("3725.3")
    f = Fake(tmp_path / "fake.sock", answer)
    try:
        r = subprocess.run([str(PROCCTL), "-s", str(f.path), "list",
                            "details"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        shown = [l.split()[1] for l in r.stdout.split("\n")[1:] if l]
        assert shown == ["3.2s", "4m05s", "1h02m", "2d03h", "0.0s"], r.stdout
        r = subprocess.run([str(PROCCTL), "-s", str(f.path), "status"],
                           capture_output=True, text=True, timeout=60)
        assert "run_time: 1h02m\n" in r.stdout, r.stdout
        r = subprocess.run([str(PROCCTL), "-s", str(f.path), "--json",
                            "list", "details"], capture_output=True,
                           text=True, timeout=60)
        assert [x["run_time"] for x in json.loads(r.stdout)] == [
            3.25, 245.9, 3725.3, 183600, 0]
    finally:
        f.close()


def test_empty_list_says_so_everywhere(daemon):
    r = ctl(daemon, "list")
    assert (r.returncode, r.stdout) == (0, "(empty)\n")
    r = ctl(daemon, input="list\n")
    assert (r.returncode, r.stdout) == (0, "(empty)\n")
    assert ctl(daemon, "--json", "list").stdout == "[]\n"


# ---- a user's own daemon: a socket it may create, or a hint ----

@pytest.fixture
def nobody_home():
    """A home directory for 'nobody', and copies of the binaries and
    plugins where nobody may read them (pytest's directories are
    root's)."""
    if not IS_ROOT or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as nobody")
    top = tempfile.mkdtemp(prefix="procctl-firstuse-")
    os.chmod(top, 0o755)
    home = os.path.join(top, "home")
    os.mkdir(home)
    os.chown(home, 65534, 65534)
    bin_ = os.path.join(top, "bin")
    os.mkdir(bin_)
    for f in [PROCCTLD, PROCCTL] + list(PLUGINS.glob("*.so")):
        shutil.copy(f, bin_)
    ctl_mods = os.path.join(bin_, "ctl")
    shutil.copytree(PROCCTL.parent / "ctl", ctl_mods)
    ini = os.path.join(top, "procctld.ini")
    with open(ini, "w") as f:
        f.write("[daemon]\nplugin_dir = %s\n\n[plugin:arith]\npath = "
                "arith.so\n" % bin_)
    yield top, home, bin_, ini
    shutil.rmtree(top, ignore_errors=True)


def as_nobody(home, argv, **kw):
    env = {"PATH": "/usr/bin:/bin", "HOME": home}
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "env", "-i"] + ["%s=%s" % kv for kv in env.items()] + argv


def test_user_daemon_without_runtime_dir(nobody_home):
    """No XDG_RUNTIME_DIR, no /run/user/UID: the daemon listens in the
    user's home, and procctl finds it there."""
    if os.path.isdir("/run/user/65534"):
        pytest.skip("nobody has a runtime directory here")
    top, home, bin_, ini = nobody_home
    d = subprocess.Popen(as_nobody(home, [os.path.join(bin_, "procctld"),
                                          "-c", ini]),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        sock = os.path.join(home, ".procctl", "procctl.sock")
        line = d.stdout.readline()
        while line and "listening on" not in line:
            line = d.stdout.readline()
        assert "listening on %s" % sock in line, line
        r = subprocess.run(as_nobody(home, [os.path.join(bin_, "procctl"),
                                            "add", "1", "2"]),
                           capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout) == (0, "3\n"), r.stderr
    finally:
        d.terminate()
        d.wait(timeout=60)


def test_user_daemon_socket_denied_says_what_to_do(nobody_home, tmp_path):
    top, home, bin_, ini = nobody_home
    closed = os.path.join(top, "closed")
    os.mkdir(closed, 0o755)             # root's: nobody may not bind here
    r = subprocess.run(as_nobody(home, [os.path.join(bin_, "procctld"),
                                        "-c", ini, "-s",
                                        os.path.join(closed, "p.sock")]),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert re.search(r"bind \S+/closed/p\.sock: Permission denied; choose "
                     r"a socket you may create: procctld -s PATH, or "
                     r"socket = PATH in \[daemon\] \(a user's default is "
                     r"\$XDG_RUNTIME_DIR/procctl\.sock, else "
                     r"~/\.procctl/procctl\.sock\)", r.stderr), r.stderr


# ---- make: says what it installs, installs only what is missing ----

def stub_tools(tmp_path, missing, uid):
    """dpkg-query saying every package but MISSING is installed, apt-get
    logging what it is asked, id saying UID."""
    d = tmp_path / "stubs"
    d.mkdir()
    log = tmp_path / "apt.log"
    (d / "dpkg-query").write_text(
        "#!/bin/sh\nfor p; do :; done\ncase \" %s \" in *\" $p \"*) exit 1;;"
        " esac\nprintf 'install ok installed'\n" % " ".join(missing))
    (d / "apt-get").write_text("#!/bin/sh\necho \"apt-get $*\" >> %s\n"
                               "echo \"APT-GET $*\"\n" % log)
    (d / "id").write_text("#!/bin/sh\necho %d\n" % uid)
    for f in d.iterdir():
        f.chmod(0o755)
    return d, log


@pytest.mark.parametrize("uid", [0, 1000])
def test_make_says_what_it_installs(tmp_path, uid):
    if shutil.which("make") is None:
        pytest.skip("no make")
    stubs, log = stub_tools(tmp_path, ["zsh", "socat"], uid)
    env = dict(os.environ, PATH="%s:%s" % (stubs, os.environ["PATH"]))
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C",
                        str(ROOT), "auto-deps"], capture_output=True,
                       text=True, timeout=120, env=env)
    if uid == 0:
        assert r.returncode == 0, r.stderr
        said = "make: installing missing Debian packages with apt-get: " \
            "zsh socat"
        assert said in r.stdout, r.stdout
        # Said before it is done, and only what is missing.
        assert r.stdout.index(said) < r.stdout.index("APT-GET")
        assert log.read_text().split("\n")[:2] == [
            "apt-get update", "apt-get install -y zsh socat"]
    else:
        assert r.returncode != 0
        assert "make: missing Debian packages: zsh socat; run: sudo " \
            "make deps" in r.stderr, r.stderr
        assert not log.exists()


def test_every_package_is_listed_where_the_readme_says():
    """DEB_PACKAGES, .ci/run and the README's table name the same
    packages (the README's may add bench-only and optional ones)."""
    mk = (ROOT / "Makefile").read_text()
    debs = set(re.search(r"^DEB_PACKAGES = (.*?)\n(?!\t)", mk,
                         re.M | re.S).group(1).replace("\\", " ").split())
    ci = (ROOT / ".ci/run").read_text()
    ci_line = re.search(r"apt-get install -y (.*?)\n\n", ci, re.S).group(1)
    assert debs <= set(ci_line.replace("\\", " ").split())
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Dependencies")[1].split("\n## ")[0]
    listed = set(re.findall(r"`([a-z0-9][a-z0-9.+-]+)`", table))
    assert debs <= listed, debs - listed


# ---- the README's examples run as written ----

def test_readme_raw_socket_example(daemon):
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"^\$ (printf 'add 1 2\\r\\nlist\\r\\n' \| (\S+) .*)$",
                  readme, re.M)
    assert m, "the README's raw-socket example is gone"
    tool = m.group(2)
    assert shutil.which(tool), "%s, used by the README, is not " \
        "installed: add its package to DEB_PACKAGES" % tool
    line = m.group(1).replace("/run/procctl/procctl.sock", str(daemon.sock))
    r = subprocess.run(["sh", "-c", line], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b":3\r\n*0\r\n"), r.stdout


# ---- the hidden --complete is documented ----

def test_complete_option_in_the_man_page():
    man = (ROOT / "docs/procctl.1").read_text()
    assert re.search(r"^\.BI? \\-\\-complete", man, re.M), \
        "docs/procctl.1 does not describe --complete"
