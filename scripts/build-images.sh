#!/usr/bin/env bash
# Builds the deployment's five images (docker-compose.yml): the application, Asterisk 22,
# PostgreSQL, the TLS proxy and, for the compose profile "monitoring", Prometheus with
# Alertmanager, all from Debian packages. `make images` runs it.
#
#   1. a Docker engine (scripts/docker-engine.sh: installs docker.io/docker-compose and
#      starts dockerd by hand if needed);
#   2. base images: when .env names the local myna-ivr-base:* images (no registry
#      reachable) and they are missing, scripts/build-base-image.sh makes them;
#   3. the locked wheels downloaded on the host into var/wheels/ (pip inside a build
#      may not reach or trust the index); the image installs exactly those;
#   4. docker-compose build (the profile "monitoring" included: its image is built too).
#
# Settings from IVR_ENV_FILE (default .env); the project name from COMPOSE_PROJECT_NAME.
set -euo pipefail
cd "$(dirname "$0")/.."

ENV_FILE=${IVR_ENV_FILE:-.env}
[ -f "$ENV_FILE" ] || { echo "build-images: $ENV_FILE missing (cp .env.example .env)" >&2; exit 1; }
DOCKER=$(bash scripts/docker-engine.sh | tail -1)
export DOCKER

base() { # the value of a variable in the env file, else its default
  local v
  v=$(grep -E "^$1=" "$ENV_FILE" | tail -1 | cut -d= -f2- || true)
  echo "${v:-$2}"
}
for image in "$(base IVR_BASE_IMAGE debian:bookworm-slim)" "$(base IVR_ASTERISK_BASE_IMAGE debian:sid-slim)"; do
  case "$image" in
    myna-ivr-base:*) bash scripts/build-base-image.sh "${image#myna-ivr-base:}" >/dev/null ;;
    *) "$DOCKER" image inspect "$image" >/dev/null 2>&1 \
         || echo "build-images: $image is not here; the build will pull it from the registry" >&2 ;;
  esac
done

# Wheels for CPython 3.11 on x86_64 glibc (Debian 12's python3 in the image).
PY=${PY:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
mkdir -p var/wheels
echo "build-images: wheels for requirements.lock -> var/wheels" >&2
"$PY" -m pip download -q --disable-pip-version-check --only-binary=:all: --python-version 3.11 \
  -d var/wheels -r requirements.lock "setuptools>=68" wheel 2>&1 \
  | grep -v -E "^WARNING: Location 'file:" >&2 || true
for pkg in $(grep -E '^[A-Za-z0-9_.-]+==' requirements.lock | cut -d= -f1); do
  norm=$(echo "$pkg" | tr 'A-Z-.' 'a-z__')
  ls var/wheels | tr 'A-Z-.' 'a-z__' | grep -q "^${norm}_" \
    || { echo "build-images: no wheel for $pkg in var/wheels (pip download failed?)" >&2; exit 1; }
done

echo "build-images: docker-compose build" >&2
docker-compose --env-file "$ENV_FILE" --profile monitoring build ${IVR_BUILD_FLAGS:-}
echo "build-images: done: $("$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep -E '^myna-ivr' | tr '\n' ' ')" >&2
