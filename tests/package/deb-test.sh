#!/usr/bin/env bash
# The Debian package, end to end, on this machine (as root; `make
# deb-test`): build procctl and procctl-dev from the tree with
# dpkg-buildpackage, install them with apt-get, start the INSTALLED
# procctld with the installed configuration (see below for systemd),
# use it as root, as a member of procctl-users, as an admin and as an
# outsider, upgrade it in place under a running process, build
# examples/hello against procctl-dev, stop it, purge both packages and
# check that nothing of them is left.
#
# It installs into this machine's /usr, so it refuses to run where
# procctl is already installed or a daemon has the system socket, and
# whatever happens it stops its daemon, purges the packages and removes
# the users it made (the procctl user and groups too, if it made them).
# Everything it builds stays in a temporary directory (in $TMPDIR), kept
# (and named) when a step fails, or with DEB_TEST_KEEP=1.  Each step
# says what it does; a failure names it.
#
# Where systemd runs, the install starts procctld.service: the test uses
# that daemon and stops it with systemctl (CI and our machines have no
# systemd running: there it starts and stops the daemon itself).
#
# The tree copied is the working tree as git sees it (tracked and new
# files, not ignored ones, so not build/), or the whole directory
# outside a git checkout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SOCK=/run/procctl/procctl.sock
CONF=/etc/procctl/procctld.ini
PROCCTL=/usr/bin/procctl
PROCCTLD=/usr/bin/procctld
MEMBER=pcdebt-member		# in procctl-users (then procctl-admin too)
OUTSIDER=pcdebt-outsider	# in neither group
DEADLINE=30			# seconds for anything we wait for

export DEBIAN_FRONTEND=noninteractive
STEP="start"
TMP=
DAEMON=			# the monitor's pid
OURS=			# we started it (else systemd did)
INSTALLED=
MADE=			# of procctl, procctl-users, procctl-admin: ours

step() {
	STEP=$1
	echo "== deb-test: $STEP"
}

die() {
	echo "deb-test: FAILED at step '$STEP': $*" >&2
	exit 1
}

# wait_for WHAT CMD...: CMD until it succeeds, for DEADLINE seconds.
wait_for() {
	local what=$1 end=$((SECONDS + DEADLINE))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || die "$what: not after ${DEADLINE}s"
		sleep 0.1
	done
}

alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# as USER CMD...: CMD as USER with USER's groups, from /, with no
# runtime directory of root's to look in.
as() {
	local u=$1
	shift
	(cd / && setpriv --reuid="$u" --regid="$u" --init-groups \
	    env -u XDG_RUNTIME_DIR HOME=/ "$@")
}

# -f: a root procctld of someone else's that started while the procctl
# user existed runs its server as that user (the daemon's default).
deluser_quiet() {
	if getent passwd "$1" >/dev/null; then userdel -f "$1" 2>/dev/null; fi
	if getent group "$1" >/dev/null; then groupdel "$1"; fi
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	# systemd's is stopped by the purge (prerm); the socket unit, if
	# the activation step started it, here.
	if [ -d /run/systemd/system ] && [ -n "$INSTALLED" ]; then
		systemctl stop procctld.socket procctld.service 2>/dev/null
	fi
	if [ -n "$OURS" ] && [ -n "$DAEMON" ] && alive "$DAEMON"; then
		echo "deb-test: cleanup: stopping procctld ($DAEMON)"
		kill -TERM "$DAEMON"
		for _ in $(seq 300); do gone "$DAEMON" && break; sleep 0.1; done
		alive "$DAEMON" && kill -KILL "$DAEMON"
	fi
	if [ -n "$INSTALLED" ] &&
	    dpkg-query -W -f='${db:Status-Status}\n' procctl procctl-dev \
	    2>/dev/null | grep -qv '^not-installed$'; then
		echo "deb-test: cleanup: purging procctl procctl-dev"
		apt-get purge -y -q procctl procctl-dev >/dev/null
	fi
	deluser_quiet "$MEMBER"
	deluser_quiet "$OUTSIDER"
	for n in $MADE; do deluser_quiet "$n"; done
	if [ "$rc" != 0 ]; then
		echo "deb-test: FAILED at step '$STEP' (exit $rc)" >&2
		if [ -n "$TMP" ]; then
			[ -s "$TMP/procctld.log" ] &&
			    tail -n 20 "$TMP/procctld.log" | sed 's/^/  procctld: /' >&2
			echo "deb-test: kept $TMP (build.log, procctld.log)" >&2
		fi
	elif [ -n "$TMP" ] && [ -z "${DEB_TEST_KEEP:-}" ]; then
		rm -rf "$TMP"
	fi
	exit "$rc"
}

