#!/bin/sh
# Installs rch from this checkout: `npm ci` and `npm run build`, then a marked block in the shell
# startup files that puts <checkout>/shims ahead of the real cargo on PATH.
# Re-running changes nothing, and --uninstall removes exactly what an install added.
set -eu

usage() {
  cat <<'EOF'
Usage: ./install.sh [--no-build] [--uninstall]

  --no-build   skip `npm ci` and `npm run build`
  --uninstall  remove the rch blocks from the shell startup files and delete the fish file

Edits ~/.profile (created if missing), ~/.bash_profile, ~/.bashrc and ${ZDOTDIR:-~}/.zshrc when
they exist, and writes ~/.config/fish/conf.d/rch.fish when ~/.config/fish exists.
EOF
}

fail() {
  printf 'install.sh: %s\n' "$1" >&2
  exit 1
}

build=yes
action=install
for argument in "$@"; do
  case $argument in
    --no-build) build=no ;;
    --uninstall) action=uninstall ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'install.sh: unknown option %s\n' "$argument" >&2; usage >&2; exit 2 ;;
  esac
done

[ -n "${HOME-}" ] || fail 'HOME is not set, so the shell startup files cannot be found'
checkout=$(cd -P -- "$(dirname -- "$0")" && pwd)
shims=$checkout/shims
[ -x "$shims/cargo" ] || fail "$shims/cargo is missing or not executable; run install.sh from an rch checkout"

# Follows lib/config/paths.ts, which ignores a relative XDG_CONFIG_HOME as the XDG base directory spec requires.
case ${XDG_CONFIG_HOME-} in /*) config_home=$XDG_CONFIG_HOME ;; *) config_home=$HOME/.config ;; esac
fish_file=$config_home/fish/conf.d/rch.fish

start_marker='# >>> rch >>>'
end_marker='# <<< rch <<<'
created_line='# install.sh created this file, so install.sh --uninstall deletes it if nothing else is left.'
newline='
'
changed=0
pending_temporary=
trap 'if [ -n "$pending_temporary" ]; then rm -f -- "$pending_temporary"; fi' EXIT

quote_sh() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

quote_fish() {
  printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"
}

# Prints the file a path names after symlinks, so a dotfile symlinked into a dotfiles repository stays a symlink.
resolve_file() {
  if [ -L "$1" ] && resolved=$(readlink -f -- "$1" 2>/dev/null) && [ -n "$resolved" ]; then
    printf '%s\n' "$resolved"
  else
    printf '%s\n' "$1"
  fi
}

# Prints the file's bytes followed by `x`, which the caller strips, because $(...) drops trailing newlines.
read_file() {
  cat -- "$1"
  printf x
}

# Writes $2 to $1 through a temporary file in the same folder and a rename, keeping the mode of an existing file.
write_file_atomic() {
  target=$(resolve_file "$1")
  mkdir -p -- "${target%/*}"
  pending_temporary=$(mktemp "${target%/*}/.${target##*/}.rch-XXXXXX")
  if [ -f "$target" ]; then
    cp -p -- "$target" "$pending_temporary"
  else
    # mktemp creates the file with mode 600, but a new startup file gets the usual 666 minus umask.
    chmod "$(printf '%o' $((0666 & ~0$(umask))))" "$pending_temporary"
  fi
  printf '%s' "$2" > "$pending_temporary"
  mv -f -- "$pending_temporary" "$target"
  pending_temporary=
}

# Prints the block for sh, bash and zsh. $1 is `created` when install.sh created the file.
# shellcheck disable=SC2016 # $PATH belongs in the block unexpanded.
render_sh_block() {
  printf '%s\n' "$start_marker"
  if [ "$1" = created ]; then printf '%s\n' "$created_line"; fi
  printf '# Puts the rch cargo shim ahead of the real cargo. Remove with: %s --uninstall\n' "$(quote_sh "$checkout/install.sh")"
  printf '# Keep this block below any line that adds ~/.cargo/bin to PATH.\n'
  printf 'case "$PATH" in\n'
  printf '  %s:*) ;;\n' "$(quote_sh "$shims")"
  printf '  *) PATH=%s":$PATH"; export PATH ;;\n' "$(quote_sh "$shims")"
  printf 'esac\n'
  printf '%s\n' "$end_marker"
}

# Splits $1 (file content) into block_before, block_text and block_after around the marked block.
# block_before loses the one newline that install added in front of the block.
split_at_block() {
  block_before=${1%%"$start_marker"*}
  rest=${1#*"$start_marker"}
  case $rest in *"$end_marker"*) ;; *) fail "$2 contains '$start_marker' but no '$end_marker'; delete the partial block by hand" ;; esac
  block_text=$start_marker${rest%%"$end_marker"*}$end_marker$newline
  block_after=${rest#*"$end_marker"}
  block_after=${block_after#"$newline"}
  block_before=${block_before%"$newline"}
}

install_sh_block() {
  file=$1
  if [ -e "$file" ]; then
    content=$(read_file "$file")
    content=${content%x}
  else
    content=
  fi

  case $content in
    *"$start_marker"*)
      split_at_block "$content" "$file"
      origin=kept
      case $block_text in *"$created_line"*) origin=created ;; esac
      block=$(render_sh_block "$origin")$newline
      [ "$block" = "$block_text" ] && return 0
      write_file_atomic "$file" "$block_before$newline$block$block_after"
      printf 'Updated the rch block in %s\n' "$file"
      ;;
    *)
      if [ -e "$file" ]; then origin=kept; else origin=created; fi
      block=$(render_sh_block "$origin")$newline
      if [ -n "$content" ]; then block=$newline$block; fi
      write_file_atomic "$file" "$content$block"
      printf 'Added the rch block to %s\n' "$file"
      ;;
  esac
  changed=$((changed + 1))
}

