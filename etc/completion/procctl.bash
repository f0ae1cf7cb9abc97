# bash completion for procctl.  What to offer comes from the daemon
# (`procctl --complete WORD...`, the interactive shell's own completer):
# every plugin's commands, their options and keywords, process names,
# pids and program names.  Nothing here names a daemon command.
# Installed by `make install` in share/bash-completion/completions/.

_procctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]} i=1 w line
	local -a glob=(-t 3) words=() out=()

	[[ $prog == */* && -x $prog ]] || prog=procctl
	# procctl's own options before the command go with every question.
	while (( i < COMP_CWORD )); do
		w=${COMP_WORDS[i]}
		case $w in
		-s|-H|-u|-t|--socket|--host|--user|--timeout|--cacert|--cert|--key)
			glob+=("$w" "${COMP_WORDS[i+1]}"); (( i += 2 ));;
		-?*)	glob+=("$w"); (( i++ ));;
		*)	break;;
		esac
	done
	if (( i > COMP_CWORD )); then		# the value of one of them
		COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	if (( i == COMP_CWORD )) && [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "-s --socket -H --host -u --user -j
		    --json -t --timeout --tls --cacert --cert --key -h --help
		    -V --version" -- "$cur"))
		return
	fi
	words=("${COMP_WORDS[@]:i:COMP_CWORD-i}" "$cur")
	while IFS= read -r line; do
		out+=("$line")
	done < <("$prog" "${glob[@]}" --complete -- "${words[@]}" 2>/dev/null)
	COMPREPLY=()
	for line in "${out[@]}"; do
		if [[ $line == " files" ]]; then
			COMPREPLY+=($(compgen -f -- "$cur"))
		else
			COMPREPLY+=("$line")
		fi
	done
}
complete -o default -F _procctl procctl
