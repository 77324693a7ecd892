# Postern's shell integration for bash. The agent starts interactive shells
# as `bash --rcfile THIS -i`: this file first does what a login shell does,
# then marks prompts and commands with OSC 133 (semantic prompt) sequences,
# which the recorder turns into command events and removes from transcripts:
#   ESC ] 133;A BEL  prompt start      ESC ] 133;B BEL  input start
#   ESC ] 133;C BEL  command start     ESC ] 133;D;N BEL  command end, exit N

# A login shell's startup files, as bash -l reads them.
if [ -r /etc/profile ]; then . /etc/profile; fi
if [ -r ~/.bash_profile ]; then . ~/.bash_profile
elif [ -r ~/.bash_login ]; then . ~/.bash_login
elif [ -r ~/.profile ]; then . ~/.profile
fi

if [ -z "$__postern_integration" ]; then
  __postern_integration=1

  __postern_prompt() {
    local ec=$?
    printf '\033]133;D;%s\007' "$ec"
    # Startup files or a prompt framework may set PS1 at any time: mark
    # whatever it is now.
    case "$PS1" in
      *'133;B'*) ;;
      *) PS1='\[\033]133;A\007\]'"$PS1"'\[\033]133;B\007\]' ;;
    esac
    return $ec
  }

  # Bash 5.1 runs every element of a PROMPT_COMMAND array; before, only a
  # string. Ours runs first, so it sees the command's exit status.
  if [ "${BASH_VERSINFO[0]}" -gt 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 5 ] && [ "${BASH_VERSINFO[1]}" -ge 1 ]; }; then
    PROMPT_COMMAND=(__postern_prompt "${PROMPT_COMMAND[@]}")
  else
    PROMPT_COMMAND="__postern_prompt${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
  fi
  # Printed after a command line is read, before it runs (bash 4.4+).
  PS0='\e]133;C\a'"${PS0-}"
fi
