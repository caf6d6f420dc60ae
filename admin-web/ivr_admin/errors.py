"""Errors with stable ids; ``middlewares.error_middleware`` maps them to responses."""

from __future__ import annotations

from typing import ClassVar


class AdminError(Exception):
    """Base of every error the site answers deliberately."""

    id: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    message: ClassVar[str] = "エラーが発生しました。"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.message)
        self.detail = detail or self.message


class BadRequest(AdminError):
    id = "bad_request"
    status = 400
    message = "送信内容を処理できませんでした。入力内容を確認してください。"


class NotFound(AdminError):
    id = "not_found"
    status = 404
    message = "お探しのページは見つかりませんでした。"


class LoginRequired(AdminError):
    id = "login_required"
    status = 401
    message = "ログインしてください。"


class Forbidden(AdminError):
    id = "forbidden"
    status = 403
    message = "このページを利用する権限がありません。"


class AddressNotAllowed(Forbidden):
    id = "address_not_allowed"
    message = "この接続元からは管理画面を利用できません。"


class CsrfRejected(Forbidden):
    id = "csrf_rejected"
    message = (
        "画面の有効期限が切れたか、正しくない送信です。"
        "ページを読み込み直してから、もう一度操作してください。"
    )


class Throttled(AdminError):
    id = "login_throttled"
    status = 429
    message = (
        "ログインの失敗が続いたため、一時的にログインを制限しています。"
        "しばらく待ってから、もう一度お試しください。"
    )


class ForwardingRefused(BadRequest):
    """Forwarding headers that cannot be believed: from an undeclared peer, or unreadable."""

    id = "forwarding_refused"
    message = (
        "転送ヘッダー（X-Forwarded-For・Forwarded）は、"
        "設定で登録された中継サーバーからの接続でのみ受け付けます。"
    )
