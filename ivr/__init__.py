"""Self-hosted IVR call controller for Japanese municipalities."""

__version__ = "0.1.0"
