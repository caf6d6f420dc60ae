"""Capacity: line sizing (Erlang B) for the trunk a city contracts."""
