# myna-ivr: the Python image. The call controller (`python -m ivr ... run`), the admin
# site (`python -m ivr_admin serve`), the migrations (`python -m ivr migrate`) and the
# one-shot Asterisk config renderer (`python -m ivr.dev.render`) all run from it; see
# docker-compose.yml.
#
# FIRST DRAFT, to be completed in the operations issue (roadmap Step 9). No Docker
# engine runs where it was written, so it has been checked by reading, not built.
#
#   docker build -t myna-ivr:local .
#
# Only what .dockerignore lets through is sent to the build (never .venv/ or .local/).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Pinned dependencies first: this layer is rebuilt only when the lock changes. Every
# package in it has a manylinux wheel (pyopenjtalk-plus carries its dictionary and
# voice, soundfile its libsndfile), so no compiler or system library is needed.
COPY requirements.lock /tmp/requirements.lock
RUN pip install -r /tmp/requirements.lock && rm /tmp/requirements.lock

# The project itself (ivr + ivr_admin), from its sources; dependencies are already there.
COPY pyproject.toml README.md /tmp/src/
COPY ivr /tmp/src/ivr
COPY admin-web /tmp/src/admin-web
RUN pip install --no-deps /tmp/src && rm -rf /tmp/src

# Files read at run time. The installed package cannot find them beside itself, so
# their places are given by environment variables.
WORKDIR /app
COPY asterisk-conf /app/asterisk-conf
COPY sql /app/sql
COPY config /app/config

# An unprivileged user. The folders that become volumes (sounds shared with Asterisk,
# the controller's spool, the rendered Asterisk config) exist in the image with this
# owner, so that a new named volume mounted there is created with the same owner.
RUN groupadd --system --gid 10001 ivr \
    && useradd --system --uid 10001 --gid ivr --home-dir /var/lib/ivr --no-create-home \
       --shell /usr/sbin/nologin ivr \
    && mkdir -p /var/lib/ivr/sounds /var/lib/ivr/spool /rendered \
    && chown -R ivr:ivr /var/lib/ivr /rendered

ENV IVR_SQL_DIR=/app/sql \
    IVR_ASTERISK_CONF_DIR=/app/asterisk-conf \
    IVR_SOUNDS_DIR=/var/lib/ivr/sounds \
    IVR_SPOOL_DIR=/var/lib/ivr/spool

USER ivr
ENTRYPOINT ["python", "-m", "ivr"]
CMD ["--config", "/app/config/ivr.yaml", "run"]
