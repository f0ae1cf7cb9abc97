"""One user cannot grow the daemon without bound (issue 12): a command
line is kept up to 4 KiB, the history is shared fairly and capped per
user, `list` pages and never passes max_output, and an arithmetic request
is measured before it is computed.  Real binaries; the numbers vary from
run to run, as a hostile client's would.  The two-user history case is in
test_security.py (it needs accounts)."""
import json
import random

import pytest

from conftest import SANITIZED, Error, default_ini, wait_for

CUT = "\u2026"          # what ends a command that was cut
COMMAND_MAX = 4096


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def huge_argv(rnd):
    """About 1 MiB of arguments (each within the kernel's 128 KiB for one
    string), under the daemon's max_request."""
    size = rnd.randrange(40000, 60000)
    count = (1000 * 1000) // size
    return ["%c" % rnd.choice("abcxyz") * size for _ in range(count)]


def run_huge(c, rnd):
    """A sleeping process with a huge argv, through a raw connection."""
    pid = c.call("run", "/bin/sh", "-c", "sleep 300", "sh", *huge_argv(rnd))
    assert isinstance(pid, int), pid
    return pid


def field(row, key):
    """KEY of a RESP2 record (a flat list of key, value)."""
    return row[row.index(key.encode()) + 1]


def test_huge_argv_leave_the_server_small(make_daemon):
    """40 runs with 1 MiB of arguments each took the server from 6.6 MB
    to 46 MB: every command line was kept whole.  Now each is kept up to
    4 KiB, ending with "..." and flagged."""
    rnd = random.Random()
    n = rnd.randrange(30, 50)
    d = make_daemon()
    c = d.raw()
    c.call("run", "/bin/true")              # the loaded server, warm
    wait_for(lambda: c.call("list") == [])
    before = rss_kib(d.server_pid)
    pids = [run_huge(c, rnd) for _ in range(n)]
    after = rss_kib(d.server_pid)
    if not SANITIZED:       # ASan's quarantine keeps what is freed
        assert after - before < 16 * 1024, (n, before, after)
    rows = [r for r in json.loads(d.ctl("list", "details", json=True).stdout)
            if r["state"] == "running"]
    assert sorted(r["pid"] for r in rows) == sorted(pids)
    for r in rows:
        assert r["command"].startswith("/bin/sh -c sleep 300 sh ")
        assert r["command"].endswith(CUT)
        assert len(r["command"].encode()) <= COMMAND_MAX
        assert r["command_truncated"] is True
    # A short one is whole, and says so.
    pid = c.call("run", "/bin/sh", "-c", "sleep 300", "short")
    row = [r for r in json.loads(d.ctl("list", "details", json=True).stdout)
           if r["pid"] == pid][0]
    assert row["command"] == "/bin/sh -c sleep 300 short"
    assert row["command_truncated"] is False
    assert d.ctl("close", "sh", "all").returncode == 0


def test_a_command_is_cut_between_characters(daemon):
    """The cut never leaves half of a UTF-8 character before the mark."""
    c = daemon.raw()
    for pad in range(4):
        word = "x" * (4090 - len("/bin/sh -c sleep 300 ") + pad) + "\u00e9" * 8
        pid = c.call("run", "/bin/sh", "-c", "sleep 300", word)
        row = [r for r in c.call("list", "details")
               if field(r, "pid") == pid][0]
        cmd = field(row, "command")
        assert len(cmd) <= COMMAND_MAX and cmd.endswith(CUT.encode())
        cmd.decode("utf-8")                 # whole characters only
    assert daemon.ctl("close", "sh", "all").returncode == 0