step "preconditions: root, nothing of procctl installed, the socket free"
[ "$(id -u)" = 0 ] || die "run as root: it installs and purges packages"
for c in dpkg-buildpackage dh apt-get setpriv useradd pkg-config nm make \
    cc; do
	command -v "$c" >/dev/null || die "$c is missing (make deps)"
done
lockdir=/run/lock
[ -d "$lockdir" ] || lockdir=/tmp
exec 9>"$lockdir/procctl-deb-test.lock"
flock -n 9 || die "another deb-test is running"
for p in procctl procctl-dev; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ -z "$s" ] || [ "$s" = not-installed ] ||
	    die "$p is on this machine ($s): this test would purge it"
done
[ ! -e "$SOCK" ] || die "$SOCK exists: a procctld is using the system socket"
[ ! -e /etc/procctl ] || die "/etc/procctl exists: a procctl installed by hand?"
getent passwd procctl >/dev/null || MADE="procctl"
for g in procctl-users procctl-admin; do
	getent group "$g" >/dev/null || MADE="$MADE $g"
done
trap cleanup EXIT
trap 'exit 130' INT TERM
deluser_quiet "$MEMBER"
deluser_quiet "$OUTSIDER"

step "copy the tree to a temporary directory"
TMP=$(mktemp -d -t procctl-deb-test.XXXXXX)
chmod 0755 "$TMP"
SRC=$TMP/procctl
mkdir "$SRC"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
	    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	    tar --null -T - -cf -) | tar -xf - -C "$SRC"
else
	(cd "$ROOT" && tar --exclude=./build --exclude=./build-san -cf - .) |
	    tar -xf - -C "$SRC"
fi
[ -f "$SRC/debian/control" ] || die "no debian/control in the copy"

step "the build dependencies are installed (dpkg-checkbuilddeps)"
(cd "$SRC" && dpkg-checkbuilddeps) ||
    die "install the packages above (make deps)"

step "dpkg-buildpackage -us -uc -b (log: build.log)"
(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$TMP/build.log" 2>&1 || {
	tail -n 30 "$TMP/build.log" >&2
	die "dpkg-buildpackage failed"
}
DEB=$(ls "$TMP"/procctl_*.deb)
DEV=$(ls "$TMP"/procctl-dev_*.deb)
echo "built $(basename "$DEB") $(basename "$DEV")"

step "apt-get install the two packages"
INSTALLED=1
apt-get install -y -q "$DEB" "$DEV" >"$TMP/install.log" 2>&1 || {
	cat "$TMP/install.log" >&2
	die "apt-get install failed"
}
dpkg -L procctl procctl-dev | sort -u >"$TMP/files"
echo "$(wc -l <"$TMP/files") paths installed"

step "the procctl user and the groups exist"
id procctl || die "no user procctl"
[ "$(getent passwd procctl | cut -d: -f6)" = /nonexistent ] ||
    die "procctl's home is not /nonexistent"
getent group procctl-users procctl-admin ||
    die "no group procctl-users or procctl-admin"

step "the configuration is a conffile, in place, valid"
dpkg-query -W -f='${Conffiles}\n' procctl | grep -q " $CONF " ||
    die "$CONF is not a conffile"
[ -f "$CONF" ] || die "no $CONF"
[ ! -e "$CONF.sample" ] || die "a .sample was installed"
for l in 'server_user = procctl' 'socket_group = procctl-users' \
    'allow_groups = procctl-users' 'plugin_dir = /usr/lib/procctl/plugins'; do
	grep -qxF "$l" "$CONF" || die "$CONF does not say '$l'"
done
"$PROCCTLD" -t -c "$CONF" || die "procctld -t rejects $CONF"

step "the unit is enabled (deb-systemd-helper, with or without systemd)"
[ -f /lib/systemd/system/procctld.service ] || die "no procctld.service"
[ -L /etc/systemd/system/multi-user.target.wants/procctld.service ] ||
    die "procctld.service is not enabled"
