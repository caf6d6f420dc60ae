"""Figures for staff (F7): Asterisk's own count of calls (CEL), the calls that ended
while no controller ran, the controller's heartbeat, and the queries the admin site,
the reports and the bench share.

The roll-ups themselves are kept by the database (``sql/0050_stats.sql``): triggers
recompute a call's facts whenever its record, its events or its CEL summary change,
and move the counters by the difference. This package feeds them and reads them.

What the controller runs (``ivr/app.py`` wires it): :func:`service.startup` once before
taking calls, then :func:`service.run` as a supervised task.
"""