uninstall_sh_block() {
  file=$1
  [ -f "$file" ] || return 0
  content=$(read_file "$file")
  content=${content%x}
  case $content in *"$start_marker"*) ;; *) return 0 ;; esac

  split_at_block "$content" "$file"
  remaining=$block_before$block_after
  case $block_text in
    *"$created_line"*)
      if [ -z "$remaining" ]; then
        rm -f -- "$file"
        printf 'Deleted %s, which install.sh had created\n' "$file"
        changed=$((changed + 1))
        return 0
      fi
      ;;
  esac
  write_file_atomic "$file" "$remaining"
  printf 'Removed the rch block from %s\n' "$file"
  changed=$((changed + 1))
}

# Fish reads conf.d files in name order, so a later file can prepend ~/.cargo/bin after this one
# has run (rustup's installer can write conf.d/rustup.fish). The PATH handler moves the shims back
# to the front after every change of PATH.
render_fish_file() {
  printf '%s\n' "$start_marker"
  printf '# Puts the rch cargo shim ahead of the real cargo. Remove with: %s --uninstall\n' "$(quote_sh "$checkout/install.sh")"
  printf 'set -g __rch_shims %s\n' "$(quote_fish "$shims")"
  cat <<'EOF'
function __rch_put_shims_first --on-variable PATH
    if test "$PATH[1]" != "$__rch_shims"
        set -l others
        for folder in $PATH
            test "$folder" = "$__rch_shims"; or set others $others $folder
        end
        set -gx PATH $__rch_shims $others
    end
end
EOF
  printf '__rch_put_shims_first\n'
  printf '%s\n' "$end_marker"
}

install_fish_file() {
  [ -d "$config_home/fish" ] || return 0
  wanted=$(render_fish_file)$newline
  if [ -f "$fish_file" ]; then
    current=$(read_file "$fish_file")
    [ "${current%x}" = "$wanted" ] && return 0
  fi
  write_file_atomic "$fish_file" "$wanted"
  printf 'Wrote %s\n' "$fish_file"
  changed=$((changed + 1))
}

uninstall_fish_file() {
  [ -f "$fish_file" ] || return 0
  content=$(read_file "$fish_file")
  case $content in
    "$start_marker"*) ;;
    *) printf 'install.sh: left %s in place because it does not start with %s\n' "$fish_file" "$start_marker" >&2; return 0 ;;
  esac
  rm -f -- "$fish_file"
  printf 'Deleted %s\n' "$fish_file"
  changed=$((changed + 1))
}

zshrc=${ZDOTDIR:-$HOME}/.zshrc
# The options are parsed, so the positional parameters now list the startup files.
set -- "$HOME/.profile" "$HOME/.bash_profile" "$HOME/.bashrc" "$zshrc"

# Reject a damaged block before any file changes, so a failed run leaves every file as it was.
for file in "$@"; do
  if [ -f "$file" ]; then
    content=$(read_file "$file")
    case $content in *"$start_marker"*) split_at_block "${content%x}" "$file" ;; esac
  fi
done

if [ "$action" = uninstall ]; then
  for file in "$@"; do
    uninstall_sh_block "$file"
  done
  uninstall_fish_file
  if [ "$changed" -eq 0 ]; then printf 'No rch blocks found, nothing changed\n'; fi
  exit 0
fi

if [ "$build" = yes ]; then
  command -v npm >/dev/null 2>&1 || fail 'npm not found on PATH; install Node.js 20 or later, then run install.sh again'
  (cd -- "$checkout" && npm ci && npm run build) || fail "npm ci or npm run build failed in $checkout; fix the error above and run install.sh again"
fi

for file in "$@"; do
  if [ "$file" = "$HOME/.profile" ] || [ -e "$file" ]; then install_sh_block "$file"; fi
done
install_fish_file

if [ "$changed" -eq 0 ]; then printf 'Shell startup files already up to date, nothing changed\n'; fi
if ! command -v cargo >/dev/null 2>&1; then
  printf 'install.sh: warning: cargo not found on PATH; install Rust with rustup before building\n' >&2
fi
printf '\nNext steps:\n'
# shellcheck disable=SC2016
printf '  1. Open a new shell, or run: PATH=%s":$PATH"\n' "$(quote_sh "$shims")"
printf '  2. Add a worker to %s/rch/workers.toml, or run: %s workers add\n' "$config_home" "$(quote_sh "$checkout/bin/rch")"
