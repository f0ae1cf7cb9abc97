"""procctl as a program: what it links and loads, and help that comes from
the daemon's description of its commands (never from a list in the
client)."""
import os
import re
import shutil
import select
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (PROCCTL, ROOT, SANITIZED, Tmux, default_ini,
                      wait_for)

HERE = Path(__file__).resolve().parent


def run(*args, env=None, timeout=30, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL, **kw)


def maps(pid):
    with open("/proc/%d/maps" % pid) as f:
        return f.read()


def procctl_pids(exe, arg):
    """Running procctl processes of EXE with ARG on their command line."""
    found = []
    for d in os.listdir("/proc"):
        try:
            if (d.isdigit() and os.readlink("/proc/%s/exe" % d) == str(exe)
                    and arg.encode() in open("/proc/%s/cmdline" % d,
                                             "rb").read()):
                found.append(int(d))
        except OSError:
            pass
    return found


# ---- a lean one-shot client ----

def test_links_only_libc():
    """TLS and readline are modules loaded when used: the binary itself
    needs neither (nor libcrypto)."""
    out = run("ldd", PROCCTL).stdout
    for lib in ("libssl", "libcrypto", "libreadline", "libtinfo"):
        assert lib not in out, out
    assert (PROCCTL.parent / "ctl" / "tls.so").exists()
    assert (PROCCTL.parent / "ctl" / "edit.so").exists()


def test_one_shot_and_events_load_no_module(daemon):
    assert daemon.ctl("add", "1", "2").stdout == "3\n"
    p = subprocess.Popen([str(PROCCTL), "-s", str(daemon.sock), "events"],
                         stdout=subprocess.PIPE, text=True)
    try:
        # `events` subscribes a moment after it starts: run until one of
        # ours is seen (a run before the subscription has no event).
        pids, line = set(), ""
        deadline = time.monotonic() + 60
        while not line and time.monotonic() < deadline:
            pids.add(int(daemon.ctl("run", "true").stdout))
            if select.select([p.stdout], [], [], 0.2)[0]:
                line = p.stdout.readline()
        assert line.startswith("[event] ") and \
            int(line.split()[1]) in pids, line
        m = maps(p.pid)
        for lib in ("tls.so", "edit.so", "libssl", "libreadline"):
            assert lib not in m
    finally:
        p.terminate()
        p.wait()


def test_shell_loads_the_editor_not_tls(daemon, tmux):
    t = tmux("%s -s %s" % (PROCCTL, daemon.sock))
    t.wait(r"procctl \S+> *$")
    pids = procctl_pids(PROCCTL.resolve(), str(daemon.sock))
    assert len(pids) == 1
    m = maps(pids[0])
    assert "edit.so" in m and "libreadline" in m
    assert "tls.so" not in m and "libssl" not in m


@pytest.fixture
def lone_procctl(tmp_path):
    """procctl copied alone, without the modules beside it."""
    if Path("/usr/local/lib/procctl/ctl").exists():
        pytest.skip("modules installed in /usr/local/lib/procctl/ctl")
    d = tmp_path / "lone"
    d.mkdir()
    shutil.copy(PROCCTL, d / "procctl")
    return d / "procctl"


