"""Command line: ``python -m ivr_admin serve|create-admin|reset-totp``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import asyncpg
from aiohttp import web

from ivr.config import ConfigError, Settings, load_settings
from ivr.log import configure as configure_logging
from ivr.store.migrate import MigrationError, migrate

from . import account_store, audit, passwords, security, sessions, tls
from .app import create_app
from .model import Role


def _settings(path: str | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as e:
        sys.exit(str(e))


def _url(settings: Settings) -> str:
    admin = settings.admin
    scheme = "https" if admin.tls_cert and admin.tls_key else "http"
    host = f"[{admin.host}]" if ":" in admin.host else admin.host
    return f"{scheme}://{host}:{admin.port}/login"


async def _migrate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()


def serve(settings: Settings) -> None:
    admin = settings.admin
    ssl_context = None
    if admin.tls_cert and admin.tls_key:
        ssl_context = tls.server_context(admin.tls_cert, admin.tls_key)
    elif admin.tls_cert or admin.tls_key:
        sys.exit("config: admin.tls_cert and admin.tls_key must be given together")
    asyncio.run(_migrate(settings.database.dsn))
    app = create_app(settings, settings.database.dsn)
    print(f"管理画面: {_url(settings)}", flush=True)
    web.run_app(
        app, host=admin.host, port=admin.port, ssl_context=ssl_context, access_log=None, print=None
    )


async def _create_admin(settings: Settings, login_id: str, name: str) -> tuple[str, bool]:
    """The one-time password, and whether administrators must enrol two-step login."""
    password = passwords.generate()
    hashed = await passwords.hash_password(password)
    await _migrate(settings.database.dsn)
    conn = await asyncpg.connect(settings.database.dsn)
    try:
        async with conn.transaction():
            account = await account_store.create(
                conn, login_id, name, Role.ADMINISTRATOR, None, hashed
            )
            await audit.record(
                conn,
                None,
                "account.create",
                f"account:{login_id}",
                None,
                {**account.audit_view(), "via": "command line"},
            )
        two_step = Role.ADMINISTRATOR in (await security.load_policy(conn)).totp_roles
    finally:
        await conn.close()
    return password, two_step


def create_admin(settings: Settings, login_id: str, name: str) -> None:
    login_id = login_id.strip().lower()
    if not account_store.LOGIN_ID.fullmatch(login_id):
        sys.exit(account_store.LOGIN_ID_RULE)
    try:
        password, two_step = asyncio.run(_create_admin(settings, login_id, name))
    except account_store.LoginIdTaken:
        sys.exit(f"ログインID「{login_id}」はすでにあります。")
    except (OSError, asyncpg.PostgresError, MigrationError) as e:
        sys.exit(f"データベースに接続できません: {e}")
    then = "と、\n2段階認証（認証アプリ）の登録" if two_step else ""
    print(f"""管理者アカウントを作成しました。

  ログインID:       {login_id}
  初期パスワード:   {password}

この初期パスワードは今回だけ表示されます。控えたうえで、ブラウザで
  {_url(settings)}
を開いてログインしてください。最初のログインでパスワードの変更{then}を求められます。
(接続元は admin.allowlist で許可されたアドレスに限られます)""")


async def _reset_totp(settings: Settings, login_id: str) -> bool:
    """Clear the account's second factor and end its sessions; False if no such account."""
    await _migrate(settings.database.dsn)
    conn = await asyncpg.connect(settings.database.dsn)
    try:
        async with conn.transaction():
            creds = await account_store.credentials(conn, login_id)
            if creds is None:
                return False
            account = creds.account
            after = await account_store.set_totp(conn, account.id, None, None)
            await sessions.end_all(conn, account.id)  # a stolen session does not outlive it
            await audit.record(
                conn,
                None,
                "account.totp_reset",
                f"account:{login_id}",
                account.audit_view(),
                {**after.audit_view(), "via": "command line"},
            )
    finally:
        await conn.close()
    return True


def reset_totp(settings: Settings, login_id: str) -> None:
    """Recovery when an administrator (perhaps the only one) lost the authenticator: run
    on the server, so whoever runs it already controls the system."""
    login_id = login_id.strip().lower()
    try:
        found = asyncio.run(_reset_totp(settings, login_id))
    except (OSError, asyncpg.PostgresError, MigrationError) as e:
        sys.exit(f"データベースに接続できません: {e}")
    if not found:
        sys.exit(f"ログインID「{login_id}」のアカウントはありません。")
    print(f"""「{login_id}」の2段階認証を解除しました（監査ログに記録しました）。

このアカウントのログイン中のセッションはすべて終了しました。次にログインすると、
認証アプリの登録をもう一度求められます。
  {_url(settings)}""")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ivr_admin", description="IVR 管理画面")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the admin site")
    p_serve.add_argument("--config", help="YAML configuration file")
    p_create = sub.add_parser("create-admin", help="create an administrator; prints the password")
    p_create.add_argument("login_id")
    p_create.add_argument("--name", default="", help="display name")
    p_create.add_argument("--config", help="YAML configuration file")
    p_reset = sub.add_parser(
        "reset-totp", help="clear an account's two-step login (it enrols again at next login)"
    )
    p_reset.add_argument("login_id")
    p_reset.add_argument("--config", help="YAML configuration file")
    args = parser.parse_args(argv)
    settings = _settings(args.config or os.environ.get("IVR_CONFIG") or None)
    configure_logging(settings.log.level, settings.log.json)
    if args.command == "serve":
        serve(settings)
    elif args.command == "reset-totp":
        reset_totp(settings, args.login_id)
    else:
        create_admin(settings, args.login_id, args.name)


if __name__ == "__main__":
    main()
