"""Password hashing (Argon2id) and the password policy staff see.

No forced periodic change (NIST SP 800-63B): a long password that is not a common
one is required instead.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 128  # hashing is deliberately slow; a cap keeps huge inputs from costing more

# OWASP's minimum for Argon2id: 19 MiB of memory, 2 iterations, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)

# A hash of a random password: verifying against it when the login ID does not exist
# takes as long as a real check, so response time does not reveal which IDs exist.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))

_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_EDGES = re.compile(r"^[\d\W_]+|[\d\W_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords and words, lower-case."""
    text = resources.files("ivr_admin").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(w for w in (line.strip().lower() for line in text.splitlines()) if w)


def problems(password: str, login_id: str = "") -> list[str]:
    """Why ``password`` is not acceptable, as sentences for the form; empty when it is."""
    found: list[str] = []
    if len(password) < MIN_LENGTH:
        found.append(f"パスワードは{MIN_LENGTH}文字以上にしてください。")
    if len(password) > MAX_LENGTH:
        found.append(f"パスワードは{MAX_LENGTH}文字以内にしてください。")
    if found:
        return found
    lowered = password.lower()
    # "P@ssw0rd2024!" is "password" with decorations: strip digits/symbols at both ends,
    # then undo leetspeak, and look up every form.
    core = _EDGES.sub("", lowered)
    common = common_passwords()
    forms = {lowered, core, core.translate(_LEET)}
    if forms & common or len(set(lowered)) < 4:
        found.append(
            "よく使われているパスワードや推測されやすいパスワードは使えません。"
            "関係のない単語をいくつか組み合わせるなど、別のパスワードにしてください。"
        )
    if login_id and login_id.lower() in lowered:
        found.append("ログインIDを含むパスワードは使えません。")
    return found


def generate() -> str:
    """A one-time initial password, e.g. ``k7Pq-Xm3R-vT9w-Hc2N`` (easy to read aloud and type)."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def hash_now(password: str) -> str:
    return HASHER.hash(password)


def verify_now(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password[:MAX_LENGTH]) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


# Hashing takes tens of milliseconds of CPU: run it off the event loop.
async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, hash_now, password)


async def verify(stored: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, verify_now, stored, password)
