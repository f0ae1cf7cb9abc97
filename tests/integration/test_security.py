"""Multi-user security with real users and real TLS: the [access] policy,
processes run as their caller, socket hardening, plugin file checks, and
TLS (server and mutual) for TCP.  CI runs as root, so tests create users
with useradd and act as them with setpriv; those that need root skip with
a reason otherwise."""
import fcntl
import grp
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile

import pytest

from conftest import (PLUGINS, PROCCTL, PROCCTLD, SANITIZED, Error,
                      connectable, default_ini, eof, hashed, wait_for)
from test_tcp import free_port, tcp_daemon

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not IS_ROOT, reason="needs root: creates users and connects as them")

# Users and groups this module creates (and removes).
GROUPS = ["pcts-users", "pcts-admins", "pcts-extra"]
USERS = {
    "pcts-a": ("pcts-users", ["pcts-extra"]),
    "pcts-b": ("pcts-users", []),
    "pcts-adm": ("pcts-admins", []),
    "pcts-out": ("pcts-extra", []),      # in no allowed group
}


def _account_processes():
    """Processes running as this module's users: what a run that was
    killed (and its daemons with it) while it had the accounts left
    behind.  userdel refuses a user with processes."""
    uids = set()
    for u in USERS:
        try:
            uids.add(pwd.getpwnam(u).pw_uid)
        except KeyError:
            pass
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc") if uids else []):
        try:
            with open("/proc/%s/status" % pid) as f:
                st = f.read()
            if int(st.split("Uid:")[1].split()[0]) in uids:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    found.append("%s %s" % (pid, f.read().replace(
                        b"\0", b" ").decode(errors="replace")))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return found


def _cleanup_accounts():
    # A killed run's leftovers are the tests' own processes ("sleep 100"
    # at the longest): wait for them to end.
    wait_for(lambda: not _account_processes(), timeout=300,
             describe=lambda: "processes of the test users: %r" %
             _account_processes())
    for u in USERS:
        subprocess.run(["userdel", u], capture_output=True)
    for g in GROUPS:
        subprocess.run(["groupdel", g], capture_output=True)


