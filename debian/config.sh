#!/bin/sh
# debian/config.sh STAGING: the packaged /etc/procctl/procctld.ini is the
# sample make install wrote (etc/procctld.ini, every option documented),
# with the settings of a machine-wide daemon turned on; a socket unit,
# if make install wrote one, gets the same group.  Each setting is a
# whole line of what make install wrote: if that changes so that one no
# longer matches, the build fails here rather than shipping a
# configuration that does not say what we meant.
set -eu
conf=$1/etc/procctl/procctld.ini
unit=$1/lib/systemd/system/procctld.socket

# once FILE LINE: LINE is in FILE exactly once.
once() {
	n=$(grep -cxF "$2" "$1" || true)
	if [ "$n" != 1 ]; then
		echo "debian/config.sh: '$2' is in $1 $n times, not once:" \
		    "make install's file changed; update debian/config.sh" >&2
		exit 1
	fi
}

sed -i \
    -e 's|^;\(socket = /run/procctl/procctl.sock\)$|\1|' \
    -e 's|^;\(socket_group = procctl-users\)$|\1|' \
    -e 's|^;\(server_user = procctl\)$|\1|' \
    -e 's|^;\(\[access\]\)$|\1|' \
    -e 's|^;\(allow_groups = procctl-users\)$|\1|' \
    -e 's|^;\(admin_groups = procctl-admin\)$|\1|' \
    "$conf"
for line in 'socket = /run/procctl/procctl.sock' 'socket_mode = 0660' \
    'socket_group = procctl-users' 'server_user = procctl' '[access]' \
    'allow_groups = procctl-users' 'admin_groups = procctl-admin' \
    'plugin_dir = /usr/lib/procctl/plugins'; do
	once "$conf" "$line"
done

# systemd makes an activated socket, with the unit's mode and group
# (socket_mode and socket_group do not apply to it).
if [ -f "$unit" ]; then
	sed -i 's|^#\{0,1\}SocketGroup=.*$|SocketGroup=procctl-users|' "$unit"
	once "$unit" 'SocketMode=0660'
	once "$unit" 'SocketGroup=procctl-users'
fi

# Say so at the top, where an admin opening the file looks first.
tmp=$conf.tmp
{
	cat <<'HEAD'
; The Debian package's configuration: the project's sample (below, every
; option documented) set up for the whole machine.  procctld runs as root
; (systemctl status procctld), its server as the system user procctl.
; Members of the group procctl-users may use the socket and are served:
;   adduser alice procctl-users      (then log in again)
; each sees and closes only their own processes, which run as them.
; Members of procctl-admin (in procctl-users too, to reach the socket)
; see and close everyone's.  `systemctl reload procctld` applies a
; changed [access] and programs; other changes need a restart, which
; ends every process unless live_restore = yes.
;
HEAD
	cat "$conf"
} > "$tmp"
mv "$tmp" "$conf"
