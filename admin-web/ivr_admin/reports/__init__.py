"""Reports for staff: the call log (numbers masked below administrator; an
administrator's full-number view is audit-logged), the monthly report (prints on A4)
and the CSV export of any range (streamed, opens in Excel)."""

from __future__ import annotations

from aiohttp import web

from . import calls, export, monthly


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/calls", calls.call_log, name="calls")
    r.add_get("/calls/numbers", calls.call_log_numbers, name="calls_numbers")
    r.add_get("/reports", monthly.monthly_page, name="reports")
    r.add_get("/reports/export.csv", export.export_csv, name="reports_export")
