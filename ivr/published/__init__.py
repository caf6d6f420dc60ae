"""Everything staff publish (flows, the calendar, later transfer targets and SMS
templates) reaches the controller through one mechanism: :mod:`.service`."""
