"""Property-based tests: whatever is sent to a form or JSON endpoint, the site never answers 500."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import PASSWORD, make_account

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        ["", " ", "\x00", "yes", "administrator", "2025-02-30", "../../etc", "999999999999"]
    ),
)
fields = st.dictionaries(
    st.sampled_from(
        [
            "login_id",
            "password",
            "display_name",
            "role",
            "expires_on",
            "code",
            "current",
            "new",
            "confirm",
            "allowlist",
            "confirm_lockout",
            "roles",
            "next",
            "other",
        ]
    ),
    texts,
    max_size=6,
)
bodies = st.one_of(st.binary(max_size=200), fields.map(lambda d: json.dumps(d).encode()))
content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded; charset=latin-1",
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)

ADMIN_FORMS = [
    "/accounts/new",
    "/accounts/2",
    "/accounts/2/suspend",
    "/accounts/2/resume",
    "/accounts/2/password",
    "/accounts/2/totp",
    "/accounts/99999",
    "/security/allowlist",
    "/security/totp",
    "/password",
    "/account/totp",
    "/logout",
    "/calendar",
]


@dataclass
class Signed:
    http: aiohttp.ClientSession
    csrf: str
    site: str


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def _sign_in(site: str, login_id: str) -> Signed:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(f"{site}/login") as r:
        token = _token(await r.text())
    form = {"csrf_token": token, "login_id": login_id, "password": PASSWORD}
    async with http.post(f"{site}/login", data=form) as r:
        return Signed(http, _token(await r.text()), site)


@pytest.fixture
async def admin(site: str, db: asyncpg.Connection) -> AsyncIterator[Signed]:
    """A signed-in administrator (plus a second account to act on), over plain HTTP."""
    await make_account(db, "admin")
    await make_account(db, "target", "viewer")
    signed = await _sign_in(site, "admin")
    yield signed
    await signed.http.close()


def _ok(status: int, what: str) -> None:
    assert status < 500, what


@FUZZ
@given(path=st.sampled_from(ADMIN_FORMS), data=fields)
async def test_admin_forms_never_fail(admin: Signed, path: str, data: dict[str, str]) -> None:
    """Any combination of fields posted (with a valid token) to any signed-in form is handled."""
    form = {**data, "csrf_token": admin.csrf}
    async with admin.http.post(admin.site + path, data=form, allow_redirects=False) as r:
        _ok(r.status, f"{path} {data!r}")
    if path == "/logout":  # keep signed in for the next example
        fresh = await _sign_in(admin.site, "admin")
        await admin.http.close()
        admin.http, admin.csrf = fresh.http, fresh.csrf


@FUZZ
@given(
    path=st.sampled_from([*ADMIN_FORMS[:-2], "/login", "/api/allowlist/check"]),
    body=bodies,
    content_type=content_types,
)
async def test_raw_bodies_never_fail(
    admin: Signed, path: str, body: bytes, content_type: str
) -> None:
    """Malformed bodies, wrong content types and bad encodings get a 4xx, never a 500."""
    headers = {"Content-Type": content_type, "X-CSRF-Token": admin.csrf}
    async with admin.http.post(
        admin.site + path, data=body, headers=headers, allow_redirects=False
    ) as r:
        _ok(r.status, f"{path} {content_type} {body!r}")


@FUZZ
@given(payload=json_values)
async def test_allowlist_check_api_answers_json(admin: Signed, payload: object) -> None:
    """The JSON endpoint answers any JSON value with JSON: a result or a 400 with an error id."""
    async with admin.http.post(
        f"{admin.site}/api/allowlist/check", json=payload, headers={"X-CSRF-Token": admin.csrf}
    ) as r:
        _ok(r.status, repr(payload))
        body = await r.json()
        assert ("valid" in body) if r.status == 200 else (body["error"] == "bad_request")


@FUZZ
@given(text=st.text(max_size=200))
async def test_allowlist_check_accepts_any_text(admin: Signed, text: str) -> None:
    """Any allowlist text is either parsed or explained line by line."""
    async with admin.http.post(
        f"{admin.site}/api/allowlist/check",
        json={"allowlist": text},
        headers={"X-CSRF-Token": admin.csrf},
    ) as r:
        assert r.status == 200, text
        body = await r.json()
        assert body["valid"] == (body["errors"] == [])


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["from", "to", "actor", "action", "page", "next", "done"]),
        texts,
        max_size=5,
    ),
    path=st.sampled_from(["/audit", "/audit/export.csv", "/login", "/accounts", "/security", "/"]),
)
async def test_query_strings_never_fail(admin: Signed, query: dict[str, str], path: str) -> None:
    """Filters, page numbers and redirect targets in the query string are validated, not trusted."""
    async with admin.http.get(admin.site + path, params=query, allow_redirects=False) as r:
        _ok(r.status, f"{path} {query!r}")


@FUZZ
@given(data=fields, address=st.integers(1, 250))
async def test_login_form_never_fails(
    site: str, db: asyncpg.Connection, data: dict[str, str], address: int
) -> None:
    """The anonymous login form copes with any input (from varying allowed addresses)."""
    headers = {"X-Forwarded-For": f"10.0.1.{address}"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{site}/login", headers=headers) as r:
            token = _token(await r.text())
        async with http.post(
            f"{site}/login",
            data={**data, "csrf_token": token},
            headers=headers,
            allow_redirects=False,
        ) as r:
            _ok(r.status, repr(data))


@FUZZ
@given(code=texts)
async def test_second_factor_form_never_fails(site: str, db: asyncpg.Connection, code: str) -> None:
    """Any code typed at the second step is handled (refused, or locked after the limit)."""
    if not await db.fetchval("SELECT 1 FROM admin_accounts WHERE login_id = 'twostep'"):
        await make_account(db, "twostep", totp_secret=pyotp.random_base32())
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{site}/login") as r:
            token = _token(await r.text())
        form = {"csrf_token": token, "login_id": "twostep", "password": PASSWORD}
        async with http.post(
            f"{site}/login", data=form, headers={"X-Forwarded-For": "10.0.2.1"}
        ) as r:
            if r.status == 429:
                return  # the account is locked by earlier examples: that is the point of the limit
            token = _token(await r.text())
        async with http.post(
            f"{site}/login/totp",
            data={"csrf_token": token, "code": code},
            headers={"X-Forwarded-For": "10.0.2.1"},
            allow_redirects=False,
        ) as r:
            _ok(r.status, repr(code))
