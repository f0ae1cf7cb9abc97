#!/bin/sh
# The packaged /etc/procctl/procctld.ini: the sample make install wrote
# (etc/procctld.ini, every option documented), with the settings of a
# machine-wide daemon turned on.  Each is a whole line of the sample: if
# the sample changes so that one no longer matches, the build fails here
# rather than shipping a configuration that does not say what we meant.
set -eu
conf=$1

sed -i \
    -e 's|^;socket = /run/procctl/procctl.sock$|socket = /run/procctl/procctl.sock|' \
    -e 's|^;socket_group = procctl-users$|socket_group = procctl-users|' \
    -e 's|^;server_user = procctl$|server_user = procctl|' \
    -e 's|^;\[access\]$|[access]|' \
    -e 's|^;allow_groups = procctl-users$|allow_groups = procctl-users|' \
    -e 's|^;admin_groups = procctl-admin$|admin_groups = procctl-admin|' \
    "$conf"

for line in 'socket = /run/procctl/procctl.sock' 'socket_mode = 0660' \
    'socket_group = procctl-users' 'server_user = procctl' '[access]' \
    'allow_groups = procctl-users' 'admin_groups = procctl-admin' \
    'plugin_dir = /usr/lib/procctl/plugins'; do
	n=$(grep -cxF "$line" "$conf" || true)
	if [ "$n" != 1 ]; then
		echo "debian/config.sh: '$line' is in $conf $n times, not once:" \
		    "the sample changed; update debian/config.sh" >&2
		exit 1
	fi
done

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
