"""Measurements with real calls (``make bench``): figures are printed, never asserted."""
