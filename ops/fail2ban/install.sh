#!/usr/bin/env bash
# Install myna-ivr's fail2ban filters and jails: ops/fail2ban/install.sh [ENV_FILE] [DEST]
#   ENV_FILE  the deployment's .env (default: .env beside docker-compose.yml)
#   DEST      fail2ban's configuration directory (default: /etc/fail2ban)
# The carrier's addresses (IVR_TRUNK_HOST, IVR_CARRIER_ADDRESSES) become ignoreip in
# jail.d/ivr.local, so the trunk is never banned; without them this refuses to install.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
env_file="${1:-$here/../../.env}"
dest="${2:-/etc/fail2ban}"
value() { # the last NAME=value of the env file, quotes removed
  sed -n "s/^$1=//p" "$env_file" | tail -n 1 | sed -e 's/^["'\'']//' -e 's/["'\'']$//'
}
[ -r "$env_file" ] || { echo "fail2ban install: cannot read $env_file" >&2; exit 1; }
trunk="$(value IVR_TRUNK_HOST)"
carrier="$(value IVR_CARRIER_ADDRESSES)"
addresses="$(echo "$trunk $carrier" | tr ',' ' ' | xargs)"
if [ -z "$trunk" ] || [ -z "$carrier" ]; then
  echo "fail2ban install: set IVR_TRUNK_HOST and IVR_CARRIER_ADDRESSES (the carrier's" \
    "signalling and media addresses) in $env_file first: the trunk must never be banned" >&2
  exit 1
fi
for a in $addresses; do
  [[ "$a" =~ ^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$ ]] || {
    echo "fail2ban install: not an address or CIDR: $a" >&2
    exit 1
  }
done
install -d "$dest/filter.d" "$dest/jail.d"
install -m 644 "$here/filter.d/asterisk-ivr.conf" "$here/filter.d/ivr-admin.conf" "$dest/filter.d/"
install -m 644 "$here/jail.d/ivr.conf" "$dest/jail.d/ivr.conf"
{
  echo "# Written by ops/fail2ban/install.sh from $env_file; re-run it after a change."
  echo "[DEFAULT]"
  echo "ivr_carrier_addresses = $addresses"
} >"$dest/jail.d/ivr.local"
chmod 644 "$dest/jail.d/ivr.local"
echo "fail2ban install: jails asterisk-ivr and ivr-admin; never banned: $addresses"
