"""Commands the flow engine asks the call session to carry out, in order."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the caller's channel."""


@dataclass(frozen=True, slots=True)
class Play:
    """Play prompts in sequence as one playback, identified by ``token``.

    ``prompts`` are prompt ids that the session resolves to media (see
    ``ivr.prompts``). When a ``Play`` is issued while another playback of the same
    call is running, the session starts the new one before stopping the old one:
    Asterisk then switches with no gap (stopping first costs ~200 ms on 16.x).
    """

    token: str
    prompts: tuple[str, ...]
    variables: dict[str, str] = field(default_factory=dict)
    """Values for ``{placeholders}`` in these prompts' texts, on top of the call's
    ``CallContext.variables`` (these win). The engine sets ``digits`` and
    ``digits_kana`` when it reads back what the caller keyed in."""


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Stop the playback started with ``token`` (barge-in)."""

    token: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Fire ``TimerFired(token)`` after ``seconds`` unless cancelled first."""

    token: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    token: str


@dataclass(frozen=True, slots=True)
class SendSms:
    """Queue an SMS from ``template`` to ``to`` (E.164-less Japanese number)."""

    token: str
    template: str
    to: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Transfer the caller to a named target; never a number the caller typed."""

    token: str
    target: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call; ``outcome`` is recorded as the call's outcome."""

    outcome: str


@dataclass(frozen=True, slots=True)
class Record:
    """A step of the caller's path through the flow, for the call record.

    ``kind`` is a stable id: ``enter`` (node entered), ``key`` (valid choice),
    ``invalid``, ``timeout``, ``repeat``, ``input`` (collected digits), ...
    """

    kind: str
    node: str
    detail: dict[str, str] = field(default_factory=dict)


Command = (
    Answer | Play | StopPlayback | StartTimer | CancelTimer | SendSms | Transfer | Hangup | Record
)
