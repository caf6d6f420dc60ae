"""The SMS step of a call: carries out the engine's ``SendSms`` command.

The request is durable (committed, or fsynced to the spool) before the flow says
送信を受け付けました; a refusal takes the node's route for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import structlog

from ivr.flow import events as fe
from ivr.sms.service import UNAVAILABLE, SmsRequester

# The step's lines are the call's (as they were when the session held this code).
log = structlog.get_logger("ivr.call")


class SmsStep:
    """Asks for SMS on behalf of calls; ``sms`` None: every request is "unavailable"."""

    def __init__(self, sms: SmsRequester | None) -> None:
        self._sms = sms

    async def run(
        self,
        call_id: uuid.UUID,
        node: str,
        token: str,
        template: str,
        number: str,
        variables: Mapping[str, str],
    ) -> fe.ActionResult:
        """The result the flow routes on: ``queued`` or a refusal."""
        if self._sms is None:
            log.warning("action_unavailable", action="SendSms")
            return fe.ActionResult(token, UNAVAILABLE)
        outcome = await self._sms.request(call_id, node, template, number, variables=variables)
        return fe.ActionResult(token, outcome)
