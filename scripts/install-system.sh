#!/usr/bin/env bash
# Installs the system packages the project needs (idempotent): SIPp, debootstrap,
# PostgreSQL server binaries, Chromium + CJK fonts for browser tests, audio tools;
# for the operations checks: promtool/amtool (alert rules, Alertmanager config),
# fail2ban-regex (filters), age (encrypted backups).
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in sip-tester debootstrap postgresql chromium fonts-noto-cjk ca-certificates \
  prometheus prometheus-alertmanager fail2ban age; do
  have "$pkg" || need+=("$pkg")
done
# A Debian python3 without ensurepip cannot make the project's virtual environment.
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-system: missing packages ${need[*]} and not root; install them with apt-get" >&2
    exit 1
  fi
  echo "install-system: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
