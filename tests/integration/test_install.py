"""make install and uninstall as a packager and a user run them: every
path under DESTDIR (or PREFIX), the configuration never overwritten, the
installed daemon finding its plugins whatever was built before, uninstall
removing what install wrote; make dist and make help.

Everything is built in a BUILD of the test's own (make -C ROOT
BUILD=...), so the tree's build/ that other tests use is not touched."""
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import ROOT, Daemon

pytestmark = pytest.mark.skipif(shutil.which("make") is None,
                                reason="no make")

# Relative to PREFIX (the configuration: relative to SYSCONFDIR).
EXPECTED = {
    "bin/procctld", "bin/procctl",
    "lib/procctl/plugins/proc.so", "lib/procctl/plugins/arith.so",
    "lib/procctl/ctl/tls.so", "lib/procctl/ctl/edit.so",
    "include/procctl/plugin.h",
    "share/man/man1/procctl.1", "share/man/man8/procctld.8",
    "lib/systemd/system/procctld.service",
    "lib/systemd/system/procctld.socket",
    "lib/pkgconfig/procctl-plugin.pc",
    "share/bash-completion/completions/procctl",
    "share/zsh/site-functions/_procctl",
}


def make_env(tmp):
    """A make of our own: nothing from a make that runs the tests (make
    check's BUILD and SAN) leaks into it; cc's temporary files go to TMP."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env["TMPDIR"] = str(tmp)
    return env


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """One BUILD for the module: a change of PREFIX rebuilds only what
    names the installed directories."""
    b = tmp_path_factory.mktemp("build")
    tmp = tmp_path_factory.mktemp("cctmp")

    def make(*args, prefix="/usr/local", destdir=None, trace=None,
             check=True):
        cmd = ["make", "-C", str(ROOT), "--no-print-directory", "-j2",
               "BUILD=%s" % b, "PREFIX=%s" % prefix]
        if destdir is not None:
            cmd.append("DESTDIR=%s" % destdir)
        cmd += list(args)
        if trace is not None:
            cmd = ["strace", "-ff", "-qq", "-y", "-o", str(trace), "-e",
                   "trace=openat,open,creat,mkdir,mkdirat,rename,renameat,"
                   "renameat2,unlink,unlinkat,rmdir,chmod,fchmodat,"
                   "symlink,symlinkat,link,linkat,chdir,fchdir"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True,
                           env=make_env(tmp), timeout=600)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r
    make.dir = b
    return make


def files_under(top):
    top = Path(top)
    return {str(p.relative_to(top)) for p in top.rglob("*")
            if p.is_file() or p.is_symlink()}


WRITES = re.compile(r"O_WRONLY|O_RDWR|O_CREAT")
PATH_CALL = re.compile(
    r'^(\w+)\((?:AT_FDCWD, |\d+<([^>]*)>, )?"([^"]*)"(.*)$')


def written_paths(trace):
    """Every path a traced make changed or wrote (strace -y names the
    directory an *at() call starts from; others are relative to the
    process's directory: the tree, where make runs, until it changes)."""
    out = set()
    lines = []
    for f in Path(trace).parent.glob(Path(trace).name + ".*"):
        lines += [None] + f.read_text().splitlines()
    for line in lines:
        if line is None:        # another process (strace -ff: a file each)
            here = str(ROOT)
            continue
        m = re.match(r'^fchdir\(\d+<([^>]*)>\)\s+= 0', line)
        if m:
            here = m.group(1)
            continue
        m = re.match(r'^chdir\("([^"]*)"\)\s+= 0', line)
        if m:
            here = os.path.join(here, m.group(1))
            continue
        m = PATH_CALL.match(line)
        if not m or re.search(r"= -1 E\w+", m.group(4)):
            continue
        call, at, path, rest = m.groups()
        path = os.path.normpath(os.path.join(at or here, path))
        if call in ("open", "openat") and not WRITES.search(rest):
            continue
        paths = [path]
        if call.startswith(("rename", "link", "symlink")):
            second = re.search(r'(?:\w+<([^>]*)>, )?"([^"]*)"', rest)
            if second:
                paths.append(os.path.normpath(os.path.join(
                    second.group(1) or here, second.group(2))))
        out.update(paths)
    return out


def assert_only_under(paths, *allowed):
    stray = sorted(p for p in paths
                   if not p.startswith("/dev/") and
                   not any(p == str(a) or p.startswith(str(a) + "/")
                           for a in allowed))
    assert not stray, "written outside DESTDIR and BUILD: %s" % stray


def installed_daemon(tmp, stage_prefix, conf, plugin_dir=None):
    """The installed procctld with the installed configuration; from a
    staging tree, its plugin_dir pointed into the tree (the only change)."""
    text = Path(conf).read_text()
    if plugin_dir is not None:
        text, n = re.subn(r"(?m)^plugin_dir = .*$",
                          "plugin_dir = %s" % plugin_dir, text)
        assert n == 1
    return Daemon(tmp, ini=text,
                  binary=Path(stage_prefix) / "bin" / "procctld").start()


def ctl(bindir, d, *args):
    return subprocess.run([str(Path(bindir) / "procctl"), "-s", str(d.sock)]
                          + [str(a) for a in args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("prefix,sysconf", [
    ("/usr", "/etc"),
    ("/opt/procctl", "/opt/procctl/etc"),
])
def test_destdir(build, tmp_path, prefix, sysconf):
    stage = tmp_path / "stage"
    build("all", prefix=prefix)
    trace = tmp_path / "install.trace"
    build("install", prefix=prefix, destdir=stage, trace=trace)
    assert_only_under(written_paths(trace), stage, build.dir, tmp_path)

    root = Path(str(stage) + prefix)
    conf = Path(str(stage) + sysconf) / "procctl" / "procctld.ini"
    want = {str(root.relative_to(stage) / f) for f in EXPECTED}
    want.add(str(conf.relative_to(stage)))
    assert files_under(stage) == want

    # The paths inside name the installed places, never DESTDIR's.
    unit = (root / "lib/systemd/system/procctld.service").read_text()
    assert "ExecStart=%s/bin/procctld -c %s/procctl/procctld.ini" % (
        prefix, sysconf) in unit
    assert "@" not in unit and str(stage) not in unit
    sock = (root / "lib/systemd/system/procctld.socket").read_text()
    assert "\nListenStream=/run/procctl/procctl.sock\n" in sock
    assert "@" not in sock and str(stage) not in sock
    assert re.search(r"(?m)^plugin_dir = %s/lib/procctl/plugins$" % prefix,
                     conf.read_text())
    assert "/usr/local" not in conf.read_text().split("[plugin:proc]")[0]

    # The installed daemon finds the installed plugins.
    d = installed_daemon(tmp_path / "d", root, conf,
                         plugin_dir=root / "lib/procctl/plugins")
    try:
        r = ctl(root / "bin", d, "add", 1, 2)
        assert (r.returncode, r.stdout) == (0, "3\n"), r.stderr + d.log()
    finally:
        d.stop()

    # A second install keeps a configuration that was changed, and says
    # where the new sample went.
    conf.write_text(conf.read_text() + "\n; mine\n")
    edited = conf.read_text()
    r = build("install", prefix=prefix, destdir=stage)
    assert conf.read_text() == edited
    sample = conf.with_name("procctld.ini.sample")
    assert sample.is_file() and "; mine" not in sample.read_text()
    assert str(sample) in r.stdout
    assert files_under(stage) == want | {str(sample.relative_to(stage))}

    # Uninstall removes what install wrote, and keeps the changed file.
    build("uninstall", prefix=prefix, destdir=stage)
    assert files_under(stage) == {str(conf.relative_to(stage))}
    assert conf.read_text() == edited
    assert not (root / "lib/procctl").exists()
    assert not (root / "include/procctl").exists()


def test_prefix_after_another_build(build, tmp_path):
    """Built for one PREFIX, installed for another from the same BUILD:
    the installed procctld looks in the installed plugin directory (its
    default, with no plugin_dir anywhere), not the first build's."""
    build("all", prefix="/nonexistent/first")
    prefix = tmp_path / "prefix"
    build("install", prefix=prefix)
    conf = prefix / "etc/procctl/procctld.ini"
    assert files_under(prefix) == EXPECTED | {"etc/procctl/procctld.ini"}

    no_dir = "[plugin:proc]\npath = proc.so\n[plugin:arith]\npath = arith.so\n"
    for ini in (conf.read_text(), no_dir):
        d = Daemon(tmp_path / "d", ini=ini,
                   binary=prefix / "bin" / "procctld").start()
        try:
            r = ctl(prefix / "bin", d, "add", 1, 2)
            assert (r.returncode, r.stdout) == (0, "3\n"), r.stderr + d.log()
            assert "(2 plugins)" in d.log()
        finally:
            d.stop()
    # And says so when asked.
    (tmp_path / "bare.ini").write_text(no_dir)
    r = subprocess.run([str(prefix / "bin/procctld"), "-t", "-c",
                        str(tmp_path / "bare.ini")],
                       capture_output=True, text=True, timeout=60)
    assert "plugin directory %s/lib/procctl/plugins" % prefix in r.stdout, \
        r.stdout + r.stderr

    # An unchanged configuration goes with the rest.
    build("uninstall", prefix=prefix)
    assert files_under(prefix) == set()


def test_example_plugin_from_installed_tree(build, tmp_path):
    """examples/hello, copied out of the tree, builds with only what
    make install wrote (pkg-config finds the header and the plugin
    directory), installs itself there, and the installed daemon loads it."""
    prefix = tmp_path / "prefix"
    build("install", prefix=prefix)
    pc = prefix / "lib/pkgconfig"
    src = tmp_path / "hello"
    shutil.copytree(ROOT / "examples/hello", src)
    env = make_env(tmp_path)
    for k in ("CPATH", "C_INCLUDE_PATH", "PKG_CONFIG_LIBDIR"):
        env.pop(k, None)
    env["PKG_CONFIG_PATH"] = str(pc)
    r = subprocess.run(["pkg-config", "--variable=plugindir",
                        "procctl-plugin"], capture_output=True, text=True,
                       env=env)
    assert r.stdout.strip() == str(prefix / "lib/procctl/plugins"), r.stderr
    r = subprocess.run(["make", "-C", str(src), "install"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "-I%s/include" % prefix in r.stdout
    assert str(ROOT) not in r.stdout
    assert (prefix / "lib/procctl/plugins/hello.so").is_file()

    ini = (prefix / "etc/procctl/procctld.ini").read_text() + \
        "\n[plugin:hello]\npath = hello.so\ngreeting = hi\n"
    d = Daemon(tmp_path / "d", ini=ini,
               binary=prefix / "bin" / "procctld").start()
    try:
        assert "(3 plugins)" in d.log()
        r = ctl(prefix / "bin", d, "greet", "--loud", "bob")
        assert (r.returncode, r.stdout) == (0, "HI, BOB\n"), r.stderr
        r = ctl(prefix / "bin", d, "greet")
        assert r.returncode == 0 and r.stdout.startswith("hi, "), r.stderr
    finally:
        d.stop()

    # Without the installed tree it says what is missing.
    env["PKG_CONFIG_PATH"] = str(tmp_path / "nowhere")
    env["PKG_CONFIG_LIBDIR"] = str(tmp_path / "nowhere")
    r = subprocess.run(["make", "-C", str(src), "-B"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode != 0 and "procctl-plugin.pc not found" in r.stderr


def test_dist_builds(build, tmp_path):
    r = build("dist")
    version = re.search(r'PROCCTLD_VERSION\s+"([^"]+)"',
                        (ROOT / "daemon/procctld.h").read_text()).group(1)
    tarball = build.dir / ("procctl-%s.tar.gz" % version)
    assert tarball.is_file(), r.stdout
    with tarfile.open(tarball) as t:
        names = t.getnames()
        assert all(n.startswith("procctl-%s/" % version) or
                   n == "procctl-%s" % version for n in names)
        t.extractall(tmp_path, filter="data") if hasattr(
            tarfile, "data_filter") else t.extractall(tmp_path)
    src = tmp_path / ("procctl-%s" % version)
    assert (src / "Makefile").is_file()
    out = tmp_path / "dist-build"
    r = subprocess.run(["make", "-C", str(src), "-j2", "BUILD=%s" % out],
                       capture_output=True, text=True, timeout=600,
                       env=make_env(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("procctld", "procctl", "plugins/proc.so", "plugins/arith.so"):
        assert (out / f).is_file()


def test_help_lists_targets(build):
    r = build("help")
    lines = r.stdout.splitlines()
    for target in ("all", "test", "check", "run", "install", "uninstall",
                   "dist", "help", "deps", "clean"):
        assert any(re.match(r"  %s\s+\S" % target, l) for l in lines), \
            r.stdout
