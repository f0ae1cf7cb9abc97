"""Hostile configuration files (issue 12): what a file says is what
procctld does, or it does not start.  Over-long lines, keys given twice,
typos in a plugin's keys, a plugin that refuses its part.  Real binaries."""
import os
import stat
import subprocess

from conftest import PROCCTLD, default_ini


def check(tmp_path, text, *args):
    ini = tmp_path / "p.ini"
    ini.write_text(text)
    r = subprocess.run([str(PROCCTLD), "-c", str(ini), "-t"] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def lines_before(text, key):
    """The 1-based line number of the first line of TEXT starting with
    KEY."""
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith(key):
            return i
    raise AssertionError(key)


def test_an_over_long_line_is_an_error_at_its_own_line(tmp_path):
    """inih reads at most about 200 bytes a line; a longer comment used to
    have its tail read as a line of its own -- a live setting."""
    for pad in (197, 198, 250, 5000):
        evil = "; " + "x" * pad + "socket = %s" % (tmp_path / "evil.sock")
        text = default_ini().replace("[daemon]\n", "[daemon]\n%s\n" % evil)
        code, out = check(tmp_path, text)
        n = lines_before(text, "; xxx")
        assert code == 78, (pad, out)
        assert "p.ini:%d: line longer than 197 bytes" % n in out, out
        assert "evil.sock" not in out
    # Just within the limit: fine.
    ok = "; " + "y" * 195
    code, out = check(tmp_path, default_ini().replace(
        "[daemon]\n", "[daemon]\n%s\n" % ok))
    assert code == 0, out


def test_line_numbers_do_not_drift_after_a_long_line(tmp_path):
    text = default_ini(extra_daemon="; " + "z" * 400 + "\nmax_clients = lots")
    code, out = check(tmp_path, text)
    assert code == 78
    assert "p.ini:%d: line longer" % lines_before(text, "; zzz") in out, out
    assert "p.ini:%d:" % lines_before(text, "max_clients") in out, out


def test_a_key_given_twice_is_warned_and_the_last_is_used(tmp_path,
                                                         make_daemon):
    text = default_ini(extra_daemon="socket_mode = 0600\nsocket_mode = 0666",
                       proc="max_per_user = 5\nmax_per_user = 1")
    first = lines_before(text, "socket_mode")
    code, out = check(tmp_path, text)
    assert code == 0, out
    assert ("p.ini:%d: socket_mode is given twice in [daemon] (first on "
            "line %d): the last one is used" % (first + 1, first)) in out
    n = lines_before(text, "max_per_user")
    assert ("p.ini:%d: max_per_user is given twice in [plugin:proc] "
            "(first on line %d)" % (n + 1, n)) in out, out
    # The last is what runs: the daemon's key and the plugin's alike.
    d = make_daemon(text)
    assert stat.S_IMODE(os.stat(d.sock).st_mode) == 0o666
    assert d.ctl("run", "sleep", "3900").returncode == 0
    r = d.ctl("run", "sleep", "3901")
    assert r.returncode != 0 and "max_per_user" in r.stderr, r.stderr


def test_a_listen_list_is_not_a_duplicate(tmp_path):
    text = default_ini() + "\n[tcp]\nlisten = 127.0.0.1:1\n" \
        "listen = 127.0.0.1:2\nsecrets = /nonexistent\n"
    code, out = check(tmp_path, text)
    assert "given twice" not in out, out


def test_typos_in_a_plugins_keys_are_reported(tmp_path):
    text = default_ini(proc="max_per_usr = 1", arith="div_scal = 3")
    code, out = check(tmp_path, text)
    assert code == 0, out
    assert "p.ini:%d: unknown key 'max_per_usr' in [plugin:proc]" % \
        lines_before(text, "max_per_usr") in out, out
    assert "p.ini:%d: unknown key 'div_scal' in [plugin:arith]" % \
        lines_before(text, "div_scal") in out, out


def test_a_continued_value_is_joined(tmp_path, make_daemon):
    """An indented line after a key continues its value (as inih reads
    it): joined with a space, whatever the section."""
    text = default_ini(proc="max_per_user =\n  2")
    d = make_daemon(text)
    assert d.ctl("run", "sleep", "3902").returncode == 0
    assert d.ctl("run", "sleep", "3903").returncode == 0
    r = d.ctl("run", "sleep", "3904")
    assert r.returncode != 0 and "max_per_user" in r.stderr, r.stderr
