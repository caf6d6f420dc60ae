"""Who may reach what: one table of site areas by URL prefix, used both for the
server-side check (``middlewares``) and for the navigation links (``render``)."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Role


@dataclass(frozen=True)
class Area:
    prefix: str
    label: str
    role: Role
    group: str = ""  # navigation heading; "" = not in the navigation


AREAS = (
    Area("/", "ダッシュボード", Role.VIEWER, "状況"),
    Area("/calendar", "カレンダー", Role.OPERATOR, "運用"),
    Area("/guidance", "ガイダンス", Role.OPERATOR, "運用"),
    Area("/flows", "フロー", Role.OPERATOR, "運用"),
    Area("/sms-templates", "SMSテンプレート", Role.OPERATOR, "運用"),
    Area("/transfer-targets", "転送先", Role.OPERATOR, "運用"),
    Area("/accounts", "アカウント", Role.ADMINISTRATOR, "管理"),
    Area("/security", "セキュリティ設定", Role.ADMINISTRATOR, "管理"),
    Area("/audit", "監査ログ", Role.ADMINISTRATOR, "管理"),
    Area("/api/allowlist", "", Role.ADMINISTRATOR),
    Area("/calls/numbers", "", Role.ADMINISTRATOR),  # whole numbers: audit-logged
)

# Route names reachable without a session, and the ones a half-finished login may use.
# PUBLIC_ROUTES skip the staff allowlist, login and CSRF: each guards itself (the SMS
# delivery webhook: a secret path token and the provider's addresses, sms/webhook.py).
PUBLIC_ROUTES = frozenset({"healthz", "metrics", "sms_delivery"})  # metrics: own allowlist
ANONYMOUS_ROUTES = frozenset({"login", "login_post"})
MFA_ROUTES = frozenset({"login_totp", "login_totp_post", "logout"})
PASSWORD_CHANGE_ROUTES = frozenset({"password", "password_post", "logout"})
TOTP_ENROL_ROUTES = PASSWORD_CHANGE_ROUTES | {"totp_setup", "totp_setup_post"}


def required_role(path: str) -> Role:
    """The lowest role allowed under ``path``; every signed-in page needs at least viewer."""
    best = Role.VIEWER
    length = 0
    for area in AREAS:
        p = area.prefix
        if (path == p or path.startswith(p.rstrip("/") + "/")) and len(p) > length:
            best, length = area.role, len(p)
    return best


def navigation(role: Role) -> list[tuple[str, list[Area]]]:
    """The navigation groups and links ``role`` may follow."""
    groups: dict[str, list[Area]] = {}
    for area in AREAS:
        if area.group and role.allows(area.role):
            groups.setdefault(area.group, []).append(area)
    return list(groups.items())
