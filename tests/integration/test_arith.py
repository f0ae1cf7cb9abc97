"""Arithmetic through the real daemon: procctl and redis-cli, as tables."""
import pytest

# (command, expected procctl output)
CASES = [
    ("add 1 2", "3"),
    ("add 1 2 3 4 5", "15"),
    ("add 0.1 0.2", "0.3"),
    ("add 9223372036854775807 1", "9223372036854775808"),
    ("add -5 2.5", "-2.5"),
    ("sub 10 1 2", "7"),
    ("sub 0.3 0.1", "0.2"),
    ("mult 2 3 4", "24"),
    ("mult 0.1 0.1", "0.01"),
    ("mult 123456789123456789 987654321987654321",
     "121932631356500531347203169112635269"),
    ("div 10 4", "2.5"),
    ("div 1 3", "0.33333333333333333333"),
    ("div 2 3", "0.66666666666666666667"),
    ("div 100 10 5", "2"),
    ("add 1e3 1", "1001"),
    ("ADD 1 1", "2"),
]

# (command, exit code, text expected in the message)
ERRORS = [
    ("div 1 0", 1, "division by zero (operand 2)"),
    ("div 1 2 0.0", 1, "division by zero (operand 3)"),
    ("add 1 x", 1, "not a number: 'x' (operand 2)"),
    ("add x 1", 1, "not a number: 'x' (operand 1)"),
    ("add 1e999999999 1", 1, "number out of range: '1e999999999' (operand 1"),
    ("add", 2, "at least 2 <number> needed; usage: add <number>"),
    ("mult 5", 2, "at least 2 <number> needed; usage: mult <number>"),
    ("add 1 inf", 1, "not a number: 'inf'"),
]


@pytest.mark.parametrize("cmd,want", CASES)
def test_arith_procctl(daemon, cmd, want):
    r = daemon.ctl(*cmd.split())
    assert r.returncode == 0, r.stderr
    assert r.stdout == want + "\n"


@pytest.mark.parametrize("cmd,code,msg", ERRORS)
def test_arith_errors(daemon, cmd, code, msg):
    r = daemon.ctl(*cmd.split())
    assert r.returncode == code
    assert msg in r.stderr
    assert r.stdout == ""


def test_arith_json(daemon):
    assert daemon.ctl("add", "1", "2", json=True).stdout == "3\n"
    assert daemon.ctl("add", "0.1", "0.2", json=True).stdout == "0.3\n"
    # Integers past 64 bits are digit strings: exact in every JSON parser.
    assert daemon.ctl("add", "9223372036854775807", "1",
                      json=True).stdout == '"9223372036854775808"\n'


def test_arith_redis_cli(daemon):
    assert daemon.redis("add", "1", "2").stdout == "3\n"
    assert daemon.redis("add", "0.1", "0.2").stdout == "0.3\n"
    assert daemon.redis("div", "1", "0").stdout.startswith(
        "DIV0 division by zero")
    # RESP3 through redis-cli: doubles are typed, big integers still show.
    assert daemon.redis("-3", "add", "0.1", "0.2").stdout == "0.3\n"
    r = daemon.redis("-3", "add", "9223372036854775807", "1")
    assert r.returncode == 0 and r.stdout == "9223372036854775808\n"


def test_arith_raw_types(daemon):
    c = daemon.raw()
    assert c.call("add", "1", "2") == 3
    assert c.call("add", "0.5", "0.25") == b"0.75"   # RESP2: bulk text
    c.call("HELLO", "3")
    assert c.call("add", "0.5", "0.25") == "0.75"    # RESP3: double
    assert c.call("add", "0.5", "0.5") == 1
    err = c.call("div", "1", "0")
    assert err.code == "DIV0"


def test_arith_bounded(daemon):
    # Results beyond max_digits are refused, not computed for ever.
    big = "9" * 60000
    r = daemon.raw().call("mult", big, big, big, big)
    assert r.code == "ERR" and "result too large" in r.text
    assert daemon.ctl("add", "1", "1").stdout == "2\n"
