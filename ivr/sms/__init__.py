"""SMS: long Japanese messages to every carrier, from a durable outbox, exactly once.

The roles, as in the other capabilities:

- pure model and decisions: ``numbers`` (which numbers take an SMS), ``text`` (parts),
  ``templates`` (the published template set and the rules that protect citizens),
  ``limits`` (abuse limits), ``defaults`` (the shipped templates);
- storage: ``store`` (template versions), ``outbox`` (one row per request; ``listing``
  for staff), ``spool`` (requests kept on disk while the database is away);
- I/O: ``gateway`` (the interface) with ``karaden`` and ``generic``, ``worker`` (sends,
  retries, looks up, polls), ``webhook`` (delivery reports), and ``service``, the one
  small interface the call session uses (:class:`ivr.sms.service.SmsRequester`);
- ``plugin`` wires them for the controller.
"""
