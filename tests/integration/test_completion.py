"""Shell completion (etc/completion/): bash driven non-interactively, as
it calls the function on Tab (COMP_WORDS, COMP_CWORD in; COMPREPLY out),
against a real daemon: a command, a process name, a program name, all
from what the daemon says (procctl --complete)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import (PROCCTL, ROOT, default_ini, plugin_ini,  # noqa: F401
                      test_plugins, tmux, wait_for)

SCRIPT = ROOT / "etc/completion/procctl.bash"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None,
                                reason="no bash")


def complete(d, *words):
    """COMPREPLY for the last of WORDS, typed after procctl -s SOCKET."""
    cmd = [str(PROCCTL), "-s", str(d.sock)] + list(words)
    script = "source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_procctl\n" \
        "printf '%%s\\n' \"${COMPREPLY[@]}\"\n" % (
            SCRIPT, " ".join("'%s'" % w for w in cmd), len(cmd) - 1)
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [l for l in r.stdout.split("\n") if l]


def test_bash_commands_processes_programs(make_daemon):
    d = make_daemon(default_ini() + """
[program:webapp]
command = sleep 3401
""")
    r = d.ctl("run", "sleep", "3402")
    assert r.returncode == 0, r.stderr
    pid = r.stdout.strip()

    # Commands: the daemon's, whatever its plugins register.
    assert complete(d, "cl") == ["close"]
    everything = complete(d, "")
    for c in ("add", "list", "run", "status", "close", "help"):
        assert c in everything
    assert complete(d, "ad") == ["add"]
    # A process name (and pid) where close takes one.
    assert set(complete(d, "close", "")) >= {"sleep", pid}
    assert complete(d, "close", "sl") == ["sleep"]
    # A program name where stop takes one.
    wait_for(lambda: "webapp" in d.ctl("status").stdout)
    assert "webapp" in complete(d, "stop", "we")
    assert "webapp" in complete(d, "status", "")
    # Keywords and options from the command's declaration.
    assert complete(d, "list", "de") == ["details"]
    assert "--detach" in complete(d, "run", "--de")


def test_a_source_no_client_can_send_is_left_out(make_daemon, test_plugins):
    """A plugin's completion source too long to send, with no word, or
    with too many words is left out; the other commands' completion goes
    on (one such source used to turn every completion off)."""
    d = make_daemon(plugin_ini(test_plugins, "misbehave"))
    r = d.ctl("run", "sleep", "3403")
    assert r.returncode == 0, r.stderr
    assert "oddsrc" in complete(d, "od")
    assert complete(d, "close", "sl") == ["sleep"]
    assert complete(d, "oddsrc", "") == []


def test_bash_without_daemon(tmp_path):
    """No daemon: nothing offered, no error, no wait."""
    cmd = [str(PROCCTL), "-s", str(tmp_path / "none.sock"), "cl"]
    script = "source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=3\n_procctl\n" \
        "echo n=${#COMPREPLY[@]}\n" % (SCRIPT, " ".join(cmd))
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "n=0\n", "")


# ---- in the shells themselves: bash and zsh on a terminal ----

WORKERS = default_ini() + """
[program:worker]
command = sleep 3403
numprocs = 3
"""


def typed_shell(tmux, cmd, setup, prompt):
    """A shell CMD in a terminal, procctl first in its PATH, SETUP typed
    (each line waits for the prompt again)."""
    env = {"PATH": "%s:%s" % (PROCCTL.parent, os.environ["PATH"]),
           "PS1": prompt, "PROMPT": prompt, "TERM": "xterm"}
    t = tmux(cmd, env=env)
    for line in setup:
        t.type(line)
    t.type("echo ready-for-tab")
    t.wait(r"^ready-for-tab$")
    t.send("C-l")
    return t


def tab_through(t, d, tail):
    """Type `procctl -s SOCK <typed>` and Tab for each (typed, wanted)
    of TAIL: the line must end with wanted.  A letter typed after shows
    whether a space was added (zsh takes its space away again before
    '|' and the like).  Ctrl-U between."""
    for typed, wanted in tail:
        t.type("procctl -s %s %s" % (d.sock, typed), enter=False)
        t.send("Tab")
        t.wait(re.escape(" %s" % wanted.rstrip(" ")) + r"\s*$")
        t.type("Q", enter=False)
        t.wait(re.escape(" %sQ" % wanted) + r"\s*$")
        t.send("C-u")


def workers_up(d):
    wait_for(lambda: d.ctl("status").stdout.count("RUNNING") == 3 or
             d.ctl("list").stdout.count("worker:") == 3)
    r = d.ctl("run", "sleep", "3404")
    assert r.returncode == 0, r.stderr


CASES = [
    ("clo", "close "),
    ("list de", "list details "),
    ("close sl", "close sleep "),
    # Words bash splits at ':' and '=' (COMP_WORDBREAKS), whole to procctl.
    ("stop work", "stop worker:"),
    ("stop worker:1", "stop worker:1 "),
    ("logs --since=10m work", "logs --since=10m worker:"),
    ("logs -n 5 worker:2", "logs -n 5 worker:2 "),
]


def test_bash_on_a_terminal(make_daemon, tmux):
    d = make_daemon(WORKERS)
    workers_up(d)
    t = typed_shell(tmux, "bash --norc --noprofile", [
        "source %s" % SCRIPT], "$ ")
    tab_through(t, d, CASES)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="no zsh")
def test_zsh_on_a_terminal(make_daemon, tmux):
    """The zsh function, autoloaded from its directory by compinit as an
    installed one is, against a real daemon."""
    d = make_daemon(WORKERS)
    workers_up(d)
    t = typed_shell(tmux, "zsh -f", [
        "fpath=(%s $fpath)" % (ROOT / "etc/completion"),
        "autoload -Uz compinit && compinit -u -D",
        "whence -w _procctl"], "%% ")
    t.send("C-l")
    tab_through(t, d, CASES)
