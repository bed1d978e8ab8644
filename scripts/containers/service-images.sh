#!/usr/bin/env bash
# The compose stack's other images, for a machine that cannot pull the official postgres, redis
# and nginx images: each built from Debian's package on the local base (base-image.sh), from
# phase2-production/deploy/local-images/. Built once per machine; a second run says so.
# `npm run setup -- --containers` runs it after base-image.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf 'service-images: %s\n' "$*"; }

BASE="localhost/lab-node-base:24-bookworm"
work=$(mktemp -d /tmp/lab-service-images-XXXXXX)
trap 'rm -rf "$work"' EXIT
bash scripts/containers/podman-conf.sh "$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
if ! podman image exists "$BASE"; then
  say "$BASE is missing: bash scripts/containers/base-image.sh builds it"
  exit 1
fi

for entry in "postgres localhost/lab-postgres:15" "redis localhost/lab-redis:7" "nginx localhost/lab-nginx:1.22"; do
  read -r name image <<<"$entry"
  if podman image exists "$image"; then
    say "$image is already built"
    continue
  fi
  say "building $image from Debian's package (about 20 to 40 s)"
  podman build --quiet --format docker --build-arg "BASE_IMAGE=$BASE" \
    --file "phase2-production/deploy/local-images/$name.Dockerfile" --tag "$image" \
    phase2-production/deploy/local-images >/dev/null
  say "$image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1 / 1e6}')"
done
