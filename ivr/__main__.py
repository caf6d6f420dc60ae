"""Command line: ``ivr run | migrate | prompts | flow | records replay | retention run |
config check``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import asyncpg

from ivr.config import ConfigError, Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    path = args.config or os.environ.get("IVR_CONFIG") or None
    return load_settings(path)


async def _migrate(settings: Settings) -> int:
    from ivr.store.migrate import migrate

    conn = await asyncpg.connect(settings.database.dsn)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    print(f"database up to date ({len(applied)} applied now)")
    return 0


def _prompts_build(settings: Settings) -> int:
    from ivr.app import load_service_flow, prompt_library
    from ivr.call.prompts import PromptResolver

    resolver = PromptResolver(prompt_library(settings), load_service_flow(settings))
    built = asyncio.run(resolver.prebuild())
    print(f"{built} prompts ready in {resolver.library.sounds_dir}")
    return 0


def _prompts_import(settings: Settings, file: str | None, name: str | None) -> int:
    from ivr.app import prompt_library
    from ivr.prompts.audio import AudioError

    if not file:
        print("prompts import needs a FILE", file=sys.stderr)
        return 2
    source = Path(file)
    try:
        rel = prompt_library(settings).import_file(source, name or source.stem)
    except AudioError as e:
        print(f"not imported: {e}", file=sys.stderr)
        return 1
    print(f"imported {source.name} as {rel} (use `file: {rel.removeprefix('uploads/')}` in a flow)")
    return 0


def _flow_validate(path: str) -> int:
    from ivr.flow.errors import FlowError
    from ivr.flow.loader import load_flow_file

    try:
        flow = load_flow_file(Path(path))
    except FlowError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(f"{path}: valid ({len(flow.nodes)} nodes, {len(flow.prompts)} prompts)")
    return 0


async def _flow_db(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.flow.errors import FlowError
    from ivr.store import flows

    actor = f"cli:{args.by or os.environ.get('USER', 'unknown')}"  # shown in the audit log
    conn = await asyncpg.connect(settings.database.dsn)
    try:
        if args.action == "list":
            for v in await flows.history(conn):
                when = v.published_at or v.created_at
                print(f"{v.id:>4}  {v.status:<9}  {when:%Y-%m-%d %H:%M}  {v.name}  {v.comment}")
            return 0
        if args.action == "publish":
            try:
                source = await asyncio.to_thread(Path(args.target).read_text, encoding="utf-8")
            except OSError as e:
                print(f"cannot read {args.target}: {e.strerror}", file=sys.stderr)
                return 1
            version = await flows.save_draft(conn, source, actor, args.comment)
        elif args.target.isdigit():  # rollback: put an earlier version back into service
            version = int(args.target)
        else:
            print(f"not a version number: {args.target}", file=sys.stderr)
            return 2
        targets = [t.name for t in settings.transfer.targets]  # while none are published
        try:
            flow = await flows.publish(conn, version, actor, transfer_targets=targets)
        except FlowError as e:
            print(f"not published (the version in service is unchanged):\n{e}", file=sys.stderr)
            return 1
        except flows.FlowVersionError as e:
            print(str(e), file=sys.stderr)
            return 1
        print(f"version {version} ({flow.name}) is now in service")
        return 0
    finally:
        await conn.close()


async def _records_replay(settings: Settings) -> int:
    from ivr.store.replay import replay_dead_letters

    spool_dir = Path(settings.database.spool_dir)
    try:
        report = await replay_dead_letters(settings.database.dsn, spool_dir)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        print(f"database unavailable, nothing replayed (files kept): {e}", file=sys.stderr)
        return 1
    if not report.files:
        print(f"no dead letters in {spool_dir}")
        return 0
    print(f"loaded {report.loaded} records from {report.files} dead-letter files (files removed)")
    if report.cleared:
        print(f"  {report.cleared} of them with an unknown flow version cleared (see record_note)")
    if report.still_refused:
        print(f"still refused: {report.still_refused} records, kept in {report.kept_in}:")
        for reason, count in report.refused.most_common():
            print(f"  {count} × {reason}")
        return 1
    return 0


async def _retention_run(settings: Settings) -> int:
    from ivr.retention.job import run_once

    report = await run_once(settings)
    for place, rows in report.hashed.items():
        print(f"{place}: {rows} numbers past their period replaced by their hash")
    for path in report.removed:
        print(f"removed {path}")
    if report.rotated:
        print(f"CEL file rotated to {report.rotated}")
    for error in report.errors:
        print(f"not done: {error}", file=sys.stderr)
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivr", description="マイナ保険証 IVR call controller")
    parser.add_argument("--config", help="YAML settings file (default: $IVR_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the call controller")
    sub.add_parser("migrate", help="apply database migrations (safe to run twice)")
    prompts = sub.add_parser("prompts", help="prompt audio: build | import FILE --name NAME")
    prompts.add_argument("action", choices=["build", "import"])
    prompts.add_argument("file", nargs="?", help="a WAV/MP3 recording to import")
    prompts.add_argument("--name", help="the name flows use in `file:` (default: file stem)")
    flow = sub.add_parser(
        "flow", help="call flows: validate FILE | publish FILE | list | rollback N"
    )
    flow.add_argument("action", choices=["validate", "publish", "list", "rollback"])
    flow.add_argument("target", nargs="?", help="a flow YAML file, or a version number")
    flow.add_argument("--comment", default="", help="what changed (publish)")
    flow.add_argument("--by", default="", help="who publishes (default: $USER)")
    records = sub.add_parser("records", help="call records: replay (load dead letters back)")
    records.add_argument("action", choices=["replay"])
    retention = sub.add_parser(
        "retention", help="personal data: run (hash numbers and remove files past their period)"
    )
    retention.add_argument("action", choices=["run"])
    cfg = sub.add_parser("config", help="configuration")
    cfg.add_argument("action", choices=["check"])
    args = parser.parse_args(argv)

    if args.command == "flow" and args.action == "validate":
        if not args.target:
            parser.error("flow validate needs a FILE")
        return _flow_validate(args.target)
    if args.command == "flow" and args.action in ("publish", "rollback") and not args.target:
        parser.error(
            f"flow {args.action} needs a {'FILE' if args.action == 'publish' else 'version'}"
        )
    try:
        settings = _settings(args)
    except ConfigError as e:
        print(f"ivr: {e}", file=sys.stderr)
        return 2

    from ivr import log

    log.configure(settings.log.level, settings.log.json)
    if args.command == "config":
        print("configuration valid")
        return 0
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "prompts" and args.action == "import":
        return _prompts_import(settings, args.file, args.name)
    if args.command == "prompts":
        return _prompts_build(settings)
    if args.command == "flow":
        return asyncio.run(_flow_db(settings, args))
    if args.command == "records":
        return asyncio.run(_records_replay(settings))
    if args.command == "retention":
        return asyncio.run(_retention_run(settings))
    from ivr.app import serve
    from ivr.flow.errors import FlowError

    try:
        asyncio.run(serve(settings))
    except FlowError as e:
        print(f"ivr: the flow to serve is not valid:\n{e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
