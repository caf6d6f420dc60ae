#!/usr/bin/env bash
# Makes sure a Docker engine answers, for `make test-deploy` and for building the images
# on a machine without one: installs Debian's docker.io and docker-compose (1.29) if
# missing and, where no service manager runs dockerd, starts it by hand as root.
# Idempotent. Prints the docker CLI to use (Debian's, /usr/bin/docker) on its last line.
set -euo pipefail

DOCKER=/usr/bin/docker
LOG=${IVR_DOCKERD_LOG:-/var/log/myna-ivr-dockerd.log}

if [ ! -x "$DOCKER" ] || ! command -v docker-compose >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "docker-engine: docker.io / docker-compose missing and not root: install them" >&2
    exit 1
  fi
  echo "docker-engine: installing docker.io and docker-compose (Debian)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io docker-compose >/dev/null
fi

if ! "$DOCKER" info >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "docker-engine: the Docker engine does not answer and this is not root" >&2
    exit 1
  fi
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker
  else
    echo "docker-engine: starting dockerd by hand (log: $LOG)" >&2
    # setsid: the daemon outlives this script and the test that called it.
    setsid /usr/sbin/dockerd >>"$LOG" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 120); do
    "$DOCKER" info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "docker-engine: dockerd did not answer within 120 s; last lines of $LOG:" >&2
    tail -20 "$LOG" >&2 || true
    exit 1
  fi
fi
echo "docker-engine: $("$DOCKER" version --format 'engine {{.Server.Version}}') ready" >&2
echo "$DOCKER"
