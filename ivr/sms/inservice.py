"""The SMS templates in service: the published-settings mechanism
(:mod:`ivr.published`) applied to the template set. A stored set that breaks the
rules (say the allowed domains were narrowed in the configuration since) is never
put in service: the controller keeps what it serves, or the shipped default."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from ivr.published.service import InService, InvalidSetting, Source
from ivr.sms import store
from ivr.sms.defaults import default_templates
from ivr.sms.templates import Rules, TemplateError, TemplateSet, check


class SmsTemplatesKind:
    name = "sms_templates"
    channel = store.CHANNEL

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def default(self) -> Source:
        return Source(None, default_templates(self.rules).to_json())

    async def fetch(self, conn: asyncpg.Connection) -> Source | None:
        found = await store.in_service(conn)
        return None if found is None else Source(*found)

    async def build(self, source: Source) -> TemplateSet:
        try:
            templates = TemplateSet.from_json(source.text)
        except TemplateError as e:
            raise InvalidSetting(f"sms templates version {source.version}: {e}") from e
        issues = check(templates, self.rules)
        if issues:
            first = issues[0]
            raise InvalidSetting(
                f"sms templates version {source.version}: {first.template}: {first.message}"
            )
        return templates


def templates_in_service(rules: Rules, spool_dir: Path) -> InService[TemplateSet]:
    """The template set for calls, cached beside the other kinds in the spool folder."""
    return InService(SmsTemplatesKind(rules), spool_dir / "sms_templates-in-service.json")