def test_missing_modules_one_line_each(daemon, lone_procctl, tmux):
    # Plain use needs no module at all.
    r = run(lone_procctl, "-s", daemon.sock, "add", "2", "2")
    assert r.returncode == 0 and r.stdout == "4\n", r.stderr
    r = subprocess.run([str(lone_procctl), "-s", str(daemon.sock)],
                       input="add 3 3\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stdout == "6\n", r.stderr
    # TLS says what is missing, in one line, before any connection.
    r = run(lone_procctl, "-H", "tls://127.0.0.1:1", "--cert", "/dev/null",
            "--key", "/dev/null", "add", "1", "1")
    lines = r.stderr.splitlines()
    assert r.returncode == 69 and len(lines) == 1, r.stderr
    assert re.match(r"procctl: TLS needs procctl's module tls\.so, which "
                    r"cannot be loaded: .*tls\.so", lines[0]), lines
    # A terminal without the editor: one line, then plain lines work.
    t = tmux("%s -s %s" % (lone_procctl, daemon.sock))
    t.wait("line editing needs procctl's module edit.so")
    t.type("add 20 22")
    t.wait(r"^42$")


# ---- help ----

def test_help_lists_the_daemons_commands_by_group(daemon):
    r = run(PROCCTL, "-s", daemon.sock, "--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # The client's own part first.
    assert out.startswith("usage: procctl ")
    for own in ("--socket", "--json", "shell", "events", "Exit status"):
        assert own in out
    # (Wrapped within 80 columns, like all of it.)
    assert "Commands of procctld at %s" % daemon.sock in " ".join(out.split())
    # run, under a "processes" heading, with its usage and summary.
    sections = re.split(r"\n\n", out.split("Commands of procctld")[1])
    procs = [s for s in sections if s.startswith("processes")]
    assert procs, out
    # Its usage is wider than its column: a line of its own, wrapped
    # within 80 columns (output to a pipe), then the summary.
    assert re.search(r"^  run \[--detach\] \[--cwd DIR\] \[--env K=V\]\.\.\. "
                     r"\[--restart on-failure\|always\] <path>\n"
                     r"      \[args\.\.\.\]\n {40}Start",
                     procs[0], re.M), procs[0]
    assert re.search(r"^  close <pid\|name> \[all\]", procs[0], re.M)
    arith = [s for s in sections if "add <number>" in s]
    assert arith and not arith[0].startswith("processes")
    # -h is the same.
    assert run(PROCCTL, "-s", daemon.sock, "-h").stdout == out


def test_help_without_a_daemon_says_so(tmp_path):
    # (No timing check: a missing socket fails at connect(), there is
    # nothing to wait for.)
    r = run(PROCCTL, "-s", tmp_path / "none.sock", "--help")
    assert r.returncode == 0 and r.stderr == ""
    # The last paragraph, wrapped within 80 columns.
    last = r.stdout.rstrip("\n").split("\n\n")[-1]
    assert max(len(l) for l in last.split("\n")) <= 80, last
    assert " ".join(last.split()).startswith(
        "The commands come from the daemon, not reached here: cannot "
        "reach procctld at "), last
    assert "Exit status" in r.stdout


def test_help_never_asks_for_a_secret():
    env = dict(os.environ)
    env.pop("PROCCTL_SECRET", None)
    r = run(PROCCTL, "-H", "tcp://alice@127.0.0.1:1", "--help", env=env,
            timeout=10)
    assert r.returncode == 0 and r.stderr == ""
    assert "127.0.0.1:1 needs a secret" in " ".join(
        r.stdout.split("\n\n")[-1].split())


def test_help_command_from_the_daemon(daemon):
    """procctl help asks the daemon; a command map reads as help."""
    out = daemon.ctl("help").stdout
    assert re.search(r"^  add <number> <number>", out, re.M), out
    assert "arith" in out           # the plugin is named with its group
    out = daemon.ctl("help", "run").stdout
    assert out.startswith("usage: run [--detach] [--cwd DIR] [--env K=V]... "
                          "[--restart on-failure|always]\n"
                          "           <path> [args...]\n"), out
    assert re.search(r"^  -d, --detach +\S", out, re.M), out
    # --json keeps the maps as they came.
    assert ('"usage":"run [--detach] [--cwd DIR] [--env K=V]... '
            '[--restart on-failure|always] <path> [args...]"') in daemon.ctl("help", "run", json=True).stdout


# ---- a plugin's command documents and completes itself ----

@pytest.fixture
def argdemo(make_daemon, tmp_path_factory):
    src = HERE / "plugins" / "argdemo.c"
    if not src.exists():
        pytest.skip("tests/integration/plugins/argdemo.c not written yet")
    out = tmp_path_factory.mktemp("argdemo") / "argdemo.so"
    subprocess.run(["cc", "-std=c17", "-Wall", "-Werror", "-shared", "-fPIC",
                    "-I", str(ROOT / "include"), "-o", str(out), str(src)],
                   check=True)
    return make_daemon(default_ini() + "\n[plugin:argdemo]\npath = %s\n"
                       % out)


def test_plugin_command_documents_itself(argdemo):
    out = run(PROCCTL, "-s", argdemo.sock, "--help").stdout
    demo = [s for s in out.split("\n\n") if s.startswith("demo")]
    assert demo and re.search(r"^  greet \[--loud\] (\[--from NAME\] )?"
                              r"<who> \[times\]\s+Greet", demo[0], re.M), out
    out = argdemo.ctl("help", "greet").stdout
    assert re.match(r"usage: greet \[--loud\] .*<who> \[times\]\n", out), out
    assert re.search(r"^  -l, --loud +\S", out, re.M), out
    assert re.search(r"^  who +keyword: world \| moon$", out, re.M), out
    assert re.search(r"^  times +int, optional$", out, re.M), out


def test_plugin_command_completes_itself(argdemo, tmux):
    t = tmux("%s -s %s" % (PROCCTL, argdemo.sock))
    t.wait(r"procctl \S+> *$")
    t.type("gre", enter=False)
    t.send("Tab")
    t.wait(r"> greet *$")
    t.send("Tab", "Tab")
    t.wait(r"^moon +world *$")
    t.type("w", enter=False)
    t.send("Tab")
    t.wait(r"> greet world *$")
    t.send("C-u")
    t.type("greet --l", enter=False)
    t.send("Tab")
    t.wait(r"> greet --loud *$")
    t.type("m", enter=False)
    t.send("Tab")
    t.wait(r"> greet --loud moon *$")
    t.send("C-u")
    t.type("greet -", enter=False)
    t.send("Tab", "Tab")
    t.wait(r"^(--\S+ +)*--loud +(-\S +)*-l *$")
    t.send("C-u")
    # An option's value is not taken for an argument.
    t.type("greet -l --from moon w", enter=False)
    t.send("Tab")
    t.wait(r"> greet -l --from moon world *$")
    t.send("Enter")
    t.wait(r"^HELLO WORLD X1 FROM MOON$")
