"""What the call session and the dispatcher use to transfer a caller to a city line.

The session asks :meth:`TransferService.begin` (the target by name, the trunk's
limit, a capacity slot), then :meth:`arm` (the dial values and the attempt on the
channel, the application subscribed to the channel), saves the call's place with
``leg: transfer``, hands its record over with :meth:`watch`, and ``continue``\\ s the
caller to ``[ivr-transfer]``, where ``Dial()`` rings and bridges with no controller
involved. From then on the dispatcher passes the channel's events here, and
:mod:`ivr.transfer.follow` follows the transfer to its end (and again after a
restart: :meth:`reconcile`).

This module is the starting side: the trunk's channel limit, the target's capacity
slot, the dial values.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from ivr.ari import events as ari
from ivr.ari.client import AriClient, AriError
from ivr.config import TransferSettings
from ivr.store.calls import CallRecorder
from ivr.transfer import dialvars, outcomes
from ivr.transfer.follow import Follower
from ivr.transfer.model import TargetSet
from ivr.transfer.records import AttemptWriter
from ivr.transfer.slots import Slots
from ivr.transfer.watch import (
    REV_ENDED,
    REV_STARTED,
    Attempt,
    CallHandle,
    Watch,
    now,
)

log = structlog.get_logger("ivr.transfer")


@dataclass(frozen=True)
class Ticket:
    """A transfer cleared to dial: the slot is held until it ends or is cancelled."""

    attempt: Attempt
    channel: ari.Channel
    plan: dialvars.DialPlan


@dataclass(frozen=True)
class Refused:
    """The transfer is not attempted; ``outcome`` routes the flow."""

    outcome: str


class TransferService:
    def __init__(
        self,
        client: AriClient,
        app: str,
        targets: Callable[[], TargetSet],
        slots: Slots,
        attempts: AttemptWriter,
        recorder: CallRecorder,
        settings: TransferSettings,
    ) -> None:
        self._client = client
        self._app = app
        self._targets = targets
        self.slots = slots
        self._attempts = attempts
        self.settings = settings
        self._follow = Follower(client, app, slots, attempts, recorder)

    @property
    def watches(self) -> dict[str, Watch]:
        """The transfers in flight, by the caller's channel id."""
        return self._follow.watches

    # -- the trunk's channel limit ----------------------------------------

    async def _trunk_in_use(self) -> int | None:
        """Channels on the trunk now, plus transfers armed here whose outbound leg
        Asterisk has not created yet; None when it cannot be known."""
        try:
            ids = await self._client.endpoint_channels("PJSIP", self.settings.trunk_endpoint)
        except AriError as e:
            log.warning("trunk_count_failed", error=str(e))
            return None
        pending = sum(1 for w in self.watches.values() if not w.ringing and not w.done)
        return len(ids) + pending

    async def admit(self) -> bool:
        """Whether a new inbound call may be served: False once the trunk holds more
        channels than ``transfer.trunk_channels`` (the caller then hears a short busy
        message from the dialplan instead of degraded service)."""
        limit = self.settings.trunk_channels
        if limit <= 0:
            return True
        used = await self._trunk_in_use()  # the new call's own channel included
        return used is None or used <= limit

    # -- starting a transfer (the session) ----------------------------------

    async def begin(
        self,
        channel: ari.Channel,
        node: str,
        target_name: str,
        call_id: uuid.UUID,
        dialled: str,
    ) -> Ticket | Refused:
        """Clear a transfer to dial, or say why not (the attempt is recorded either way)."""
        started = now()
        target = self._targets().get(target_name)
        attempt = Attempt(
            uuid.uuid4(),
            call_id,
            node,
            target_name,
            target.number if target else "",
            target.endpoint if target else "",
            started,
            dialled,
        )

        def refused(outcome: str, **why: Any) -> Refused:
            log.warning(
                "transfer_refused",
                channel_id=channel.id,
                target=target_name,
                outcome=outcome,
                **why,
            )
            self._attempts.submit(
                attempt.row(channel.id, ended_at=started, outcome=outcome, rev=REV_ENDED)
            )
            return Refused(outcome)

        if target is None:
            return refused(outcomes.FAILED, reason="unknown_target")
        s = self.settings
        try:
            plan = dialvars.plan(
                target,
                s.endpoints,
                caller_id_mode=s.caller_id,
                help_line=s.help_line_number,
                dialled=dialled,
                caller=channel.caller_number,
                whisper_last4=s.whisper_last4,
            )
        except dialvars.DialRefused as e:
            return refused(outcomes.FAILED, reason=str(e))
        if s.trunk_channels > 0:
            used = await self._trunk_in_use()
            if used is not None and used + 1 > s.trunk_channels:
                return refused(outcomes.TRUNK_CAPACITY, in_use=used, limit=s.trunk_channels)
        if not await self.slots.claim(
            channel.id, target.name, target.max_calls, attempt.id, call_id
        ):
            return refused(outcomes.CAPACITY, limit=target.max_calls)
        return Ticket(attempt, channel, plan)

    async def arm(self, ticket: Ticket) -> None:
        """Put the dial values and the attempt on the channel, and subscribe to it so
        its events keep coming once it leaves Stasis. Raises AriError (Gone: the
        caller left)."""
        name = ticket.channel.name
        values = [
            *ticket.plan.variables(),
            (outcomes.RESULT_VAR, ""),  # this attempt's result, once it has one
            (outcomes.ANSWERED_VAR, ""),
            (outcomes.TRANSFER_VAR, ticket.attempt.encode()),
        ]
        for var, value in values:
            await self._client.set_shared(name, var, value)
        await self._client.subscribe(self._app, f"channel:{ticket.channel.id}")

    def watch(self, ticket: Ticket, handle: CallHandle) -> None:
        """The channel's events come here from now on; so does the call's record."""
        w = Watch(ticket.attempt, ticket.channel.id, ticket.channel.name, handle)
        self.watches[w.channel_id] = w
        self._attempts.submit(w.attempt.row(w.channel_id, rev=REV_STARTED))
        log.info(
            "transfer_dialling",
            channel_id=w.channel_id,
            target=w.attempt.target,
            dial=ticket.plan.dial_string,
            ring_seconds=ticket.plan.ring_seconds,
            caller_id=ticket.plan.caller_id,
        )

    async def cancel(self, ticket: Ticket, outcome: str) -> None:
        """The transfer did not start after all (the caller left, ARI refused)."""
        self.watches.pop(ticket.channel.id, None)
        await self.slots.release(ticket.channel.id)
        self._attempts.submit(
            ticket.attempt.row(ticket.channel.id, ended_at=now(), outcome=outcome, rev=REV_ENDED)
        )
        with contextlib.suppress(AriError):
            await self._client.unsubscribe(self._app, f"channel:{ticket.channel.id}")

    # -- following the channel (the dispatcher): ivr.transfer.follow ----------

    def owns(self, channel_id: str | None) -> bool:
        return self._follow.owns(channel_id)

    def on_event(self, event: ari.AriEvent) -> None:
        """An event of a watched channel; must not block."""
        self._follow.on_event(event)

    async def reconcile(self, channels: list[ari.Channel]) -> None:
        """After a (re)connection: follow the transfers in progress again, end those
        whose channels went away, and reconcile the capacity slots."""
        await self._follow.reconcile(channels)

    async def close(self) -> None:
        await self._follow.close()
