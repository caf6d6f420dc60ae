"""The calendar pages: the month view, the settings editor and the preview
「この日時に電話すると」. Operators and administrators only (see ``access``).

``forms`` turns the editor's fields into the calendar's JSON form and places the
validator's messages back beside their fields; ``month`` lays out a month; ``preview``
runs the published flow for a moment with ``ivr.flow.simulate``; ``views`` wires them
to requests. The calendar itself (model, decisions, storage) lives in ``ivr.calendar``.
"""
