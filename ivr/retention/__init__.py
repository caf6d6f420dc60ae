"""Personal data retention (docs/personal-data.md): one job that, once a day, replaces
raw phone numbers past their period with a keyed hash (so repeat callers still count
and every figure stays as it was) and removes spool, dead-letter and CEL files past
theirs.

- ``model``: periods, the keyed hash, which files are due (pure);
- ``store``: the database part (calls, Asterisk's CEL tables, the SMS outbox);
- ``files``: the spool and the CEL file;
- ``job``: one run, and the daily loop the controller supervises.
"""
