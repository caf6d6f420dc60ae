"""The city's calendar: whether the office is open now, and when it next opens."""
