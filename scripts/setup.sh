#!/usr/bin/env bash
# The lab's one set-up step (npm run setup): the npm dependencies, the build, and the system
# programs the lab starts (redis-server, PostgreSQL, nginx, haproxy). `npm run setup -- --browser` adds a
# Chromium for the live view's browser tests (students do not need it: the dashboard opens in
# their own browser). `-- --containers` adds podman, runc, podman-compose and debootstrap, and
# builds the container image's base and the compose stack's PostgreSQL, Redis and nginx images
# on a machine that cannot pull them (scripts/containers/). Safe to run twice: it installs only what is missing and says what it
# did. CI runs exactly this, with --browser (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

# A Node older than package.json's engines: one line, before npm ci fails in its own words.
if ! command -v node >/dev/null 2>&1; then
  say "Node.js is not installed: install Node 22 or 24 (https://nodejs.org/, or nvm install 24), then run npm run setup again"
  exit 1
fi
node scripts/require-node.js || exit 1

browser=no
containers=no
for arg in "$@"; do
  case "$arg" in
    --browser) browser=yes ;;
    --containers) containers=yes ;;
    *) say "unknown option $arg (the options are --browser and --containers)"; exit 2 ;;
  esac
done

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

# PostgreSQL (phase 2's users and files): Debian keeps its server programs off PATH, in
# /usr/lib/postgresql/<version>/bin; Homebrew's postgresql@16 in its opt folder.
postgres_found=""
for candidate in /usr/lib/postgresql/*/bin/postgres /opt/homebrew/opt/postgresql@16/bin/postgres /usr/local/opt/postgresql@16/bin/postgres; do
  if [[ -x $candidate ]]; then postgres_found=$candidate; fi
done
if [[ -z $postgres_found ]] && command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/postgres" ]]; then
  postgres_found="$(pg_config --bindir)/postgres"
fi
if [[ -n $postgres_found ]]; then
  say "postgres: found ($postgres_found)"
else
  missing_apt+=("postgresql")
  missing_brew+=("postgresql@16")
fi

# --browser: a Chromium that playwright-core drives in the tests (no browser download, which fails offline).
if [[ $browser == yes ]]; then
  found=""
  for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then found=$(command -v "$candidate"); break; fi
  done
  if [[ -z $found && -x "/Applications/Chromium.app/Contents/MacOS/Chromium" ]]; then found="/Applications/Chromium.app/Contents/MacOS/Chromium"; fi
  if [[ -n $found ]]; then
    say "chromium: found ($found)"
  elif [[ "$(uname -s)" == "Darwin" ]]; then
    say "no Chromium: install it with: brew install --cask chromium (the browser tests are skipped until then)"
  else
    missing_apt+=("chromium")
    missing_brew+=("chromium")
  fi
fi

# --containers: podman (with runc, which runs where crun cannot), podman-compose, and
# debootstrap for the local base image. On macOS: Podman Desktop or Docker Desktop instead.
missing_containers=()
if [[ $containers == yes && "$(uname -s)" == "Linux" ]]; then
  for program in podman runc podman-compose debootstrap; do
    if command -v "$program" >/dev/null 2>&1 || [[ -x "/usr/sbin/$program" ]]; then
      say "$program: found ($(command -v "$program" 2>/dev/null || echo "/usr/sbin/$program"))"
    else
      missing_containers+=("$program")
    fi
  done
elif [[ $containers == yes ]]; then
  say "containers: install Podman Desktop (podman) or Docker Desktop; the Dockerfile's default base image is pulled from Docker Hub"
fi

# The container programs (with the packages they recommend: podman's networks need
# netavark and its plugins), then the image's base (Linux, as root).
build_base() {
  [[ $containers == yes && "$(uname -s)" == "Linux" ]] || return 0
  if [[ $(id -u) -ne 0 ]]; then
    if ((${#missing_containers[@]} > 0)); then say "missing: ${missing_containers[*]}. As root, run: apt-get install -y ${missing_containers[*]}"; fi
    say "containers: the local base image needs root (sudo bash scripts/containers/base-image.sh), or a machine that can pull node:24-bookworm-slim"
    return 0
  fi
  if ((${#missing_containers[@]} > 0)); then
    if ! command -v apt-get >/dev/null 2>&1; then
      say "missing: ${missing_containers[*]}. Install them with your system's package manager."
      return 0
    fi
    say "installing with apt-get: ${missing_containers[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_containers[@]}"
  fi
  bash scripts/containers/base-image.sh
  bash scripts/containers/service-images.sh
}

if ((${#missing_apt[@]} == 0)); then
  say "every system program is installed"
  build_base
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
  say "missing: ${missing_apt[*]}. Install them with your system's package manager (the lab needs redis-server and PostgreSQL; nginx and haproxy are optional)."
fi
build_base
