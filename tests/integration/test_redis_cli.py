"""redis-cli, unmodified, as a third-party client for every command and
every error of the core and the shipped plugins (RESP2, its default)."""
import re

import pytest

# (arguments, expected stdout: a regex matched against the whole output)
TABLE = [
    (["ping"], r"PONG"),
    (["ping", "hi"], r"hi"),
    (["echo", "x y"], r"x y"),
    (["add", "1", "2"], r"3"),
    (["sub", "10", "0.5"], r"9\.5"),
    (["mult", "2", "3", "4"], r"24"),
    (["div", "7", "2"], r"3\.5"),
    (["add", "9223372036854775807", "1"], r"9223372036854775808"),
    (["command", "count"], r"\d+"),
    # redis-cli keeps `help` for itself: COMMAND INFO is the same reply.
    (["command", "info", "close"], r"name\nclose\narity\n-2\nusage\n"
     r"close <pid\|name> \[all\]\n.*"),
    (["list"], r""),
    (["list", "all"], r""),
    (["quit"], r"OK"),
    # errors: redis-cli prints them as "CODE message"
    (["bogus"], r"ERR unknown command 'bogus'; 'help' lists the commands"),
    (["add"], r"ARGS at least 2 <number> needed; usage: add .*"),
    (["add", "1", "x"], r"ERR not a number: 'x' \(operand 2\)"),
    (["add", "1e999999999", "1"], r"ERR number out of range: .*"),
    (["div", "1", "0"], r"DIV0 division by zero \(operand 2\)"),
    (["run", "/"], r"EXEC cannot run '/': is a directory"),
    (["run", "/nonexistent"],
     r"EXEC cannot run '/nonexistent': no such file or directory"),
    (["run", "--what", "x"], r"ARGS unknown option '--what'.*"),
    (["close", "nosuch"], r"NOENT no running process named 'nosuch'"),
    (["close", "99999999"],
     r"NOENT no process with pid 99999999 is managed here"),
    (["close", "1", "all"], r"ARGS 'all' goes with a name.*"),
    (["list", "bogus"], r"ARGS 'bogus' is not one of: all, details; "
     r"usage: list \[--limit N\] \[--offset N\] \[all\] \[details\]"),
    (["hello", "4"], r"NOPROTO unsupported protocol version.*"),
    (["command", "docs"], r"ARGS 'docs' is not one of: count, info.*"),
]


@pytest.mark.parametrize("args,want", TABLE, ids=[" ".join(a) for a, _ in
                                                  TABLE])
def test_redis_cli_table(daemon, args, want):
    r = daemon.redis(*args)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(want, r.stdout.rstrip("\n"), re.S), r.stdout


def test_redis_cli_process_lifecycle(daemon):
    pid = int(daemon.redis("run", "sleep", "60").stdout)
    second = int(daemon.redis("run", "sleep", "60").stdout)
    out = daemon.redis("list").stdout.split("\n")
    assert out[:6] == ["pid", str(pid), "name", "sleep", "owner",
                       out[5]] and out[7] == "running"
    r = daemon.redis("close", "sleep")
    assert r.stdout.startswith("ERR 'sleep' is ambiguous")
    r = daemon.redis("close", str(pid))
    assert "killed" in r.stdout and "SIGTERM" in r.stdout
    r = daemon.redis("-3", "close", "sleep", "all")
    assert str(second) in r.stdout
    r = daemon.redis("-3", "list", "all", "details")
    assert "exited" in r.stdout or "killed" in r.stdout
    assert "one-shot" in r.stdout
    r = daemon.redis("close", str(pid))
    assert r.stdout.startswith("NOENT process %d (sleep) is not running"
                               % pid)


def test_redis_cli_resp3_hello(daemon):
    r = daemon.redis("-3", "hello", "3")
    assert "server procctld\n" in r.stdout and "proto 3\n" in r.stdout
    assert "usage add <number> <number> [number...]" in r.stdout
