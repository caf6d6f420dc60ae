"""Typed keys for values stored on the application and on each request."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from ivr.config import Settings

from .model import Visitor

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
VISITOR = web.RequestKey("visitor", Visitor)
