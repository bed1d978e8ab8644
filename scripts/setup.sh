#!/usr/bin/env bash
# The lab's one set-up step (npm run setup): the npm dependencies, the build, and the system
# programs the lab starts (redis-server, nginx, haproxy). Safe to run twice: it installs only
# what is missing and says what it did. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

# --- npm dependencies and the build -------------------------------------------------------
say "installing npm dependencies (npm ci)"
npm ci --no-audit --no-fund
say "building (npm run build)"
npm run build --silent

# --- system programs ------------------------------------------------------------------------
# Each entry: the command the lab runs, then the Debian and Homebrew package names.
programs=("redis-server redis-server redis" "nginx nginx nginx" "haproxy haproxy haproxy")
missing_apt=()
missing_brew=()
for entry in "${programs[@]}"; do
  read -r command apt_package brew_package <<<"$entry"
  if command -v "$command" >/dev/null 2>&1 || [[ -x "/usr/sbin/$command" ]]; then
    say "$command: found ($(command -v "$command" 2>/dev/null || echo "/usr/sbin/$command"))"
  else
    missing_apt+=("$apt_package")
    missing_brew+=("$brew_package")
  fi
done

if ((${#missing_apt[@]} == 0)); then
  say "every system program is installed"
  exit 0
fi

if [[ "$(uname -s)" == "Darwin" ]]; then
  if command -v brew >/dev/null 2>&1; then
    say "installing with Homebrew: ${missing_brew[*]}"
    brew install "${missing_brew[@]}"
  else
    say "missing: ${missing_brew[*]}. Install Homebrew, then run: brew install ${missing_brew[*]}"
  fi
elif command -v apt-get >/dev/null 2>&1; then
  sudo_prefix=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo_prefix=(sudo)
    else
      say "missing: ${missing_apt[*]}. As root, run: apt-get update && apt-get install -y ${missing_apt[*]}"
      exit 0
    fi
  fi
  say "installing with apt-get: ${missing_apt[*]}"
  "${sudo_prefix[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_prefix[@]}" apt-get install -y -qq --no-install-recommends "${missing_apt[@]}"
else
  say "missing: ${missing_apt[*]}. Install them with your system's package manager (the lab needs redis-server; nginx and haproxy are optional)."
fi