# Socket activation is a choice: enabled beside the service, systemd
# would refuse it (the service already listens) and call it failed.
[ ! -e /etc/systemd/system/sockets.target.wants/procctld.socket ] ||
    die "procctld.socket is enabled"
s=/lib/systemd/system/procctld.socket
[ -f "$s" ] || die "no procctld.socket"
grep -qx SocketGroup=procctl-users "$s" ||
    die "$s: the socket's group is not procctl-users"

if [ -d /run/systemd/system ]; then
	step "systemd started procctld.service"
	wait_for "the socket $SOCK" test -S "$SOCK"
	DAEMON=$(systemctl show -p MainPID --value procctld.service)
	[ "${DAEMON:-0}" != 0 ] || die "procctld.service has no main process"
	[ "$(systemctl show -p Type --value procctld.service)" = notify ] ||
	    die "procctld.service is not Type=notify"
	systemctl show -p StatusText --value procctld.service |
	    grep -Eq '^[0-9]+ process(es)?, [0-9]+ clients?$' ||
	    die "procctld.service has no STATUS= counts"
	! systemctl is-failed -q procctld.socket ||
	    die "procctld.socket failed: $(systemctl status procctld.socket)"
else
	step "start the installed procctld with $CONF"
	"$PROCCTLD" -c "$CONF" >"$TMP/procctld.log" 2>&1 &
	DAEMON=$!
	OURS=1
	wait_for "the socket $SOCK" test -S "$SOCK"
fi
alive "$DAEMON" || die "procctld exited"
ls -l "$SOCK"
[ "$(stat -c '%a %U %G' "$SOCK")" = "660 root procctl-users" ] ||
    die "the socket is not 0660 root:procctl-users"
wait_for "a server as the procctl user" pgrep -P "$DAEMON" -u procctl

step "as root: ping, run sleep 600, list"
[ "$("$PROCCTL" ping)" = PONG ] || die "ping did not answer PONG"
ROOTPID=$("$PROCCTL" run sleep 600)
echo "sleep: pid $ROOTPID"
[ "$(stat -c %U /proc/"$ROOTPID")" = root ] || die "root's sleep is not root's"
"$PROCCTL" list | tee "$TMP/list"
grep -q "^$ROOTPID  *sleep  *root  *running" "$TMP/list" ||
    die "list does not show $ROOTPID running"

step "as $MEMBER (in procctl-users): ping, run, list its own only"
useradd -M -U -s /usr/sbin/nologin -G procctl-users "$MEMBER"
[ "$(as "$MEMBER" "$PROCCTL" ping)" = PONG ] || die "ping as $MEMBER"
USERPID=$(as "$MEMBER" "$PROCCTL" run sleep 600)
[ "$(stat -c %U /proc/"$USERPID")" = "$MEMBER" ] ||
    die "$MEMBER's sleep does not run as $MEMBER"
as "$MEMBER" "$PROCCTL" list | tee "$TMP/list"
grep -q "^$USERPID  *sleep  *$MEMBER " "$TMP/list" ||
    die "$MEMBER does not see its process"
! grep -q "^$ROOTPID " "$TMP/list" || die "$MEMBER sees root's process"

step "as $MEMBER in procctl-admin too: sees everyone's"
usermod -a -G procctl-admin "$MEMBER"
as "$MEMBER" "$PROCCTL" list >"$TMP/list"
grep -q "^$ROOTPID " "$TMP/list" || die "an admin does not see root's process"

step "as $OUTSIDER (in neither group): refused"
useradd -M -U -s /usr/sbin/nologin "$OUTSIDER"
rc=0
as "$OUTSIDER" "$PROCCTL" ping >"$TMP/out" 2>&1 || rc=$?
cat "$TMP/out"
[ "$rc" = 77 ] || die "$OUTSIDER: exit status $rc, not 77 (permission denied)"

step "upgrade (apt-get install --reinstall): re-executed, processes go on"
apt-get install -y -q --reinstall "$DEB" >"$TMP/upgrade.log" 2>&1 || {
	cat "$TMP/upgrade.log" >&2
	die "apt-get install --reinstall failed"
}
grep -q "upgraded the running procctld in place" "$TMP/upgrade.log" ||
    { cat "$TMP/upgrade.log" >&2; die "postinst did not upgrade the daemon"; }
