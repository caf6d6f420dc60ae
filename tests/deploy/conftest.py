"""The deployment test builds and runs the docker-compose stack: minutes of image builds,
root, a Docker engine. It runs only from ``make test-deploy`` (IVR_DEPLOY_TEST=1), never
as part of ``make test``, which collects ``tests/`` and so skips this folder's tests."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("IVR_DEPLOY_TEST") == "1" else ["test_*.py"]
