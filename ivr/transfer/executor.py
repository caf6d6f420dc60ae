"""The transfer step of a call: carries out the engine's ``Transfer`` command.

The session hands the caller to the dialplan's ``Dial()`` (docs/architecture.md):
claim a slot, put the dial values on the channel, save the call's place as ``leg:
transfer``, pass the record to the transfer's watch, and continue to
``[ivr-transfer]``. A transfer that cannot start routes the flow at once.

The call's own side (its saved place, its record) stays the session's, reached
through :class:`Departing`; this module never imports the session.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Protocol

import structlog

from ivr.ari import events as ari
from ivr.ari.client import AriClient, AriError, Gone
from ivr.call import resume
from ivr.flow import events as fe
from ivr.flow.engine import CallState
from ivr.transfer import dialvars, outcomes
from ivr.transfer.service import Ticket
from ivr.transfer.watch import CallHandle

if TYPE_CHECKING:
    from ivr.transfer.service import TransferService

# The step's lines are the call's (as they were when the session held this code).
log = structlog.get_logger("ivr.call")


class Departing(Protocol):
    """What the transfer step needs of the call it moves (the call session)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def channel(self) -> ari.Channel: ...

    @property
    def dialled(self) -> str: ...

    @property
    def handed_over(self) -> bool: ...

    async def save_place(self, state: CallState, leg: str) -> bool:
        """Save the call's place on the channel; False when it could not be."""
        ...

    def depart(self, state: CallState) -> CallHandle:
        """The caller is about to leave Stasis: update and submit the record, mark the
        call departing, and return the handle the transfer's watch keeps."""
        ...

    def stay(self) -> None:
        """The transfer did not start: the call is no longer departing, and its next
        step saves its place as a menu call again."""
        ...


class TransferStep:
    """Starts transfers for calls; ``transfers`` None: every transfer fails (its route)."""

    def __init__(self, transfers: TransferService | None, client: AriClient) -> None:
        self._transfers = transfers
        self._client = client

    async def run(
        self, call: Departing, state: CallState | None, token: str, target: str
    ) -> fe.ActionResult | None:
        """None once the caller is on its way to ``[ivr-transfer]``; otherwise the result
        the flow routes on. Raises Gone when the caller left meanwhile."""
        transfers = self._transfers
        if transfers is None or state is None:
            log.warning("action_unavailable", action="Transfer")
            return fe.ActionResult(token, outcomes.FAILED)
        ticket = await transfers.begin(call.channel, state.node, target, call.id, call.dialled)
        if not isinstance(ticket, Ticket):
            return fe.ActionResult(token, ticket.outcome)
        try:
            await transfers.arm(ticket)
            if not await call.save_place(state, resume.LEG_TRANSFER):
                raise AriError(0, "the call's place could not be saved")
            if call.handed_over:
                raise AriError(0, "the controller is stopping")
            # A stopping controller leaves this call alone from now on.
            transfers.watch(ticket, call.depart(state))
            await self._client.continue_in_dialplan(
                call.channel.id, dialvars.CONTEXT, dialvars.EXTENSION, 1
            )
        except Gone:
            call.stay()
            await transfers.cancel(ticket, outcomes.ABANDONED)
            raise
        except AriError as e:
            call.stay()
            log.error("transfer_not_started", target=target, error=str(e))
            await transfers.cancel(ticket, outcomes.FAILED)
            return fe.ActionResult(token, outcomes.FAILED)
        return None


def result_on_return(saved: resume.Saved, channel: ari.Channel, node_kind: str) -> str | None:
    """The outcome of a transfer the call comes back from (the dialplan marks it on
    the channel before it re-enters Stasis), or None: not back from a transfer, or
    not dialled yet (a controller stopped between its save and its continue: the
    node is simply resumed, and transfers again). ``node_kind``: the saved node's."""
    if saved.leg != resume.LEG_TRANSFER:
        return None
    result = outcomes.returned_with(channel.variables)
    if result is None or node_kind != "transfer":
        return None
    log.info("transfer_returned", node=saved.node, outcome=result)
    return result
