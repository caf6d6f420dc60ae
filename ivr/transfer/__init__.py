"""Transfers to the city's lines (docs/architecture.md, "Transfers to city lines").

The roles, as in the other capabilities:

- pure model and decisions: ``model`` (targets and their rules), ``outcomes`` (what
  Asterisk's DIALSTATUS means for a flow), ``dialvars`` (the only values that reach
  the dial string, filtered);
- storage: ``store`` (published target sets), ``inservice`` (the set calls use),
  ``slots`` (capacity counted in PostgreSQL across controllers, locally while it is
  away), ``records`` (one row per attempt, written off the call path);
- I/O: ``service``, what the call session and the dispatcher use (start a transfer,
  follow its channel over ARI, reconcile after a restart), with ``watch`` keeping one
  transfer's times and outcome;
- ``plugin`` wires them for the controller.
"""
