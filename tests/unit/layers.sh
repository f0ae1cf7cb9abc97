#!/bin/sh
# The daemon's calls go one way (daemon/procctld.h): no object file may
# refer to a symbol defined by a file of a higher layer, or of its own
# layer but another file.  Read from the objects themselves (nm), so it
# checks what the compiler produced, not what comments say.
#
# usage: layers.sh OBJDIR   (the build's obj/ directory)
set -eu
obj=$1
# Top to bottom; files on one line share a layer.
layers="main
promhttp
promsnap
reload
listen
conn
transport tls
session
dispatch
metrics
plugin
command
args
reply
children
output
logfile
journal
authtry
confread
config access auth loop slots stats expo
log
logq
respvalue
resp
buf paths escape rotate duration"

rank() {
	echo "$layers" | awk -v f="$1" '{ for (i = 1; i <= NF; i++)
	    if ($i == f) { print NR; exit } }'
}

defs=$(mktemp)
trap 'rm -f "$defs"' EXIT
for o in "$obj"/daemon/*.o "$obj"/common/*.o; do
	f=$(basename "$o" .o)
	nm --defined-only "$o" | awk -v f="$f" '$2 ~ /^[TDRB]$/ { print $3, f }'
done | sort > "$defs"

bad=0
for o in "$obj"/daemon/*.o "$obj"/common/*.o; do
	f=$(basename "$o" .o)
	rf=$(rank "$f")
	if [ -z "$rf" ]; then
		echo "layers: $f is in no layer (tests/unit/layers.sh)"
		bad=1
		continue
	fi
	for sym in $(nm -u "$o" | awk '{ print $2 }'); do
		g=$(awk -v s="$sym" '$1 == s { print $2; exit }' "$defs")
		[ -n "$g" ] && [ "$g" != "$f" ] || continue
		rg=$(rank "$g")
		if [ "$rg" -le "$rf" ]; then
			echo "layers: $f.c calls $sym() in $g.c, a layer at" \
			    "or above its own"
			bad=1
		fi
	done
done
[ "$bad" = 0 ] && echo "layers: every call goes down"
exit "$bad"
