# Postern's bash prompt hook, in one self-contained string that bash.sh
# and zsh/zshrc put first in PROMPT_COMMAND and export: an interactive
# bash started from the session (bash, exec bash -i, su without -) reads
# PROMPT_COMMAND from its environment, so it marks its prompts too, with
# no file to read. It defines __postern_prompt on first use, then prints
# the previous command's end with its exit code (not at the shell's first
# prompt: no command of its own has run, and the command that started it
# is still running) and wraps PS1 in prompt and input marks, once: a PS1
# that zsh wrapped (and exported) loses zsh's marks first. $? stays what
# the command left for whatever PROMPT_COMMAND runs next.
__postern_bash_hook='__postern_ec=$?;declare -F __postern_prompt >/dev/null||__postern_prompt(){ if [ -n "${__postern_started-}" ];then printf "\033]133;D;%s\007" "$__postern_ec";fi;__postern_started=1;case "$PS1" in *"\[\033]133;B\007\]"*);;*)printf -v __postern_z "%%{\033]133;A\007%%}";PS1=${PS1//"$__postern_z"/};printf -v __postern_z "%%{\033]133;B\007%%}";PS1=${PS1//"$__postern_z"/};PS1="\[\033]133;A\007\]$PS1\[\033]133;B\007\]";;esac;return "$__postern_ec";};__postern_prompt'