def test_admin_list_details_stays_within_max_output(make_daemon):
    """An admin's `list details` of many big records used to pass
    max_output, and the daemon closed the admin's connection.  Now the
    page stops before that, and the rest come with --offset."""
    rnd = random.Random()
    max_output = rnd.randrange(48, 96) * 1024
    d = make_daemon(default_ini(extra_daemon="max_output = %d" % max_output))
    c = d.raw()
    n = max_output // 4096 + rnd.randrange(8, 20)   # more than fits
    pids = {run_huge(c, rnd) for _ in range(n)}
    rows = c.call("list", "details")         # root: the admin, sees all
    assert isinstance(rows, list), rows
    assert 0 < len(rows) < n
    assert c.call("PING") == "PONG"          # still connected
    d.wait_log(r"list for root: %d record\(s\) in this page" % len(rows))
    # Its records are the newest, oldest first; the next pages have the
    # others, each within max_output too.
    seen, offset = [], 0
    while True:
        page = c.call("list", "details", "--offset", offset)
        assert isinstance(page, list), page
        if not page:
            break
        seen = [field(r, "pid") for r in page] + seen
        offset += len(page)
    assert set(seen) == pids and len(seen) == n
    assert [field(r, "pid") for r in rows] == seen[-len(rows):]
    # procctl shows it too, and exits 0.
    r = d.ctl("list", "details")
    assert r.returncode == 0, r.stderr
    assert d.ctl("close", "sh", "all").returncode == 0


def ended(d, n):
    """Wait until D lists N processes, none of them running."""
    def done():
        rows = json.loads(d.ctl("list", "all", "--limit", "0",
                                json=True).stdout)
        return len(rows) == n and all(r["state"] != "running"
                                      for r in rows) and rows
    return wait_for(done)


def test_list_all_pages_newest_first(make_daemon):
    """`list all` gives the newest list_page records (oldest first, as
    before); --limit and --offset page through the rest."""
    rnd = random.Random()
    page = rnd.randrange(3, 8)
    d = make_daemon(default_ini(proc="list_page = %d" % page))
    total = 2 * page + rnd.randrange(1, 6)
    c = d.raw()
    # Exit codes 1..total say the order they were started in.
    for i in range(1, total + 1):
        assert isinstance(c.call("run", "sh", "-c", "exit %d" % i), int)
    ended(d, total)
    codes = lambda rows: [r["exit_code"] for r in rows]
    rows = json.loads(d.ctl("list", "all", json=True).stdout)
    assert codes(rows) == list(range(total - page + 1, total + 1))
    k = rnd.randrange(1, page)
    rows = json.loads(d.ctl("list", "all", "--limit", k, json=True).stdout)
    assert codes(rows) == list(range(total - k + 1, total + 1))
    rows = json.loads(d.ctl("list", "--offset", k, "-n", 2, "details",
                            "all", json=True).stdout)
    assert codes(rows) == [total - k - 1, total - k]
    rows = json.loads(d.ctl("list", "all", "--offset", total - 1,
                            json=True).stdout)
    assert codes(rows) == [1]
    assert json.loads(d.ctl("list", "all", "--offset", total,
                            json=True).stdout) == []
    rows = json.loads(d.ctl("list", "all", "--limit", "0", json=True).stdout)
    assert codes(rows) == list(range(1, total + 1))
    # Running ones only: not paged unless asked.
    assert json.loads(d.ctl("list", json=True).stdout) == []
    for bad in ("x", "-1", "1e3", ""):
        r = d.ctl("list", "all", "--limit", bad)
        assert r.returncode == 2, (bad, r.stderr)
    r = c.call("list", "all", "--offset", "lots")
    assert r.code == "ARGS" and "--offset lots: expected a count" in r.text


def test_history_per_user_caps_one_user(make_daemon):
    """history_per_user: one user keeps at most that many ended
    processes, their own newest, whatever `history` allows."""
    rnd = random.Random()
    cap = rnd.randrange(2, 6)
    d = make_daemon(default_ini(proc="history = 50\nhistory_per_user = %d"
                                % cap))
    c = d.raw()
    total = cap + rnd.randrange(2, 6)
    for i in range(1, total + 1):
        # One at a time: the history keeps the last to end.
        assert isinstance(c.call("run", "sh", "-c", "exit %d" % i), int)
        wait_for(lambda: c.call("list") == [])
    rows = ended(d, cap)
    assert [r["exit_code"] for r in rows] == list(range(total - cap + 1,
                                                        total + 1))


