#!/usr/bin/env bash
# Base images for the Dockerfiles where no image registry is reachable: a minimal
# Debian root filesystem (debootstrap --variant=minbase) imported with `docker import`.
#
#   scripts/build-base-image.sh bookworm   -> myna-ivr-base:bookworm  (app, PostgreSQL, proxy)
#   scripts/build-base-image.sh sid        -> myna-ivr-base:sid       (Asterisk 22)
#
# With a registry, skip this: the Dockerfiles default to debian:bookworm-slim and
# debian:sid-slim. An existing image is kept (REBUILD=1 makes it again). Needs root,
# debootstrap and a Docker engine (scripts/docker-engine.sh). Prints the image name.
set -euo pipefail

SUITE=${1:?usage: build-base-image.sh bookworm|sid}
DOCKER=${DOCKER:-/usr/bin/docker}
IMAGE=myna-ivr-base:$SUITE

if [ "${REBUILD:-}" != 1 ] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "build-base-image: needs root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

# The Debian mirror the host already uses (as scripts/install-asterisk.sh).
MIRROR=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
  /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v -E 'security|nodesource|google|updates' \
  | head -1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)
MIRROR=${MIRROR%/}
[ -n "$MIRROR" ] || { echo "build-base-image: no Debian mirror found in /etc/apt" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/myna-ivr-base.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "build-base-image: debootstrap $SUITE from $MIRROR" >&2
debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$WORK/root" "$MIRROR" \
  >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }

R=$WORK/root
# Stable suites get their updates and security fixes too, as in the public images
# (the host's own security mirror when it has one).
if [ "$SUITE" != sid ]; then
  SECURITY=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list 2>/dev/null | grep -E 'debian-security' | head -1 \
    | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' || true)
  SECURITY=${SECURITY%/}
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    echo "deb ${SECURITY:-http://deb.debian.org/debian-security} $SUITE-security main"
  } >"$R/etc/apt/sources.list"
fi
# What the public debian:*-slim images also do: no recommends, no caches, no docs.
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$R/etc/apt/apt.conf.d/90-myna-ivr-norecommends"
# The archive here may be a frozen snapshot whose Release file has expired (sid).
printf 'Acquire::Check-Valid-Until "false";\n' >"$R/etc/apt/apt.conf.d/90-myna-ivr-snapshot"
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/usr/share/doc/* \
  "$R"/usr/share/man/* "$R"/usr/share/locale/*
# Name resolution comes from the engine at run time.
: >"$R/etc/resolv.conf"
: >"$R/etc/hostname"

tar -C "$R" --numeric-owner -c . | "$DOCKER" import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' - "$IMAGE" >/dev/null
echo "build-base-image: $IMAGE imported" >&2
echo "$IMAGE"
