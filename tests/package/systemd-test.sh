#!/usr/bin/env bash
# The Debian package under a real systemd (as root; `make
# deb-test-systemd`): this machine's own system is booted in a container
# (systemd-nspawn -b) whose root is an overlay over / (writes go to a
# temporary directory, the machine is not changed), and deb-test.sh runs
# inside it.  There the install enables and starts procctld.service
# (Type=notify: `systemctl start` returns once procctld said READY=1),
# and the test uses, upgrades, stops and purges the daemon systemd
# runs; the two units, their sandbox and the socket group are systemd's
# to apply, not ours to imitate.
#
# Where no container can be booted (no systemd-nspawn, no overlayfs, not
# root), it says why and exits 0 with "skipped": deb-test.sh has then
# tested the package without systemd.  A boot that starts but whose test
# fails, or that does not finish, fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIMIT=600			# seconds for the boot, the test, the halt
TMP=
MNT=

skip() {
	echo "systemd-test: skipped: $*"
	exit 0
}

cleanup() {
	if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
		umount "$MNT" || umount -l "$MNT"
	fi
	if [ -n "$TMP" ] && [ -z "${SYSTEMD_TEST_KEEP:-}" ]; then
		rm -rf "$TMP"
	elif [ -n "$TMP" ]; then
		echo "systemd-test: kept $TMP"
	fi
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip "needs root"
command -v systemd-nspawn >/dev/null || skip "no systemd-nspawn (systemd-container)"
command -v setfattr >/dev/null || skip "no setfattr (attr)"

# The overlay's upper layer must be on a filesystem with trusted xattrs:
# /var/tmp (on /), not /tmp (often a tmpfs of its own, which is fine too,
# but /var/tmp is where a large build can go).
TMP=$(mktemp -d /var/tmp/procctl-systemd-test.XXXXXX)
mkdir -p "$TMP/upper/dev" "$TMP/work" "$TMP/root" "$TMP/out"
MNT=$TMP/root
# The container gets a /dev of its own: the host's, under the overlay,
# is hidden (an opaque directory) or nspawn refuses a populated /dev.
setfattr -n trusted.overlay.opaque -v y "$TMP/upper/dev" ||
    skip "cannot set trusted xattrs under /var/tmp"
mount -t overlay overlay \
    -o "lowerdir=/,upperdir=$TMP/upper,workdir=$TMP/work" "$MNT" ||
    { MNT=; skip "cannot mount an overlay of /"; }

# Inside: one service, after everything else, that runs deb-test.sh and
# powers the container off whatever happened.  policy-rc.d (images for
# containers often forbid starting services from packages) would keep
# the install from starting procctld: not in this container.
cat > "$MNT/etc/systemd/system/procctl-systemd-test.service" <<'EOF'
[Unit]
Description=procctl's package test under systemd
After=multi-user.target

[Service]
Type=oneshot
Environment=HOME=/root TMPDIR=/var/tmp
ExecStart=/bin/sh -c 'rm -f /usr/sbin/policy-rc.d; \
    git config --global --add safe.directory /src; \
    systemctl is-system-running; \
    bash /src/tests/package/deb-test.sh > /out/log 2>&1; \
    echo $? > /out/rc'
ExecStopPost=/bin/systemctl --no-block poweroff
EOF
mkdir -p "$MNT/etc/systemd/system/default.target.wants"
ln -sf /etc/systemd/system/procctl-systemd-test.service \
    "$MNT/etc/systemd/system/default.target.wants/"

echo "systemd-test: booting this machine's system in a container"
rc=0
timeout "$LIMIT" systemd-nspawn -q -D "$MNT" -M "procctl-test-$$" \
    --register=no --keep-unit --bind="$TMP/out":/out \
    --bind-ro="$ROOT":/src -b > "$TMP/boot.log" 2>&1 || rc=$?
if [ ! -e "$TMP/out/rc" ] && [ ! -e "$TMP/out/log" ]; then
	# The test never ran: did systemd come up at all?
	if ! grep -q "Reached target" "$TMP/boot.log"; then
		tail -20 "$TMP/boot.log" | sed 's/^/systemd-test: boot: /'
		skip "systemd could not be booted in a container here"
	fi
	tail -40 "$TMP/boot.log" >&2
	echo "systemd-test: FAILED: systemd booted but the test did not" \
	    "run (nspawn exit $rc)" >&2
	exit 1
fi
sed 's/^/  /' "$TMP/out/log"
if [ "$(cat "$TMP/out/rc" 2>/dev/null)" != 0 ]; then
	echo "systemd-test: FAILED: deb-test.sh under systemd (exit" \
	    "$(cat "$TMP/out/rc" 2>/dev/null || echo none; true)," \
	    "nspawn $rc)" >&2
	SYSTEMD_TEST_KEEP=1
	exit 1
fi
echo "systemd-test: passed"
