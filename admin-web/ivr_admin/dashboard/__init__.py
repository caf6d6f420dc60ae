"""The live dashboard (viewer and up) and the per-menu funnel.

Figures reach the browser by Server-Sent Events: the statistics triggers ``NOTIFY``
at commit, the ``Hub`` (one per process) reads one snapshot and publishes it to every
open stream (docs/architecture.md, "Figures for staff").
"""

from __future__ import annotations

from aiohttp import web

from . import hub, views


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", views.index, name="dashboard")
    r.add_get("/api/dashboard", views.data, name="dashboard_data")
    r.add_get("/api/dashboard/stream", views.stream, name="dashboard_stream")
    r.add_get("/funnel", views.funnel, name="funnel")
    app.cleanup_ctx.append(hub.hub_context)
    app.on_shutdown.append(hub.close_streams)
