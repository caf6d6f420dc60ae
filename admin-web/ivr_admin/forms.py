"""Reading submitted forms and JSON safely: wrong types and bad bytes become BadRequest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from .errors import BadRequest

Form = MultiDictProxy[Any]


async def form(request: web.Request) -> Form:
    try:
        return await request.post()
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest() from e


def text(data: Form | Mapping[str, Any], name: str, limit: int = 1000) -> str:
    """A text field, trimmed; "" when absent or not text. NUL bytes are dropped
    because PostgreSQL cannot store them."""
    value = data.get(name, "")
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()[:limit]


def values(data: Form, name: str) -> list[str]:
    return [v for v in data.getall(name, []) if isinstance(v, str)]


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest("JSONとして読み取れませんでした。") from e
    if not isinstance(body, dict):
        raise BadRequest("JSONオブジェクトを送ってください。")
    return body
