"""Shell completion (etc/completion/): bash driven non-interactively, as
it calls the function on Tab (COMP_WORDS, COMP_CWORD in; COMPREPLY out),
against a real daemon: a command, a process name, a program name, all
from what the daemon says (procctl --complete)."""
import shutil
import subprocess

import pytest

from conftest import PROCCTL, ROOT, default_ini, wait_for

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


def test_bash_without_daemon(tmp_path):
    """No daemon: nothing offered, no error, no wait."""
    cmd = [str(PROCCTL), "-s", str(tmp_path / "none.sock"), "cl"]
    script = "source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=3\n_procctl\n" \
        "echo n=${#COMPREPLY[@]}\n" % (SCRIPT, " ".join(cmd))
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "n=0\n", "")
