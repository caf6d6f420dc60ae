# myna-ivr: the Python image. The call controller (`python -m ivr ... run`), the admin
# site (`python -m ivr_admin serve`), the migrations (`python -m ivr migrate`), the
# prompt builder and the one-shot Asterisk config renderer (`python -m ivr.dev.render`)
# all run from it; see docker-compose.yml and docs/operations.md ("Deploy").
#
# Built by `make images` (scripts/build-images.sh), which first downloads the locked
# wheels on the host into var/wheels/ (pip inside a build may not reach or trust the
# package index; the image installs them with --no-index, so it holds exactly the lock).
#
# Python is Debian's (python3 3.11 of bookworm), from Debian packages like every other
# image of the deployment. BASE_IMAGE: a public debian:bookworm-slim by default; where no
# registry is reachable, the local myna-ivr-base:bookworm (scripts/build-base-image.sh).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# tzdata: the calendar and the logs are in Japan time; ca-certificates: the SMS gateway
# and SMTP over TLS; postgresql-client + age: backups (ivr.dev.backup: pg_dump, pg_restore).
RUN apt-get -o Acquire::Check-Valid-Until=false update \
    && apt-get install -y --no-install-recommends \
       python3 python3-venv tzdata ca-certificates postgresql-client age \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && ln -sf /usr/share/zoneinfo/Asia/Tokyo /etc/localtime \
    && python3 -m venv /opt/venv

# Pinned dependencies first: this layer is rebuilt only when the lock (or the wheels)
# change. Every package in the lock has a manylinux wheel (pyopenjtalk-plus carries its
# dictionary and voice, soundfile its libsndfile), so no compiler is needed.
COPY requirements.lock /tmp/requirements.lock
COPY var/wheels /tmp/wheels
RUN pip install --no-index --find-links /tmp/wheels -r /tmp/requirements.lock \
    && pip install --no-index --find-links /tmp/wheels "setuptools>=68" wheel \
    && rm -rf /tmp/wheels /tmp/requirements.lock

# The project itself (ivr + ivr_admin), from its sources; dependencies are already there.
COPY pyproject.toml README.md /tmp/src/
COPY ivr /tmp/src/ivr
COPY admin-web /tmp/src/admin-web
RUN pip install --no-index --no-deps --no-build-isolation /tmp/src && rm -rf /tmp/src \
    && python -c "import ivr, ivr_admin, pyopenjtalk"

# Files read at run time. The installed package cannot find them beside itself, so
# their places are given by environment variables.
WORKDIR /app
COPY asterisk-conf /app/asterisk-conf
COPY sql /app/sql
COPY config /app/config

# An unprivileged user. The folders that become volumes (sounds shared with Asterisk,
# the controller's spool, the rendered Asterisk config) exist in the image with this
# owner, so that a new named volume mounted there is created with the same owner. The
# Asterisk image runs as the same uid (10001), so both can share those volumes.
RUN groupadd --system --gid 10001 ivr \
    && useradd --system --uid 10001 --gid ivr --home-dir /var/lib/ivr --no-create-home \
       --shell /usr/sbin/nologin ivr \
    && mkdir -p /var/lib/ivr/sounds /var/lib/ivr/spool /var/lib/ivr/backups /rendered \
       /var/log/asterisk \
    && chown -R ivr:ivr /var/lib/ivr /rendered /var/log/asterisk

ENV IVR_SQL_DIR=/app/sql \
    IVR_ASTERISK_CONF_DIR=/app/asterisk-conf \
    IVR_SOUNDS_DIR=/var/lib/ivr/sounds \
    IVR_SPOOL_DIR=/var/lib/ivr/spool \
    TZ=Asia/Tokyo

USER ivr
ENTRYPOINT ["python", "-m", "ivr"]
CMD ["--config", "/app/config/ivr.yaml", "run"]

# Marks the image as this deployment's (tests/deploy prunes untagged leftovers by it).
LABEL io.myna-ivr.image=app
