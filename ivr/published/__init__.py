"""Everything staff publish (flows, the calendar, transfer targets and SMS templates)
reaches the controller through one mechanism: :mod:`.service`; the calendar, the
targets and the templates are published through :mod:`.store`."""
