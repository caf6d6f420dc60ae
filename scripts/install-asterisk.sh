#!/usr/bin/env bash
# Installs Asterisk for local runs and tests, idempotently.
#
# Preferred: Asterisk 22 LTS (the release production runs) from Debian sid, inside
# a minimal debootstrap chroot so the host's libc is untouched. Fallback: Asterisk
# 16.28 from the Debian 11 archive installed on the host, pinned so nothing else
# comes from bullseye. The result is described in <root>/.ivr-asterisk.env, which
# the test fixtures and `make run` read: ASTERISK_MODE (chroot|host),
# ASTERISK_CHROOT, ASTERISK_BIN, ASTERISK_MODDIR, ASTERISK_VERSION.
set -euo pipefail

ROOT=${ASTERISK_ROOT:-$(pwd)/.local/asterisk-root}
STATE=$(dirname "$ROOT")/asterisk.env
mkdir -p "$(dirname "$ROOT")"

# The Debian mirror the host already uses (never hard-coded).
mirror() {
  local uri
  uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -v -E 'security|nodesource|google|updates' | head -1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//')
  echo "${uri%/}"
}

write_state() {
  cat >"$STATE" <<EOS
ASTERISK_MODE=$1
ASTERISK_CHROOT=$2
ASTERISK_BIN=$3
ASTERISK_MODDIR=$4
ASTERISK_VERSION=$5
EOS
  echo "install-asterisk: $5 ($1) ready; see $STATE"
}

ensure_mounts() {
  # /proc is mounted only while apt runs inside the chroot, and always unmounted after,
  # so that no mount is left inside the project folder.
  if ! mountpoint -q "$ROOT/proc"; then
    mount -t proc proc "$ROOT/proc"
    trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
  fi
  # Without the host's name resolution files Asterisk's own-name lookups stall under load.
  cp /etc/hosts "$ROOT/etc/hosts"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}

chroot_version() { chroot "$ROOT" /usr/sbin/asterisk -V 2>/dev/null | head -1; }

install_chroot() {
  command -v debootstrap >/dev/null || { echo "install-asterisk: debootstrap missing (run scripts/install-system.sh)" >&2; return 1; }
  local m; m=$(mirror)
  [ -n "$m" ] || { echo "install-asterisk: no Debian mirror found in /etc/apt" >&2; return 1; }
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    rm -rf "$ROOT"
    echo "install-asterisk: debootstrap sid into $ROOT"
    debootstrap --variant=minbase --include=ca-certificates sid "$ROOT" "$m" >"$ROOT.debootstrap.log" 2>&1 \
      || { tail -20 "$ROOT.debootstrap.log" >&2; return 1; }
  fi
  ensure_mounts
  # The archive may be a frozen snapshot whose Release file has expired.
  chroot "$ROOT" apt-get -qq -o Acquire::Check-Valid-Until=false update
  DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get install -y -qq --no-install-recommends \
    asterisk asterisk-modules tzdata >/dev/null
  ln -sf /usr/share/zoneinfo/Asia/Tokyo "$ROOT/etc/localtime"  # Asterisk logs in the city's time
  local moddir
  moddir=$(chroot "$ROOT" sh -c 'ls -d /usr/lib/*/asterisk/modules 2>/dev/null | head -1')
  write_state chroot "$ROOT" /usr/sbin/asterisk "$moddir" "$(chroot_version)"
}

install_host_fallback() {
  echo "install-asterisk: WARNING falling back to Asterisk 16.28 from Debian 11 on the host" >&2
  if ! command -v asterisk >/dev/null; then
    local m; m=$(mirror)
    cat >/etc/apt/sources.list.d/ivr-bullseye.sources <<EOS
Types: deb
URIs: $m
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
    printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' >/etc/apt/preferences.d/ivr-bullseye
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends asterisk/bullseye >/dev/null
  fi
  write_state host "" "$(command -v asterisk)" /usr/lib/asterisk/modules "$(asterisk -V | head -1)"
}

if [ -x "$ROOT/usr/sbin/asterisk" ] && [ -f "$STATE" ]; then
  # Asterisk logs in Asia/Tokyo, the city's time: the chroot needs the zone data.
  if [ ! -e "$ROOT/usr/share/zoneinfo/Asia/Tokyo" ]; then
    ensure_mounts
    chroot "$ROOT" apt-get -qq -o Acquire::Check-Valid-Until=false update
    DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get install -y -qq --no-install-recommends tzdata >/dev/null
  fi
  ln -sf /usr/share/zoneinfo/Asia/Tokyo "$ROOT/etc/localtime"
  echo "install-asterisk: $(chroot_version) already installed in $ROOT"
  exit 0
fi
if [ -f "$STATE" ] && grep -q '^ASTERISK_MODE=host' "$STATE" && command -v asterisk >/dev/null; then
  echo "install-asterisk: fallback $(asterisk -V) already installed (WARNING: not the production release)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-asterisk: needs root (debootstrap/chroot or apt-get)" >&2
  exit 1
fi
if [ "${IVR_FORCE_ASTERISK_FALLBACK:-}" != 1 ] && install_chroot; then
  exit 0
fi
install_host_fallback
