# bash completion for procctl.  What to offer comes from the daemon
# (`procctl --complete WORD...`, the interactive shell's own completer):
# every plugin's commands, their options and keywords, process names,
# pids and program names.  Nothing here names a daemon command.
# Installed by `make install` in share/bash-completion/completions/.

# bash splits words at the characters of COMP_WORDBREAKS too, '=' and ':'
# among them: `--since=10m` reaches us as three words, `worker:3` (a
# numprocs program) as three.  procctl wants the words as typed: join
# again those that no space separates in the line.  Sets _procctl_w (the
# words) and _procctl_i (the index of the one at the cursor).
_procctl_words()
{
	local rest=$COMP_LINE w gap k

	_procctl_w=() _procctl_i=0
	if [[ -z $COMP_LINE ]]; then		# not from bash's Tab: as given
		_procctl_w=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
		_procctl_i=$COMP_CWORD
		return
	fi
	for (( k = 0; k <= COMP_CWORD && k < ${#COMP_WORDS[@]}; k++ )); do
		w=${COMP_WORDS[k]}
		gap=${rest%%[![:space:]]*}
		rest=${rest:${#gap}}
		if (( k > 0 && ${#gap} == 0 )); then
			_procctl_w[-1]+=$w
		else
			_procctl_w+=("$w")
		fi
		rest=${rest:${#w}}
	done
	# The cursor after a space: a new, empty word.
	(( COMP_CWORD >= ${#COMP_WORDS[@]} )) && _procctl_w+=("")
	_procctl_i=$(( ${#_procctl_w[@]} - 1 ))
}

_procctl()
{
	local _procctl_w _procctl_i
	local prog=${COMP_WORDS[0]} i=1 w line cur bcur cut
	local -a glob=(-t 3) words=() out=()

	_procctl_words
	cur=${_procctl_w[_procctl_i]}
	# What bash replaces is its own word, after the last break: offer
	# each candidate without what comes before that.
	bcur=${COMP_WORDS[COMP_CWORD]}
	[[ $bcur == "$cur" ]] || [[ $cur != *"$bcur" ]] || cut=${cur%"$bcur"}
	[[ $prog == */* && -x $prog ]] || prog=procctl
	# procctl's own options before the command go with every question.
	while (( i < _procctl_i )); do
		w=${_procctl_w[i]}
		case $w in
		-s|-H|-u|-t|--socket|--host|--user|--timeout|--cacert|--cert|--key)
			glob+=("$w" "${_procctl_w[i+1]}"); (( i += 2 ));;
		-?*)	glob+=("$w"); (( i++ ));;
		*)	break;;
		esac
	done
	if (( i > _procctl_i )); then		# the value of one of them
		COMPREPLY=($(compgen -f -- "$bcur"))
		return
	fi
	if (( i == _procctl_i )) && [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "-s --socket -H --host -u --user -j
		    --json -t --timeout --tls --cacert --cert --key -h --help
		    -V --version" -- "$cur"))
		return
	fi
	words=("${_procctl_w[@]:i:_procctl_i-i}" "$cur")
	while IFS= read -r line; do
		out+=("$line")
	done < <("$prog" "${glob[@]}" --complete -- "${words[@]}" 2>/dev/null)
	COMPREPLY=()
	for line in "${out[@]}"; do
		if [[ $line == " files" ]]; then
			COMPREPLY+=($(compgen -f -- "$bcur"))
		elif [[ -z $cut ]]; then
			COMPREPLY+=("$line")
		elif [[ $line == "$cut"* ]]; then
			COMPREPLY+=("${line#"$cut"}")
		fi
	done
}
complete -o default -F _procctl procctl
