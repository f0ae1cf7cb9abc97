#!/usr/bin/env python3
"""procctl benchmarks, as ratios to the machine's own limits measured in
the same run (see bench/README.md).  Not a test: it reports, it does not
fail a build; the targets are printed beside the figures."""
import argparse
import csv
import io
import os
import pwd
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (name, redis-benchmark arguments, newlines per request for raw_server,
#  target ratio)
THROUGHPUT = [
    ("ping, pipelined 16, 50 clients",
     ["-t", "ping_inline", "-P", "16", "-c", "50", "-n", "400000"], 1, 0.5),
    ("add 1 2, pipelined 16, 50 clients",
     ["-P", "16", "-c", "50", "-n", "300000", "add", "1", "2"], 7, 0.25),
    ("add 1 2, one at a time, 50 clients",
     ["-c", "50", "-n", "100000", "add", "1", "2"], 7, 0.5),
]
IDLE_CLIENTS = 10000
SPAWNS = 1000


def wait_socket(path, proc):
    for _ in range(500):
        if proc.poll() is not None:
            sys.exit("server exited: %s" % proc.returncode)
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.close()
                return
            except OSError:
                pass
        time.sleep(0.01)
    sys.exit("server did not start on %s" % path)


def start(cmd, path):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_socket(path, p)
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def rps(sock, args):
    r = subprocess.run(["redis-benchmark", "-s", sock, "--csv"] + args,
                       capture_output=True, text=True, timeout=600)
    rows = list(csv.reader(io.StringIO(r.stdout)))
    return float(rows[-1][1])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_cost(pid, path):
    """KiB of server memory per idle connected client."""
    before = rss_kib(pid)
    socks = []
    for _ in range(IDLE_CLIENTS):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        socks.append(s)
    # One round trip on the last ones: the server has accepted them all.
    socks[-1].sendall(b"PING\r\n")
    socks[-1].recv(100)
    time.sleep(0.5)
    after = rss_kib(pid)
    for s in socks:
        s.close()
    return (after - before) / IDLE_CLIENTS


def spawn_rate_procctld(path):
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    c.sendall(b"HELLO 3\r\nSUBSCRIBE\r\n")
    t0 = time.monotonic()
    c.sendall(b"run /bin/true\r\n" * SPAWNS)
    data = b""
    while data.count(b"$6\r\nexited\r\n") < SPAWNS:
        data += c.recv(1 << 20)
    t = time.monotonic() - t0
    c.close()
    return SPAWNS / t


def rps_tcp(port, user, args, cacert=None):
    conn = ["-h", "127.0.0.1", "-p", str(port), "--user", user, "-a",
            "benchpw"] + (["--tls", "--cacert", cacert] if cacert else [])
    # redis-benchmark counts error replies as replies: make sure the
    # command really works before timing it.
    r = subprocess.run(["redis-cli"] + conn + args[-3:], capture_output=True,
                       text=True)
    if r.stdout.strip() != "3":
        sys.exit("add 1 2 over %s failed: %s%s" % (
            "TLS" if cacert else "TCP", r.stdout, r.stderr))
    r = subprocess.run(["redis-benchmark", "--csv"] + conn + args,
                       capture_output=True, text=True, check=True)
    rows = list(csv.reader(io.StringIO(r.stdout)))
    return float(rows[1][1])


def tls_vs_plain(build, tmp):
    """The same daemon over plaintext TCP and over TLS, the same client:
    what TLS costs, as a ratio.  Needs the openssl command."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    "key.pem", "-out", "cert.pem", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   cwd=tmp, check=True, capture_output=True)
    os.chmod(os.path.join(tmp, "key.pem"), 0o600)
    user = pwd.getpwuid(os.geteuid()).pw_name
    secrets = os.path.join(tmp, "secrets")
    with open(secrets, "w") as f:
        f.write("%s:benchpw\n" % user)
    os.chmod(secrets, 0o600)
    out = {}
    for kind in ("plain", "tls"):
        port = free_port()
        ini = os.path.join(tmp, kind + ".ini")
        with open(ini, "w") as f:
            f.write("[daemon]\nplugin_dir = %s\n\n[plugin:arith]\n"
                    "path = arith.so\n\n[tcp]\nlisten = "
                    "127.0.0.1:%d\nsecrets = %s\n" % (
                        os.path.join(build, "plugins"), port, secrets))
            if kind == "tls":
                f.write("tls_cert = %s/cert.pem\ntls_key = %s/key.pem\n" %
                        (tmp, tmp))
        sock = os.path.join(tmp, kind + ".sock")
        d = start([os.path.join(build, "procctld"), "-c", ini, "-s", sock,
                   "-l", "warn"], sock)
        try:
            out[kind] = rps_tcp(port, user, ["-c", "50", "-n", "100000",
                                             "add", "1", "2"],
                                os.path.join(tmp, "cert.pem")
                                if kind == "tls" else None)
        finally:
            stop(d)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="procctl-bench-")
    for prog in ("raw_server", "raw_spawn"):
        subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", "-Wall", "-o", os.path.join(tmp, prog),
                        os.path.join(HERE, prog + ".c")], check=True)
    psock = os.path.join(tmp, "procctld.sock")
    rsock = os.path.join(tmp, "raw.sock")
    daemon = start([os.path.join(build, "procctld"), "-s", psock, "-l",
                    "warn"], psock)
    results = []
    try:
        for name, bargs, lines, target in THROUGHPUT:
            raw = start([os.path.join(tmp, "raw_server"), rsock,
                         str(lines)], rsock)
            try:
                base = rps(rsock, bargs)
            finally:
                stop(raw)
            ours = rps(psock, bargs)
            results.append((name, "%.0f/s" % ours, "%.0f/s" % base,
                            ours / base, ">=", target))
        raw = start([os.path.join(tmp, "raw_server"), rsock, "1"], rsock)
        try:
            base = idle_cost(raw.pid, rsock)
        finally:
            stop(raw)
        ours = idle_cost(daemon.pid, psock)
        results.append(("memory per idle client (%d clients)" % IDLE_CLIENTS,
                        "%.2f KiB" % ours, "%.2f KiB" % base,
                        ours - base, "<=", 4.0))
        r = subprocess.run([os.path.join(tmp, "raw_spawn"), str(SPAWNS),
                            "/bin/true"], capture_output=True, text=True)
        base = SPAWNS / float(r.stdout)
        ours = spawn_rate_procctld(psock)
        results.append(("run /bin/true until its exit event",
                        "%.0f/s" % ours, "%.0f/s" % base, ours / base,
                        ">=", 0.5))
        tcp = tls_vs_plain(build, tmp)
        results.append(("add 1 2 over TLS vs plain TCP, 50 clients",
                        "%.0f/s" % tcp["tls"], "%.0f/s" % tcp["plain"],
                        tcp["tls"] / tcp["plain"], ">=", 0.5))
    finally:
        stop(daemon)
    print("%-42s %14s %14s %10s  %s" % ("benchmark", "procctld",
                                         "raw limit", "ratio", "target"))
    ok = True
    for name, ours, base, ratio, op, target in results:
        met = ratio >= target if op == ">=" else ratio <= target
        ok = ok and met
        unit = " KiB over" if op == "<=" else ""
        print("%-42s %14s %14s %10.3f%s  %s %s %s" % (
            name, ours, base, ratio, unit, op, target,
            "met" if met else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