alive "$DAEMON" || die "the monitor did not survive the upgrade"
if [ -z "$OURS" ]; then
	# RELOADING=1 while it re-executes, READY=1 from the new binary.
	wait_for "procctld.service active again after the upgrade" sh -c \
	    '[ "$(systemctl show -p ActiveState --value procctld.service)" = active ]'
	[ "$(systemctl show -p MainPID --value procctld.service)" = "$DAEMON" ] ||
	    die "systemd's main pid changed in the upgrade"
fi
wait_for "ping after the upgrade" "$PROCCTL" ping
alive "$ROOTPID" && alive "$USERPID" || die "a process ended in the upgrade"
"$PROCCTL" list all >"$TMP/list"
grep -q "^$ROOTPID  *sleep  *root  *running" "$TMP/list" ||
    die "the upgraded daemon lost $ROOTPID"

step "build examples/hello against procctl-dev (pkg-config)"
dir=$(pkg-config --variable=plugindir procctl-plugin)
[ "$dir" = /usr/lib/procctl/plugins ] || die "plugindir is $dir"
cp -r "$SRC/examples/hello" "$TMP/hello"
make -C "$TMP/hello" >/dev/null || die "examples/hello does not build"
nm -D --defined-only "$TMP/hello/hello.so" | grep -qw procctl_plugin ||
    die "hello.so does not export procctl_plugin"

step "stop procctld (SIGTERM): its processes end, the socket goes"
if [ -n "$OURS" ]; then
	kill -TERM "$DAEMON"
	wait_for "procctld to exit" gone "$DAEMON"
	wait "$DAEMON" || die "procctld exited with status $?"
else
	systemctl stop procctld.service
	wait_for "procctld to exit" gone "$DAEMON"
fi
DAEMON=
wait_for "root's sleep to end" gone "$ROOTPID"
wait_for "$MEMBER's sleep to end" gone "$USERPID"
[ ! -e "$SOCK" ] || die "$SOCK is left"

if [ -z "$OURS" ]; then
	step "socket activation: procctld.socket listens, a client starts procctld"
	systemctl start procctld.socket
	[ "$(stat -c '%a %U %G' "$SOCK")" = "660 root procctl-users" ] ||
	    die "the activated socket is not 0660 root:procctl-users"
	! systemctl is-active -q procctld.service ||
	    die "procctld.service runs before any client came"
	[ "$("$PROCCTL" ping)" = PONG ] || die "ping through the activated socket"
	systemctl is-active -q procctld.service ||
	    die "the first client did not start procctld.service"
	journalctl -u procctld.service --no-pager |
	    grep -q "passed by the service manager" ||
	    die "procctld did not take the socket systemd passed"
	[ "$("$PROCCTL" add 1 2)" = 3 ] || die "add 1 2 through the activated socket"
	DAEMON=$(systemctl show -p MainPID --value procctld.service)
	systemctl stop procctld.service procctld.socket
	wait_for "procctld to exit" gone "$DAEMON"
	DAEMON=
fi

step "apt-get purge procctl procctl-dev"
apt-get purge -y -q procctl procctl-dev >"$TMP/purge.log" 2>&1 || {
	cat "$TMP/purge.log" >&2
	die "apt-get purge failed"
}
INSTALLED=

step "nothing of either package is left"
for p in procctl procctl-dev; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ -z "$s" ] || [ "$s" = not-installed ] || die "$p is still '$s'"
done
left=0
while IFS= read -r f; do
	[ "$f" != /. ] || continue
	if dpkg -S "$f" 2>/dev/null | grep -q '^procctl\(-dev\)\?[:,]'; then
		echo "still owned: $f"; left=1
	fi
	# A directory stays if another package has it (/usr/bin...).
	if [ -e "$f" ] && { [ ! -d "$f" ] || ! dpkg -S "$f" >/dev/null 2>&1; }; then
		echo "left: $f"; left=1
	fi
done <"$TMP/files"
for f in /etc/procctl /run/procctl /usr/lib/procctl /usr/include/procctl \
    /etc/systemd/system/multi-user.target.wants/procctld.service \
    /var/lib/systemd/deb-systemd-helper-enabled/procctld.service.dsh-also; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || { echo "left: $f"; left=1; }
done
[ "$left" = 0 ] || die "files are left after the purge"

step "done"
echo "deb-test: passed"