def big_add(rnd):
    """An add like the one that held every client for 12 to 23 s: a few
    thousand operands of about 100,000 digits each."""
    n = rnd.randrange(2000, 6000)
    return ["add"] + ["%de%d" % (rnd.randrange(1, 10),
                                 rnd.randrange(90000, 100000))
                      for _ in range(n)]


def test_add_over_max_work_is_refused_at_once(daemon):
    """Sent first, the big add is answered -LIMIT without being computed;
    another client's small add, sent just after it, is answered too."""
    rnd = random.Random()
    big, small = daemon.raw(), daemon.raw()
    big.send(big.command(*big_add(rnd)))
    small.send(small.command("add", 1, 2))
    assert small.read() == 3
    r = big.read()
    assert isinstance(r, Error), "computed: %.40r..." % r
    assert r.code == "LIMIT" and "max_work is 10000000" in r.text, r
    # The connection goes on.
    assert big.call("add", "1e5", "1") == 100001


def test_max_work_bounds_each_operation(make_daemon):
    """max_work is operands x digits: at each operand, the digits of the
    running result it makes (add, sub: the widest so far; mult, div: all
    of them so far).  Just within it a request is computed; one step past
    it, refused with -LIMIT (exit 75) before anything is built."""
    rnd = random.Random()
    work = rnd.randrange(20000, 60000)
    d = make_daemon(default_ini(arith="max_work = %d" % work))
    c = d.raw()
    digits = rnd.randrange(500, 2000)
    num = "9" * digits
    # add, sub: each operand's step is its digits + 2.
    n = work // (digits + 2)
    assert isinstance(c.call("add", *[num] * n), bytes)
    r = c.call("sub", *[num] * (n + 1))
    assert r.code == "LIMIT" and "max_work is %d" % work in r.text, r
    # mult, div: the i-th step is i * (digits + 1).
    k = 1
    while (digits + 1) * (k + 1) * (k + 2) // 2 <= work:
        k += 1
    assert isinstance(c.call("mult", *[num] * k), bytes)
    for op in ("mult", "div"):
        r = c.call(op, *[num] * (k + 1))
        assert r.code == "LIMIT", (op, r)
    r = d.ctl("mult", *[num] * (k + 1))
    assert r.returncode == 75 and "max_work" in r.stderr
    # What an exponent expands to counts, not the text's length.
    r = c.call("add", "1e%d" % (work // 2), "1e%d" % (work // 2))
    assert r.code == "LIMIT", r


def test_operands_are_measured_before_they_are_built(make_daemon):
    """1e99999 is 100,000 digits once built: with max_digits smaller, it
    is out of range before it is built, as a long text is."""
    rnd = random.Random()
    max_digits = rnd.randrange(100, 1000)
    d = make_daemon(default_ini(arith="max_digits = %d" % max_digits))
    c = d.raw()
    for op in ("add", "sub", "mult", "div"):
        r = c.call(op, "1e99999", "1")
        assert r.code == "ERR" and "out of range: '1e99999' (operand 1" \
            in r.text, (op, r)
        r = c.call(op, "1", "3e-%d" % (2 * max_digits))
        assert r.code == "ERR" and "(operand 2" in r.text, (op, r)
    # Within it, as before.
    assert c.call("add", "1e%d" % (max_digits - 1), "1") == \
        ("1" + "0" * (max_digits - 2) + "1").encode()


@pytest.mark.parametrize("args,want", [
    # Errors come in the order of the operands, before any work: a
    # division by zero before a later operand that is not a number.
    (("div", "1", "0", "x"), "DIV0 division by zero (operand 2)"),
    (("div", "1", "0.000e5", "2"), "DIV0 division by zero (operand 2)"),
    (("add", "1", "x", "1e999999999"), "ERR not a number: 'x' (operand 2)"),
    (("mult", "2", "1e999999999", "x"), "ERR number out of range"),
])
def test_arith_errors_in_operand_order(daemon, args, want):
    r = daemon.raw().call(*args)
    assert r.text.startswith(want), r.text
