#!/usr/bin/env bash
# podman's settings for this project's own runs, written to the file named by $1 and used
# through CONTAINERS_CONF (never over the machine's own containers.conf):
# - `default_ulimits = []`: podman raises each container's open-file and process limits by
#   default, which needs CAP_SYS_RESOURCE; a sandboxed machine (a CI runner, a container
#   itself) lacks it and every start fails with "setrlimit ... Operation not permitted".
# - `runtime = "runc"` where runc is installed: crun, Debian's default, refuses a machine whose
#   cgroups are in the hybrid layout ("cgroups in hybrid mode not supported"); runc runs there.
set -euo pipefail
{
  printf '[containers]\ndefault_ulimits = []\n'
  if command -v runc >/dev/null 2>&1; then printf '\n[engine]\nruntime = "runc"\n'; fi
} >"$1"
