"""The admin site: accounts, security settings and audit log for city staff."""

from .app import create_app

__all__ = ["create_app"]