@pytest.fixture(scope="session")
def users():
    if not IS_ROOT:
        pytest.skip("needs root: creates users and connects as them")
    if shutil.which("useradd") is None or shutil.which("setpriv") is None:
        pytest.skip("needs useradd and setpriv (passwd, util-linux)")
    # The accounts are machine-wide: a second test run beside this one
    # (`make test` twice, `make check`) waits for them instead of
    # deleting them under this one.
    lock = open("/tmp/procctl-test-accounts.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        _cleanup_accounts()
        for g in GROUPS:
            subprocess.run(["groupadd", g], check=True)
        ids = {}
        for u, (primary, extra) in USERS.items():
            cmd = ["useradd", "-M", "-N", "-d", "/home/" + u, "-s",
                   "/bin/sh", "-g", primary]
            if extra:
                cmd += ["-G", ",".join(extra)]
            subprocess.run(cmd + [u], check=True)
            ids[u] = pwd.getpwnam(u).pw_uid
    except BaseException:
        # pytest keeps the error, and with it this frame and the file: let
        # the lock go now, not at the end of the session.
        lock.close()
        raise
    yield ids
    _cleanup_accounts()
    lock.close()


def as_user(user, *cmd, input=None, timeout=60, env=None):
    full = ["setpriv", "--reuid=" + user, "--regid=" + USERS[user][0],
            "--init-groups", "--"] + [str(c) for c in cmd]
    return subprocess.run(full, capture_output=True, text=True,
                          input=input, timeout=timeout, env=env)


def ctl_as(user, d, *args, json_out=False):
    return as_user(user, PROCCTL, "-s", d.sock,
                   *(["--json"] if json_out else []), *args)


@pytest.fixture
def pubdir():
    """A directory other users can reach, unlike pytest's own."""
    d = tempfile.mkdtemp(prefix="procctl-sec-")
    os.chmod(d, 0o711)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def policy_ini(access="", daemon="socket_mode = 0666", proc=""):
    text = default_ini(extra_daemon=daemon, proc=proc)
    if access:
        text += "\n[access]\n" + access + "\n"
    return text


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return f.read()


def alive(pid):
    try:
        return status(pid).split("State:")[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


# ---- the policy ----

@needs_root
def test_users_see_and_close_only_their_own(make_daemon, users, pubdir):
    d = make_daemon(policy_ini("allow_groups = pcts-users"),
                    sock=os.path.join(pubdir, "s.sock"))
    a = ctl_as("pcts-a", d, "run", "sleep", "100")
    assert a.returncode == 0, a.stderr
    pa = int(a.stdout)
    pb = int(ctl_as("pcts-b", d, "run", "sleep", "101").stdout)
    # B lists only B's; A only A's.
    rows = json.loads(ctl_as("pcts-b", d, "list", "all",
                             json_out=True).stdout)
    assert [r["pid"] for r in rows] == [pb]
    rows = json.loads(ctl_as("pcts-a", d, "list", "details",
                             json_out=True).stdout)
    assert [r["pid"] for r in rows] == [pa]
    # B can neither close (signal) A's process by pid nor by name; and
    # A's pid reads to B exactly as one never managed (no oracle that
    # would defeat hidepid).
    r = ctl_as("pcts-b", d, "close", pa)
    never = ctl_as("pcts-b", d, "close", "4194000")
    assert r.returncode == never.returncode != 0, (r.stderr, never.stderr)
    assert r.stderr == never.stderr.replace("4194000", str(pa)), r.stderr
    r = ctl_as("pcts-b", d, "close", "sleep")
    assert r.returncode == 0       # B's own sleep is the only one B sees
    assert alive(pa) and not alive(pb)
    assert ctl_as("pcts-a", d, "close", pa).returncode == 0


@needs_root
def test_root_daemon_runs_the_caller_as_the_caller(make_daemon, users,
                                                   pubdir):
    d = make_daemon(policy_ini(), sock=os.path.join(pubdir, "s.sock"))
    out = os.path.join(pubdir, "env")
    os.chmod(pubdir, 0o777)
    r = ctl_as("pcts-a", d, "run", "sh", "-c",
               "echo $HOME $USER $LOGNAME > %s; exec sleep 100" % out)
    pid = int(r.stdout)
    wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0)
    st = status(pid)
    uid = users["pcts-a"]
    assert re.search(r"^Uid:\s+%d\s+%d\s+%d\s+%d$" % ((uid,) * 4), st, re.M)
    gid = grp.getgrnam("pcts-users").gr_gid
    extra = grp.getgrnam("pcts-extra").gr_gid
    assert re.search(r"^Gid:\s+%d\s+%d\s+%d\s+%d$" % ((gid,) * 4), st, re.M)
    groups = set(re.search(r"^Groups:\s*(.*)$", st, re.M).group(1).split())
    assert str(extra) in groups and "0" not in groups
    # No capability survives the switch from root.
    assert re.search(r"^CapEff:\s+0+$", st, re.M)
    assert re.search(r"^CapPrm:\s+0+$", st, re.M)
    assert open(out).read() == "/home/pcts-a pcts-a pcts-a\n"
    assert os.stat(out).st_uid == uid
    ctl_as("pcts-a", d, "close", pid)


@needs_root
def test_user_not_in_policy_is_refused(make_daemon, users, pubdir):
    d = make_daemon(policy_ini("allow_groups = pcts-users\n"
                               "allow_users = pcts-adm"),
                    sock=os.path.join(pubdir, "s.sock"))
    # The daemon's fds before any client: make_daemon waited for
    # "listening on", logged once every fd of its own is open.
    before = d.fd_table()
    r = ctl_as("pcts-out", d, "list")
    assert r.returncode == 77
    assert "user 'pcts-out' (uid %d) may not use this procctld" % \
        users["pcts-out"] in r.stderr
    d.wait_log(r"refused uid %d \(pcts-out\) pid \d+: not allowed by "
               r"\[access\]" % users["pcts-out"])
    # By user name and by group, the others get in.
    for u in ["pcts-a", "pcts-b", "pcts-adm"]:
        assert ctl_as(u, d, "add", "1", "1").stdout == "2\n"
    # Nothing of the refused peer lingers (no fd leak): once the daemon
    # has seen every client's EOF (a loop turn after the client exits),
    # the same fds, to the inode, as before any client.  The timeout only
    # bounds a real leak.
    for _ in range(20):
        ctl_as("pcts-out", d, "list")
    wait_for(lambda: d.fd_table() == before, timeout=60,
             describe=lambda: "before %r, now %r" % (before, d.fd_table()))


@needs_root
def test_admin_sees_and_closes_everything(make_daemon, users, pubdir):
    d = make_daemon(policy_ini("allow_groups = pcts-users\n"
                               "admin_groups = pcts-admins"),
                    sock=os.path.join(pubdir, "s.sock"))
    pa = int(ctl_as("pcts-a", d, "run", "sleep", "100").stdout)
    pb = int(ctl_as("pcts-b", d, "run", "sleep", "101").stdout)
    rows = json.loads(ctl_as("pcts-adm", d, "list", json_out=True).stdout)
    assert {r["pid"] for r in rows} == {pa, pb}
    assert {r["owner"] for r in rows} == {"pcts-a", "pcts-b"}
    # Admin-only commands: the core checks the command's flag.
    r = ctl_as("pcts-adm", d, "close", "sleep", "all")
    assert r.returncode == 0, r.stderr
    assert not alive(pa) and not alive(pb)
    hello = ctl_as("pcts-adm", d, "hello", "3", json_out=True)
    assert json.loads(hello.stdout)["admin"] is True
    hello = ctl_as("pcts-a", d, "hello", "3", json_out=True)
    assert json.loads(hello.stdout)["admin"] is False


@needs_root
def test_policy_reload_applies_to_open_connections(make_daemon, users,
                                                   pubdir):
    """A policy change reaches every open connection at once, event
    streams included (they may send no command for hours): a user no
    longer allowed is closed, told why; an admin no longer an admin sees
    only their own events from then on."""
    import threading
    d = make_daemon(policy_ini("allow_groups = pcts-users\n"
                               "admin_users = pcts-adm"),
                    sock=os.path.join(pubdir, "s.sock"))

    def stream(user):
        p = subprocess.Popen(["setpriv", "--reuid=" + user,
                              "--regid=" + USERS[user][0], "--init-groups",
                              "--", str(PROCCTL), "-s", str(d.sock),
                              "events"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        lines = []
        threading.Thread(target=lambda: lines.extend(p.stdout),
                         daemon=True).start()
        return p, lines
    b, b_lines = stream("pcts-b")
    adm, adm_lines = stream("pcts-adm")
    # Both streams are up: each sees the other's process.
    pa = int(ctl_as("pcts-a", d, "run", "sh", "-c", "exit 3").stdout)
    wait_for(lambda: any("%d sh exited" % pa in l for l in b_lines) is False
             and any("%d sh exited" % pa in l for l in adm_lines))
    # pcts-b out, pcts-adm no longer an admin (still a user).
    d.ini.write_text(policy_ini("allow_users = pcts-a pcts-adm"))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"\[access\] policy reloaded")
    assert b.wait(timeout=30) != 0
    wait_for(lambda: any("[event] your access to this procctld was "
                         "revoked" in l for l in b_lines))
    d.wait_log(r"uid %d \(pcts-b\) pid \d+: no longer allowed" %
               users["pcts-b"])
    pa2 = int(ctl_as("pcts-a", d, "run", "sh", "-c", "exit 4").stdout)
    mine = int(ctl_as("pcts-adm", d, "run", "sh", "-c", "exit 5").stdout)
    wait_for(lambda: any("%d sh exited" % mine in l for l in adm_lines))
    assert not any("%d sh" % pa2 in l for l in adm_lines), adm_lines
    assert adm.poll() is None
    adm.kill()
    assert ctl_as("pcts-a", d, "add", "1", "1").stdout == "2\n"
    # A reload with a mistake keeps the running policy.
    d.ini.write_text(policy_ini("allow_users = no-such-user-here"))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"no such user 'no-such-user-here'")
    d.wait_log(r"not reloaded: nothing changes")
    assert ctl_as("pcts-a", d, "add", "1", "1").stdout == "2\n"


def test_unknown_names_in_policy_stop_the_daemon(make_daemon):
    d = make_daemon(policy_ini("allow_groups = no-such-group-zz\n"
                               "admin_users = no-such-user-zz"),
                    start=False)
    d.start(wait=False)
    assert d.proc.wait(timeout=30) == 78
    assert "[access] allow_groups: no such group 'no-such-group-zz'" in \
        d.log()
    assert "[access] admin_users: no such user 'no-such-user-zz'" in d.log()


@needs_root
def test_user_daemon_serves_only_its_user(users, pubdir, tmp_path):
    """A daemon run by an ordinary user: that user (and root) only, even
    when the socket's mode would let others in."""
    # The socket's directory is the user's own (one others may write
    # to is refused: test_socket_directory_must_be_safe).
    sockdir = os.path.join(pubdir, "a")
    os.mkdir(sockdir, 0o755)
    os.chown(sockdir, users["pcts-a"], -1)
    ini = os.path.join(pubdir, "d.ini")
    with open(ini, "w") as f:
        f.write(policy_ini())
    os.chmod(ini, 0o644)
    sock = os.path.join(sockdir, "s.sock")
    log = open(tmp_path / "user-daemon.log", "wb")
    p = subprocess.Popen(["setpriv", "--reuid=pcts-a", "--regid=pcts-users",
                          "--init-groups", "--", str(PROCCTLD), "-c", ini,
                          "-s", sock], stdout=log, stderr=log)
    try:
        # The file exists from bind(), a moment before listen().
        wait_for(lambda: connectable(sock), timeout=60)
        r = as_user("pcts-a", PROCCTL, "-s", sock, "run", "sleep", "100")
        assert r.returncode == 0, r.stderr
        assert int(status(int(r.stdout)).split("Uid:")[1].split()[0]) == \
            users["pcts-a"]
        r = as_user("pcts-b", PROCCTL, "-s", sock, "list")
        assert r.returncode == 77 and "may not use this procctld" in \
            r.stderr
        r = subprocess.run([str(PROCCTL), "-s", sock, "list"],
                           capture_output=True, text=True)
        assert r.returncode == 0     # root may
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


@needs_root
def test_per_user_process_limit(make_daemon, users, pubdir):
    d = make_daemon(policy_ini(proc="max_per_user = 2"),
                    sock=os.path.join(pubdir, "s.sock"))
    for _ in range(2):
        assert ctl_as("pcts-a", d, "run", "sleep", "100").returncode == 0
    r = ctl_as("pcts-a", d, "run", "sleep", "100")
    assert r.returncode == 75
    assert "pcts-a has 2 running processes, the most one user may have " \
        "(max_per_user)" in r.stderr
    # Another user is not affected; and closing one makes room.
    assert ctl_as("pcts-b", d, "run", "sleep", "100").returncode == 0
    assert ctl_as("pcts-a", d, "close", "sleep", "all").returncode == 0
    assert ctl_as("pcts-a", d, "run", "sleep", "100").returncode == 0


@needs_root
def test_one_users_history_does_not_evict_anothers(make_daemon, users,
                                                   pubdir):
    """The history is shared fairly (issue 12): a user who ends many
    processes loses their own oldest, never another user's."""
    rnd = random.Random()
    history = rnd.randrange(6, 12)
    d = make_daemon(policy_ini(proc="history = %d" % history),
                    sock=os.path.join(pubdir, "s.sock"))
    nb = rnd.randrange(2, history // 2)
    for i in range(1, nb + 1):
        r = ctl_as("pcts-b", d, "run", "sh", "-c", "exit %d" % i)
        assert r.returncode == 0, r.stderr
    na = 2 * history + rnd.randrange(1, 5)
    for _ in range(na):
        assert ctl_as("pcts-a", d, "run", "true").returncode == 0

    def rows(user):
        return json.loads(ctl_as(user, d, "list", "all",
                                 json_out=True).stdout)
    wait_for(lambda: len(rows("pcts-a")) == history - nb and all(
        r["state"] == "exited" for r in rows("pcts-a")), interval=0.1,
        describe=lambda: repr(rows("pcts-a")))
    assert sorted(r["exit_code"] for r in rows("pcts-b")) == \
        list(range(1, nb + 1))
    # The admin sees the whole history, both users in it.
    everyone = json.loads(d.ctl("list", "all", json=True).stdout)
    assert len(everyone) == history
    assert {r["owner"] for r in everyone} == {"pcts-a", "pcts-b"}


# ---- the socket ----

@needs_root
def test_socket_group_and_mode(make_daemon, users, pubdir):
    d = make_daemon(policy_ini(daemon="socket_mode = 0660\n"
                               "socket_group = pcts-users"),
                    sock=os.path.join(pubdir, "s.sock"))
    st = os.stat(d.sock)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == grp.getgrnam("pcts-users").gr_gid
    assert ctl_as("pcts-a", d, "add", "1", "1").stdout == "2\n"
    # Not in the group: the kernel says no before the daemon hears of it.
    r = ctl_as("pcts-out", d, "add", "1", "1")
    assert r.returncode == 77 and "permission denied" in r.stderr


def test_socket_group_unknown_stops_the_daemon(make_daemon):
    d = make_daemon(policy_ini(daemon="socket_group = no-such-group-zz"),
                    start=False)
    d.start(wait=False)
    assert d.proc.wait(timeout=30) == 78
    assert "socket_group = no-such-group-zz: no such group" in d.log()


def test_socket_never_more_open_than_configured(make_daemon, tmp_path):
    """strace the daemon: the socket file is created (bind) under a umask
    that leaves it owner-only, and opened up to its mode only after."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    if SANITIZED:
        pytest.skip("LeakSanitizer does not run under ptrace (strace)")
    d = make_daemon(policy_ini(daemon="socket_mode = 0666"), start=False,
                    prefix=["strace", "-f", "-e", "trace=umask,bind,chmod,"
                            "fchmodat,chown,fchownat", "-o",
                            str(tmp_path / "trace")])
    d.start()
    try:
        trace = (tmp_path / "trace").read_text()
        bind = re.search(r"umask\((0?\d+)\)\s*=.*\n(?:.*\n)*?.*bind\(\d+, "
                         r"\{sa_family=AF_UNIX, sun_path=\"%s\"" %
                         re.escape(str(d.sock)), trace)
        assert bind, trace
        assert int(bind.group(1), 8) & 0o077 == 0o077, trace
        # (On the file itself: through an O_PATH fd of it, never by a
        # path a link could be put at.)
        assert re.search(r"chmod\(\"/proc/self/fd/\d+\", 0666\)", trace[
            bind.end():]), trace
    finally:
        # Stop the daemon itself (strace follows it out), even when an
        # assertion failed: strace's own end would leave it running.
        with open("/proc/%d/task/%d/children" % (d.proc.pid,
                                                 d.proc.pid)) as f:
            os.kill(int(f.read().split()[0]), signal.SIGTERM)
    assert d.proc.wait(timeout=60) == 0


# ---- plugin files ----

def copy_plugin(dirpath, mode=0o755, dirmode=0o755):
    os.makedirs(dirpath, exist_ok=True)
    os.chmod(dirpath, dirmode)
    dst = os.path.join(dirpath, "arith.so")
    shutil.copy(PLUGINS / "arith.so", dst)
    os.chmod(dst, mode)
    return dst


def plugin_refused(make_daemon, path, why):
    """Load only the copy at PATH: refused, and procctld does not start
    without it (exit 78), saying why; -t says the same."""
    top = tempfile.mkdtemp(prefix="procctl-refused-")
    try:
        ini = os.path.join(top, "p.ini")
        with open(ini, "w") as f:
            f.write("[daemon]\nplugin_dir = %s\n\n[plugin:arith]\npath = "
                    "%s\n" % (PLUGINS, path))
        for args in (["-t"], ["-s", os.path.join(top, "s.sock")]):
            r = subprocess.run([str(PROCCTLD), "-c", ini] + args,
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 78, (args, r.returncode, r.stderr)
            assert re.search(why, r.stderr), r.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_writable_plugin_refused(make_daemon, tmp_path):
    p = copy_plugin(str(tmp_path / "p1"), mode=0o666)
    plugin_refused(make_daemon, p, r"plugin arith: refusing %s: it is "
                   r"writable by others \(mode 0666\)" % re.escape(p))
    p = copy_plugin(str(tmp_path / "p2"), mode=0o775)
    plugin_refused(make_daemon, p, r"it is writable by its group")


def test_plugin_in_writable_directory_refused(make_daemon, tmp_path):
    p = copy_plugin(str(tmp_path / "p3"), dirmode=0o777)
    plugin_refused(make_daemon, p, r"refusing %s: the directory %s is "
                   r"writable by others \(mode 0777\)" %
                   (re.escape(p), re.escape(str(tmp_path / "p3"))))
    # Through a symlink, the real file is what is judged.
    link = str(tmp_path / "link.so")
    os.symlink(p, link)
    plugin_refused(make_daemon, link, r"refusing %s" % re.escape(p))


@needs_root
def test_foreign_owned_plugin_refused(make_daemon, users, tmp_path):
    p = copy_plugin(str(tmp_path / "p4"))
    os.chown(p, users["pcts-a"], -1)
    plugin_refused(make_daemon, p, r"refusing %s: it is owned by uid %d, "
                   r"not by root or the daemon's user" %
                   (re.escape(p), users["pcts-a"]))
    os.chown(p, 0, -1)
    os.chown(os.path.dirname(p), users["pcts-a"], -1)
    plugin_refused(make_daemon, p, r"the directory %s is owned by uid %d" %
                   (re.escape(os.path.dirname(p)), users["pcts-a"]))


def test_safe_plugin_copy_loads(make_daemon, tmp_path):
    p = copy_plugin(str(tmp_path / "ok"))
    d = make_daemon("[daemon]\nplugin_dir = %s\n\n[plugin:arith]\npath = "
                    "%s\n" % (PLUGINS, p))
    assert d.ctl("add", "1", "1").stdout == "2\n"


# ---- metrics ----

@needs_root
def test_metrics_processes_by_user_and_state(make_daemon, users, pubdir):
    """`metrics` counts each user's processes, and only admins get it
    (test_metrics.py has the rest; here for the accounts: their fixture
    holds a machine-wide lock, and a second module using it would take
    it twice)."""
    from test_metrics import metrics, value, wait_value
    d = make_daemon(policy_ini("admin_users = root\n"),
                    sock=os.path.join(pubdir, "s.sock"))
    assert d.ctl("run", "sleep", "100").returncode == 0
    assert ctl_as("pcts-a", d, "run", "sleep", "100").returncode == 0
    assert ctl_as("pcts-a", d, "run", "sleep", "100").returncode == 0
    assert ctl_as("pcts-b", d, "run", "true").returncode == 0
    fams = metrics(d)
    assert value(fams, "procctl_processes", user="root",
                 state="running") == 1
    assert value(fams, "procctl_processes", user="pcts-a",
                 state="running") == 2
    wait_value(d, lambda v: v == 1, "procctl_processes", user="pcts-b",
               state="exited")
    # Shows every user's counts: admins only, with the usual refusal.
    r = ctl_as("pcts-a", d, "metrics")
    assert r.returncode == 77, r
    assert "'metrics' is for admins only" in r.stderr
    assert "procctl_" not in r.stdout


# ---- TLS ----

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
            "-out", name + ".crt", "-days", "7", "-subj", "/CN=" + name,
            cwd=d)


def make_cert(d, ca, name, cn, san=None):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + cn, cwd=d)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san if san else
                "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt",
            "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".crt",
            "-days", "7", "-extfile", ext, cwd=d)
    os.chmod(os.path.join(d, name + ".key"), 0o600)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    d = str(tmp_path_factory.mktemp("pki"))
    make_ca(d, "ca")
    make_ca(d, "evil")
    make_cert(d, "ca", "server", "localhost",
              "DNS:localhost,IP:127.0.0.1,IP:::1")
    make_cert(d, "ca", "root", "root")
    make_cert(d, "ca", "nobody", "nobody")
    make_cert(d, "ca", "ghost", "no-such-user-zz")
    make_cert(d, "evil", "evilroot", "root")
    make_cert(d, "ca", "twocn", "nobody/CN=root")   # two CNs
    return d


def tls_ini(pki, tmp_path, listen, client_ca=False, secrets=True):
    text = default_ini() + "\n[tcp]\n"
    for l in listen:
        text += "listen = %s\n" % l
    text += "tls_cert = %s/server.crt\ntls_key = %s/server.key\n" % (pki,
                                                                    pki)
    if client_ca:
        text += "tls_client_ca = %s/ca.crt\n" % pki
    if secrets:
        s = tmp_path / "secrets"
        s.write_text(hashed("root:rootpw\n"))
        os.chmod(s, 0o600)
        text += "secrets = %s\n" % s
    return text


@pytest.fixture
def tls_daemon(make_daemon, pki, tmp_path):
    return tcp_daemon(make_daemon, lambda ports: tls_ini(
        pki, tmp_path, ["127.0.0.1:%d" % ports[0]]))


def tls_ctl(port, *args, pki, secret="rootpw", extra=(), host="127.0.0.1"):
    env = dict(os.environ)
    env.pop("PROCCTL_SECRET", None)
    if secret is not None:
        env["PROCCTL_SECRET"] = secret
    cmd = [str(PROCCTL), "-H", "tls://root@%s:%d" % (host, port),
           "--cacert", "%s/ca.crt" % pki] + list(extra)
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                          text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL, start_new_session=True)


def test_tls_with_password_auth(tls_daemon, pki):
    r = tls_ctl(tls_daemon.port, "add", "1", "2", pki=pki)
    assert r.returncode == 0 and r.stdout == "3\n", r.stderr
    # TLS 1.3 when both sides have it.
    tls_daemon.wait_log(r"client \d+ from 127\.0\.0\.1:\d+: TLSv1\.3")
    # redis-cli, unmodified.
    r = subprocess.run(["redis-cli", "--tls", "--cacert", pki + "/ca.crt",
                        "-h", "127.0.0.1", "-p", str(tls_daemon.port),
                        "--user", "root", "--pass", "rootpw", "mult", "6",
                        "7"], capture_output=True, text=True, timeout=60)
    assert r.stdout == "42\n", r.stderr
    # Wrong secret inside TLS: the same generic error, logged.
    r = tls_ctl(tls_daemon.port, "add", "1", "2", pki=pki, secret="nope")
    assert r.returncode == 77 and "invalid username or secret" in r.stderr
    tls_daemon.wait_log(r"authentication failure from 127\.0\.0\.1:\d+ "
                        r"for user 'root' \(1 on this connection, 1 since")
    assert "nope" not in tls_daemon.log()


def test_tls_brute_force_is_delayed_and_counted(tls_daemon, pki):
    ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
    raw = socket.create_connection(("127.0.0.1", tls_daemon.port),
                                   timeout=30)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    f = s.makefile("rb")
    n = 4       # fewer than lock a name (5): the last AUTH is checked
    s.sendall(b"".join(b"AUTH root guess%d\r\n" % i for i in range(n)) +
              b"AUTH root rootpw\r\nADD 2 2\r\n")
    for _ in range(n):
        assert f.readline() == b"-AUTH invalid username or secret\r\n"
    assert f.readline() == b"+OK\r\n"
    assert f.readline() == b":4\r\n"
    s.close()
    tls_daemon.wait_log(r"\(%d on this connection, %d since start\)" %
                        (n, n))


def test_tls_untrusted_server_and_wrong_name(tls_daemon, pki):
    env_ca = ["--cacert", pki + "/evil.crt"]
    r = subprocess.run([str(PROCCTL), "-H", "tls://root@127.0.0.1:%d" %
                        tls_daemon.port] + env_ca + ["add", "1", "1"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PROCCTL_SECRET="rootpw"))
    assert r.returncode == 77
    assert "the server's certificate is not trusted" in r.stderr
    # The certificate names localhost, 127.0.0.1 and ::1: a client that
    # dialled another name refuses it.
    ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
    raw = socket.create_connection(("127.0.0.1", tls_daemon.port))
    with pytest.raises(ssl.SSLCertVerificationError):
        ctx.wrap_socket(raw, server_hostname="not-this-host.example")
    raw.close()


def test_plaintext_to_a_tls_port(tls_daemon, pki):
    s = socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=20)
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert b"PONG" not in data and b"+" not in data[:1]
    tls_daemon.wait_log(r"TLS handshake failed: .*\(not TLS: a plaintext "
                        r"client\?\)")
    r = subprocess.run([str(PROCCTL), "-H", "tcp://root@127.0.0.1:%d" %
                        tls_daemon.port, "add", "1", "1"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PROCCTL_SECRET="rootpw"))
    assert r.returncode == 69 and "try --tls" in r.stderr
    assert tls_daemon.proc.poll() is None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_old_protocol_refused(tls_daemon, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki + "/ca.crt")
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, AttributeError):
        pytest.skip("this Python cannot speak TLS 1.1")
    raw = socket.create_connection(("127.0.0.1", tls_daemon.port))
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        ctx.wrap_socket(raw, server_hostname="localhost")
    raw.close()
    # TLS 1.2 still works.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki + "/ca.crt")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    s = ctx.wrap_socket(socket.create_connection(
        ("127.0.0.1", tls_daemon.port)), server_hostname="localhost")
    assert s.version() == "TLSv1.2"
    s.sendall(b"AUTH root rootpw\r\n")
    assert s.recv(100) == b"+OK\r\n"
    s.close()


@pytest.fixture
def mtls_daemon(make_daemon, pki, tmp_path):
    return tcp_daemon(make_daemon, lambda ports: tls_ini(
        pki, tmp_path, ["127.0.0.1:%d" % ports[0]], client_ca=True,
        secrets=False))


def test_mutual_tls(mtls_daemon, pki):
    cert = ["--cert", pki + "/root.crt", "--key", pki + "/root.key"]
    r = tls_ctl(mtls_daemon.port, "add", "1", "2", pki=pki, secret=None,
                extra=cert)
    assert r.returncode == 0 and r.stdout == "3\n", r.stderr
    mtls_daemon.wait_log(r"authenticated as root by certificate")
    r = subprocess.run(["redis-cli", "--tls", "--cacert", pki + "/ca.crt",
                        "--cert", pki + "/root.crt", "--key",
                        pki + "/root.key", "-h", "127.0.0.1", "-p",
                        str(mtls_daemon.port), "add", "2", "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout == "4\n", r.stderr
    # No client certificate: the handshake fails, and procctl says why.
    r = tls_ctl(mtls_daemon.port, "add", "1", "2", pki=pki)
    assert r.returncode == 69
    assert "certificate required" in r.stderr, r.stderr
    mtls_daemon.wait_log(r"TLS handshake failed: peer did not return a "
                         r"certificate")
    # A certificate from another CA, even for CN=root.
    r = tls_ctl(mtls_daemon.port, "add", "1", "2", pki=pki, secret=None,
                extra=["--cert", pki + "/evilroot.crt", "--key",
                       pki + "/evilroot.key"])
    assert r.returncode != 0
    mtls_daemon.wait_log(r"TLS handshake failed: certificate verify failed")
    # A good certificate for a name with no local account.
    r = tls_ctl(mtls_daemon.port, "add", "1", "2", pki=pki, secret=None,
                extra=["--cert", pki + "/ghost.crt", "--key",
                       pki + "/ghost.key"])
    assert r.returncode == 77
    assert "may not use this procctld" in r.stderr
    # Two CNs (nobody, then root): neither; it used to be read by its
    # first.
    r = tls_ctl(mtls_daemon.port, "add", "1", "2", pki=pki, secret=None,
                extra=["--cert", pki + "/twocn.crt", "--key",
                       pki + "/twocn.key"])
    assert r.returncode == 77 and r.stdout == "", (r.stdout, r.stderr)
    assert mtls_daemon.proc.poll() is None


@needs_root
def test_mutual_tls_user_owns_processes(mtls_daemon, pki):
    cert = ["--cert", pki + "/nobody.crt", "--key", pki + "/nobody.key"]
    r = tls_ctl(mtls_daemon.port, "run", "sleep", "100", pki=pki,
                secret=None, extra=cert)
    pid = int(r.stdout)
    assert status(pid).split("Uid:")[1].split()[0] == "65534"
    r = tls_ctl(mtls_daemon.port, "close", pid, pki=pki, secret=None,
                extra=cert)
    assert r.returncode == 0


def test_tls_allows_non_loopback(make_daemon, pki, tmp_path):
    d = tcp_daemon(make_daemon, lambda ports: tls_ini(
        pki, tmp_path, ["0.0.0.0:%d" % ports[0]]),
        [(socket.AF_INET, "0.0.0.0")])
    port = d.port
    r = tls_ctl(port, "add", "1", "1", pki=pki)
    assert r.stdout == "2\n", r.stderr
    assert "listening on tcp 0.0.0.0:%d" % port in d.log()


def test_sighup_reloads_tls_and_secrets_through_the_monitor(make_daemon, pki,
                                                           tmp_path):
    """The server runs as nobody and cannot read a root-only key or
    secrets file (0600, in a 0700 directory): on SIGHUP the monitor reads
    them for it, and new connections get the new certificate and the new
    secrets; a key others may read is refused by the monitor."""
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    for n in ("server.crt", "server.key"):
        shutil.copy(os.path.join(pki, n), keys / n)
    os.chmod(keys / "server.key", 0o600)
    secrets = keys / "secrets"
    secrets.write_text(hashed("root:rootpw\n"))
    os.chmod(secrets, 0o600)

    def ini(ports):
        return (default_ini() + "\n[tcp]\nlisten = 127.0.0.1:%d\n"
                "tls_cert = %s/server.crt\ntls_key = %s/server.key\n"
                "secrets = %s\n" % (ports[0], keys, keys, secrets))
    d = tcp_daemon(make_daemon, ini)
    with open("/proc/%d/status" % d.server_pid) as f:
        uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
    assert int(uid) == pwd.getpwnam("nobody").pw_uid
    assert tls_ctl(d.port, "add", "1", "2", pki=pki).stdout == "3\n"
    # A certificate from another CA, and a new secret.
    make_cert(pki, "evil", "reload", "localhost",
              "DNS:localhost,IP:127.0.0.1")
    shutil.copy(os.path.join(pki, "reload.crt"), keys / "server.crt")
    shutil.copy(os.path.join(pki, "reload.key"), keys / "server.key")
    secrets.write_text(hashed("root:newpw\n"))
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"TLS certificate and key reloaded")
    d.wait_log(r"policy and secrets reloaded")
    r = tls_ctl(d.port, "add", "1", "2", pki=pki, secret="newpw")
    assert r.returncode == 77 and "not trusted" in r.stderr, r.stderr
    env_ca = ["--cacert", pki + "/evil.crt"]
    r = tls_ctl(d.port, "add", "1", "2", pki=pki, secret="newpw",
                extra=env_ca)
    assert r.stdout == "3\n", r.stderr
    r = tls_ctl(d.port, "add", "1", "2", pki=pki, secret="rootpw",
                extra=env_ca)
    assert r.returncode != 0, "the old secret still works"
    # A key others can read: refused by the monitor, nothing changes.
    os.chmod(keys / "server.key", 0o644)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_log(r"tls_key .*lets others read it")
    d.wait_log(r"could not be read \(the monitor's log says why\)")
    r = tls_ctl(d.port, "add", "2", "2", pki=pki, secret="newpw",
                extra=env_ca)
    assert r.stdout == "4\n", r.stderr


def test_tls_key_readable_by_others_refused(make_daemon, pki, tmp_path):
    key = tmp_path / "open.key"
    shutil.copy(pki + "/server.key", key)
    os.chmod(key, 0o644)
    ini = tls_ini(pki, tmp_path, ["127.0.0.1:%d" % free_port()]).replace(
        "tls_key = %s/server.key" % pki, "tls_key = %s" % key)
    d = make_daemon(ini, start=False)
    d.start(wait=False)
    assert d.proc.wait(timeout=30) == 78
    assert "tls_key %s: mode 0644 lets others read it; chmod 600 it" % key \
        in d.log()


def test_tls_key_readable_by_its_group_or_a_link_refused(make_daemon, pki,
                                                         tmp_path):
    """The key is judged by the file opened (O_NOFOLLOW, fstat): no group
    or other permission bits, no symbolic link."""
    key = tmp_path / "group.key"
    shutil.copy(pki + "/server.key", key)
    os.chmod(key, 0o640)
    link = tmp_path / "link.key"
    os.symlink(pki + "/server.key", link)
    for path, why in ((key, "mode 0640 lets its group read it"),
                      (link, "a symbolic link")):
        ini = tls_ini(pki, tmp_path, ["127.0.0.1:%d" % free_port()]).replace(
            "tls_key = %s/server.key" % pki, "tls_key = %s" % path)
        d = make_daemon(ini, start=False)
        d.start(wait=False)
        assert d.proc.wait(timeout=30) == 78
        assert "tls_key %s: %s" % (path, why) in d.log(), d.log()


def test_tls12_offers_only_forward_secret_aead(tls_daemon, pki):
    """TLS 1.2 without forward secrecy (static RSA) or with CBC is
    refused; ECDHE with AES-GCM or ChaCha20-Poly1305 is taken."""
    def handshake(ciphers):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki + "/ca.crt")
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        with socket.create_connection(("127.0.0.1", tls_daemon.port),
                                      timeout=20) as s:
            try:
                with ctx.wrap_socket(s, server_hostname="localhost") as t:
                    return t.cipher()[0]
            except ssl.SSLError:
                return None
    assert handshake("ECDHE-ECDSA-AES128-GCM-SHA256") == \
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert handshake("ECDHE-ECDSA-CHACHA20-POLY1305") == \
        "ECDHE-ECDSA-CHACHA20-POLY1305"
    for weak in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                 "AES128-GCM-SHA256", "AES128-SHA"):
        assert handshake(weak) is None, weak
    assert tls_daemon.proc.poll() is None


def test_tls_bad_files_refused(make_daemon, pki, tmp_path):
    ini = tls_ini(pki, tmp_path, ["127.0.0.1:%d" % free_port()])
    for old, new, why in [
            ("server.crt", "nothing.crt", r"tls_cert .*nothing\.crt: "),
            ("tls_key = %s/server.key" % pki, "tls_key = %s/root.key" % pki,
             r"tls_key .*root\.key: (key values mismatch|does not match)"),
    ]:
        d = make_daemon(ini.replace(old, new), start=False)
        d.start(wait=False)
        assert d.proc.wait(timeout=30) == 78
        assert re.search(why, d.log()), d.log()


def test_shell_connects_with_tls(tls_daemon, pki, tmux):
    t = tmux("%s -s %s" % (PROCCTL, tls_daemon.sock),
             env={"PROCCTL_SECRET": "rootpw"})
    t.wait(r"procctl\S*> *$")
    t.type("connect --tls --cacert %s/ca.crt 127.0.0.1 %d" %
           (pki, tls_daemon.port))
    t.wait(r"connected to 127\.0\.0\.1:%d as root" % tls_daemon.port)
    t.type("add 40 2")
    t.wait(r"^42$")
    # Events come through TLS as well.
    pid = int(tls_ctl(tls_daemon.port, "run", "sh", "-c", "exit 5",
                      pki=pki).stdout)
    t.wait(r"\[event\] %d sh exited with status 5" % pid)


@needs_root
def test_plugin_load_is_for_admins(make_daemon, users, pubdir):
    d = make_daemon(policy_ini("admin_users = pcts-adm").replace(
        "[plugin:arith]\npath = arith.so\n", ""),
        sock=os.path.join(pubdir, "s.sock"))
    d.ini.write_text(d.ini.read_text() + "\n[plugin:arith]\npath = arith.so"
                     "\n")
    r = ctl_as("pcts-a", d, "plugin", "load", "arith")
    assert r.returncode == 77 and "plugin load is for admins only" in \
        r.stderr
    assert ctl_as("pcts-a", d, "plugin", "list").returncode == 0
    r = ctl_as("pcts-adm", d, "plugin", "load", "arith")
    assert r.returncode == 0, r.stderr
    d.wait_log(r"plugin arith loaded at the request of pcts-adm")
    assert ctl_as("pcts-a", d, "mult", "6", "7").stdout == "42\n"


def test_program_owner_users_and_groups(make_daemon, users, pubdir):
    """A program's owner (users, @groups) may control it besides admins;
    to anyone else it does not exist."""
    d = make_daemon(policy_ini() + """
[program:web]
command = sleep 3301
start_secs = 0.1
owner = pcts-a @pcts-extra
""", sock=os.path.join(pubdir, "s.sock"))
    wait_for(lambda: '"RUNNING"' in d.ctl("status", "web",
                                          json=True).stdout)
    r = ctl_as("pcts-a", d, "stop", "web")
    assert r.returncode == 0, r.stderr
    r = ctl_as("pcts-out", d, "start", "web")      # by @pcts-extra
    assert r.returncode == 0, r.stderr
    r = ctl_as("pcts-b", d, "stop", "web")
    assert r.returncode != 0 and "no program named 'web'" in r.stderr
    r = ctl_as("pcts-b", d, "status", json_out=True)
    assert json.loads(r.stdout) == []
    assert '"RUNNING"' in d.ctl("status", "web", json=True).stdout


def test_socket_directory_must_be_safe(tmp_path, users):
    """The socket's directory: root's or procctld's user's, and writable
    by nobody else unless sticky (as /tmp); else a refusal naming it."""
    def start(d):
        r = subprocess.run([str(PROCCTLD), "-c", str(ini), "-s",
                            os.path.join(d, "s.sock")], capture_output=True,
                           text=True, timeout=60)
        return r.returncode, r.stderr
    ini = tmp_path / "p.ini"
    ini.write_text(default_ini())
    top = tempfile.mkdtemp(prefix="procctl-sockdir-")
    try:
        open_dir = os.path.join(top, "open")
        os.mkdir(open_dir)
        os.chmod(open_dir, 0o777)
        code, err = start(open_dir)
        assert code != 0 and "socket directory %s is writable by others " \
            "(mode 0777) and not sticky" % open_dir in err, err
        group_dir = os.path.join(top, "group")
        os.mkdir(group_dir)
        os.chmod(group_dir, 0o775)
        code, err = start(group_dir)
        assert code != 0 and "writable by its group" in err, err
        theirs = os.path.join(top, "theirs")
        os.mkdir(theirs, 0o755)
        os.chown(theirs, users["pcts-a"], -1)
        code, err = start(theirs)
        assert code != 0 and "socket directory %s is owned by uid %d" % (
            theirs, users["pcts-a"]) in err, err
        for d in (open_dir, group_dir, theirs):
            assert not os.path.exists(os.path.join(d, "s.sock"))
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_sticky_directory_is_fine_and_only_our_socket_is_removed(
        make_daemon, tmp_path):
    """In a sticky directory (as /tmp) the daemon starts; at exit it
    removes the socket only if it is still the one it made."""
    top = tempfile.mkdtemp(prefix="procctl-sticky-")
    try:
        os.chmod(top, 0o1777)
        sock = os.path.join(top, "s.sock")
        d = make_daemon(default_ini(), sock=sock)
        assert d.ctl("ping").stdout == "PONG\n"
        # Someone else's file now where the socket was.
        os.unlink(sock)
        with open(sock, "w") as f:
            f.write("not ours\n")
        d.stop()
        with open(sock) as f:
            assert f.read() == "not ours\n"
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---- hostile peers (with test_hostile_conn.py) ----

@needs_root
def test_one_user_cannot_take_every_slot(make_daemon, users, pubdir):
    """A local user holding all of their max_clients_per_user leaves the
    others their slots: the next connection of theirs reads -LIMIT, and
    another user's `procctl list` works."""
    k = random.randint(3, 9)
    d = make_daemon(policy_ini(daemon="socket_mode = 0666\nmax_clients = "
                               "%d\nmax_clients_per_user = %d" % (k + 1, k)),
                    sock=os.path.join(pubdir, "s.sock"))
    uid, gid = users["pcts-a"], grp.getgrnam("pcts-users").gr_gid
    held = [d.raw_as(uid, gid) for _ in range(k)]
    for c in held:
        assert c.call("ping") == "PONG"
    over = d.raw_as(uid, gid)
    r = over.read()
    assert isinstance(r, Error) and r.code == "LIMIT", r
    assert "too many connections of user 'pcts-a' (max_clients_per_user " \
        "is %d)" % k in r.text
    assert over.closed()
    r = ctl_as("pcts-b", d, "list")
    assert r.returncode == 0, r.stderr
    d.wait_log(r"refused uid %d \(pcts-a\) local pid \d+: "
               r"max_clients_per_user \(%d\) reached" % (uid, k))
    # A slot given back is a slot again.
    held.pop().close()
    wait_for(lambda: ctl_as("pcts-a", d, "list").returncode == 0)


def test_tls_handshake_not_finished_closed_after_auth_timeout(
        make_daemon, pki, tmp_path):
    d = tcp_daemon(make_daemon, lambda ports: tls_ini(
        pki, tmp_path, ["127.0.0.1:%d" % ports[0]]) + "auth_timeout = 0.5\n")
    s = socket.create_connection(("127.0.0.1", d.port), timeout=20)
    assert eof(s)
    d.wait_log(r"client \d+ from 127\.0\.0\.1:\d+: no TLS handshake within "
               r"auth_timeout \(500 ms\); closing")
    r = tls_ctl(d.port, "add", "1", "2", pki=pki)
    assert r.stdout == "3\n", r.stderr


def test_sighup_makes_a_deleted_socket_again(make_daemon):
    """Someone deletes the socket under a running daemon: SIGHUP makes it
    again (with its mode), open connections go on, and the new one is
    removed at the end as ours."""
    d = make_daemon(default_ini(extra_daemon="socket_mode = 0660"))
    c = d.raw()
    assert c.call("PING") == "PONG"
    os.unlink(d.sock)
    assert not connectable(d.sock)
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: connectable(d.sock))
    assert stat.S_IMODE(os.stat(d.sock).st_mode) == 0o660
    assert d.ctl("ping").stdout == "PONG\n"
    assert c.call("PING") == "PONG"             # the old connection
    d.wait_log(r"socket .* had been deleted: made again")
    d.stop()
    assert not os.path.exists(d.sock)
