"""The first-use surfaces (issue 13) against hostile input: a user's
default socket under an XDG_RUNTIME_DIR that is not theirs, too long or
relative, and without HOME; help from a daemon that sends what no
procctld sends; durations at the edges."""
import json
import os
import re
import subprocess

import pytest

from conftest import PROCCTL, connectable, wait_for
from test_firstuse import nobody_home  # noqa: F401 (a fixture)
from test_hostile_client import fake  # noqa: F401 (a fixture)


def nobody(env, argv):
    """ARGV as the user nobody with exactly ENV (and a PATH)."""
    env = dict({"PATH": "/usr/bin:/bin"}, **env)
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "env", "-i"] + ["%s=%s" % kv for kv in env.items()] + argv


def where_it_listens(bin_, ini, env):
    """The path a daemon of nobody's listens on by default; it is
    stopped again."""
    d = subprocess.Popen(nobody(env, [os.path.join(bin_, "procctld"), "-c",
                                      ini]),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        out = ""
        for line in d.stdout:
            out += line
            m = re.search(r"listening on (\S+) \(", line)
            if m:
                return m.group(1)
        raise AssertionError("procctld did not start:\n" + out)
    finally:
        d.terminate()
        d.wait(timeout=60)


def mkdir(path, uid, mode):
    os.mkdir(path)
    os.chown(path, uid, uid)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("kind", ["roots", "open", "relative", "long",
                                  "link-to-roots"])
def test_runtime_dir_that_is_not_theirs_alone(nobody_home, kind):
    """An XDG_RUNTIME_DIR that another could write in, that is relative,
    or whose socket path could never be bound, is passed over for the
    user's home, by procctld and procctl alike."""
    if os.path.isdir("/run/user/65534"):
        pytest.skip("nobody has a runtime directory here")
    top, home, bin_, ini = nobody_home
    xdg = {"roots": lambda: mkdir(os.path.join(top, "r"), 0, 0o755),
           "open": lambda: mkdir(os.path.join(top, "o"), 65534, 0o777),
           "relative": lambda: "run",
           "long": lambda: mkdir(os.path.join(top, "l" * 100), 65534,
                                 0o700),
           "link-to-roots": lambda: os.symlink(
               mkdir(os.path.join(top, "r"), 0, 0o755),
               os.path.join(top, "link")) or os.path.join(top, "link"),
           }[kind]()
    env = {"HOME": home, "XDG_RUNTIME_DIR": xdg}
    sock = os.path.join(home, ".procctl", "procctl.sock")
    assert where_it_listens(bin_, ini, env) == sock
    d = subprocess.Popen(nobody(env, [os.path.join(bin_, "procctld"), "-c",
                                      ini]), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: connectable(sock), timeout=60)
        r = subprocess.run(nobody(env, [os.path.join(bin_, "procctl"), "add",
                                        "1", "2"]), capture_output=True,
                           text=True, timeout=60)
        assert (r.returncode, r.stdout) == (0, "3\n"), r.stderr
    finally:
        d.terminate()
        d.wait(timeout=60)


@pytest.mark.parametrize("link", [False, True])
def test_runtime_dir_of_theirs_alone_is_used(nobody_home, link):
    """The control: a private runtime directory of the user's, or a
    symbolic link to one, is where the socket goes."""
    top, home, bin_, ini = nobody_home
    xdg = mkdir(os.path.join(top, "run"), 65534, 0o700)
    if link:
        os.symlink(xdg, os.path.join(top, "link"))
        xdg = os.path.join(top, "link")
    assert where_it_listens(bin_, ini, {"HOME": home,
                                        "XDG_RUNTIME_DIR": xdg}) == \
        os.path.join(xdg, "procctl.sock")


def test_home_anyone_may_write_in(nobody_home):
    """A home others may write in (mode 0777) could have its .procctl
    put aside for another's: not a place for the socket.  The system
    socket is the default then, which nobody's daemon may not create:
    it says so, with what to do."""
    if os.path.isdir("/run/user/65534"):
        pytest.skip("nobody has a runtime directory here")
    top, home, bin_, ini = nobody_home
    os.chmod(home, 0o777)
    d = subprocess.Popen(nobody({"HOME": home}, [os.path.join(bin_,
                                                              "procctld"),
                                                  "-c", ini]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        out, err = d.communicate(timeout=60)
    finally:
        if d.poll() is None:            # it listens: in the shared home
            d.terminate()
            out, err = d.communicate(timeout=60)
    r = subprocess.CompletedProcess(d.args, d.returncode, out, err)
    assert r.returncode != 0, r
    assert "listening on" not in r.stdout + r.stderr, r
    assert re.search(r"/run/procctl(/procctl\.sock)?: Permission denied; "
                     r"choose a socket you may create", r.stderr), r.stderr
    assert not os.path.exists(os.path.join(home, ".procctl"))


def test_no_home_no_runtime_dir(nobody_home):
    """Neither: the system daemon's socket, named when it cannot be
    reached; never a crash or a silent exit."""
    if os.path.isdir("/run/user/65534"):
        pytest.skip("nobody has a runtime directory here")
    top, home, bin_, ini = nobody_home
    r = subprocess.run(nobody({}, [os.path.join(bin_, "procctl"), "ping"]),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 69, 77), r
    if r.returncode != 0:
        assert "/run/procctl/procctl.sock" in r.stderr, r.stderr


# ---- help from a daemon that sends what no procctld sends ----

def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def command(name, usage, summary, group, plugin):
    return (b"%6\r\n+name\r\n" + bulk(name) + b"+usage\r\n" + bulk(usage) +
            b"+summary\r\n" + bulk(summary) + b"+arity\r\n:1\r\n"
            b"+group\r\n" + bulk(group) + b"+plugin\r\n" + bulk(plugin))


def hello(commands):
    return (b"%4\r\n+server\r\n+procctld\r\n+proto\r\n:3\r\n+version\r\n"
            b"+0.1.0\r\n+commands\r\n*" + str(len(commands)).encode() +
            b"\r\n" + b"".join(commands))


def help_from(fake, commands, columns, *args):
    f = fake(lambda a: b"+OK\r\n", hello=hello(commands))
    return subprocess.run([str(PROCCTL), "-s", f.path, "--help"] +
                          list(args), capture_output=True, timeout=60,
                          env=dict(os.environ, COLUMNS=columns))


@pytest.mark.parametrize("columns,width", [
    ("0", 80), ("1", 40), ("-3", 80), ("abc", 80), ("80x", 80),
    ("99999999999999999999", 80), ("", 80), ("60", 60)])
def test_help_heading_of_many_plugins_fits(fake, columns, width):
    """A group filled by many plugins: its heading is wrapped as any
    line, within $COLUMNS (at least 40; garbage, 0 or a width past
    10000 is the default, 80 on a pipe)."""
    cmds = [command(b"c%d" % i, b"c%d" % i, b"does %d" % i, b"shared",
                    b"plugin-number-%d" % i) for i in range(40)]
    r = help_from(fake, cmds, columns)
    assert r.returncode == 0, r
    # procctl's own part is written for 80 columns: the daemon's.
    theirs = r.stdout.decode().split("for one):\n", 1)[1]
    lines = theirs.split("\n")
    assert max(len(l) for l in lines) <= width, theirs
    text = " ".join(l.strip() for l in lines)
    assert "shared (plugin-number-0, plugin-number-1," in text
    assert "plugin-number-39):" in text


def test_help_of_a_hostile_daemon(fake):
    """Names, usages, summaries and groups that are huge, empty or full
    of control bytes: help is printed, escaped, never a crash."""
    big = b"w" * 5000
    cmds = [command(big, big + b" " + b"x " * 3000, b"s " * 5000, big, big),
            command(b"\x1b[2J", b"\x1b[2J\t\r\x00x", b"\x07\x1b]0;t\x07\r\n",
                    b"\x1b[31m\n", b"\x00\x01"),
            command(b"", b"", b"", b"", b""),
            command(b"p", b"", b"", b"protocol", b"core")]
    for args in ([], ["help"]):
        r = help_from(fake, cmds, "60", *args)
        assert r.returncode == 0, r
        assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", r.stdout), \
            r.stdout[:2000]


# ---- durations at the edges ----

def test_durations_at_the_edges(fake):
    """A double that is no duration a person reads (negative, NaN,
    infinite, past 1e15 s) is shown as the number it is; --json keeps
    each as JSON has it."""
    times = ["0", "-0", "-1.5", "nan", "inf", "-inf", "1e300",
             "999999999999999", "1e15"]
    row = lambda t: (b"%2\r\n+pid\r\n:1\r\n+run_time\r\n," + t.encode() +
                     b"\r\n")
    f = fake(lambda a: b"*%d\r\n" % len(times) +
             b"".join(row(t) for t in times))
    r = subprocess.run([str(PROCCTL), "-s", f.path, "list"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    shown = [l.split()[1] for l in r.stdout.split("\n")[1:] if l]
    assert shown == ["0.0s", "0.0s", "-1.5", "nan", "inf", "-inf", "1e300",
                     "11574074074d01h", "1e15"], r.stdout
    r = subprocess.run([str(PROCCTL), "-s", f.path, "--json", "list"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    assert [x["run_time"] for x in json.loads(r.stdout)] == [
        0, 0, -1.5, None, None, None, 1e300, 999999999999999, 1e15]
