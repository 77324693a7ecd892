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
  . "${BASH_SOURCE[0]%/*}/hook.sh"

  # Ours runs first, so it sees the command's exit status. Exported, so
  # that a bash started from this one marks its commands too; an array
  # (bash 5.1 runs each element) cannot be exported, so it stays here.
  case "$(declare -p PROMPT_COMMAND 2>/dev/null)" in
  'declare -a'*)
    case "${PROMPT_COMMAND[*]}" in
    *__postern_prompt*) ;;
    *) PROMPT_COMMAND=("$__postern_bash_hook" "${PROMPT_COMMAND[@]}") ;;
    esac
    ;;
  *)
    case "${PROMPT_COMMAND-}" in
    *__postern_prompt*) ;;
    *) PROMPT_COMMAND="$__postern_bash_hook${PROMPT_COMMAND:+
$PROMPT_COMMAND}" ;;
    esac
    export PROMPT_COMMAND
    ;;
  esac
  unset __postern_bash_hook
  # Printed after a command line is read, before it runs (bash 4.4+).
  case "${PS0-}" in
  *'133;C'*) ;;
  *) PS0='\e]133;C\a'"${PS0-}" ;;
  esac
  export PS0

  # A zsh started from this shell reads Postern's startup files, which
  # read the user's own (see zsh/zshenv).
  if [ -n "${ZDOTDIR-}" ] && [ "$ZDOTDIR" != "${BASH_SOURCE[0]%/*}/zsh" ]; then
    export __POSTERN_USER_ZDOTDIR="$ZDOTDIR"
  fi
  export ZDOTDIR="${BASH_SOURCE[0]%/*}/zsh"
fi
