"""The procurement's life: draft -> invited -> open -> closed -> evaluated -> decided (or cancelled).

- draft: configured, nothing sent.
- invited: the invitation batch has started (some invitations may still be unsent).
- open: every invitation has gone out; bids are accepted until the deadline.
- closed: the deadline has passed; no more bids on time; prices may be unsealed (after any opening delay).
- evaluated: every admitted bid of every part is scored (results ready).
- decided: the expert has confirmed the outcome. Final.
- cancelled: stopped for good, from any state but decided. Final.

Each transition is a plain function that returns the new state or raises LifecycleError with the reason.
"""
from __future__ import annotations

import enum
from datetime import datetime


class State(str, enum.Enum):
    DRAFT = "draft"
    INVITED = "invited"
    OPEN = "open"
    CLOSED = "closed"
    EVALUATED = "evaluated"
    DECIDED = "decided"
    CANCELLED = "cancelled"


# the states as the expert reads them (Telegram, console, reports)
STATE_ET = {
    "draft": "mustand (kutseid pole saadetud)",
    "invited": "kutsed saatmisel",
    "open": "pakkumused on oodatud",
    "closed": "tähtaeg on möödas",
    "evaluated": "hinnatud",
    "decided": "otsustatud",
    "cancelled": "tühistatud",
}


def state_et(state: str) -> str:
    return STATE_ET.get(str(getattr(state, "value", state)), str(state))


FINAL = {State.DECIDED, State.CANCELLED}
ACCEPTING_BIDS = {State.INVITED, State.OPEN}


class LifecycleError(Exception):
    pass


def _require(state: State, allowed: set[State], action: str) -> None:
    if state not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise LifecycleError(f"cannot {action} a procurement that is {state.value} (allowed when: {names})")


def start_inviting(state: State, now: datetime, deadline: datetime) -> State:
    _require(state, {State.DRAFT, State.INVITED}, "send invitations for")
    if now >= deadline:
        raise LifecycleError("the deadline has already passed")
    return State.INVITED


def invitations_complete(state: State) -> State:
    _require(state, {State.INVITED, State.OPEN}, "open")
    return State.OPEN


def close(state: State, now: datetime, deadline: datetime) -> State:
    """At the deadline. Idempotent for a closed procurement."""
    if state == State.CLOSED:
        return state
    _require(state, {State.DRAFT, State.INVITED, State.OPEN}, "close")
    if now < deadline:
        raise LifecycleError(f"the deadline {deadline.isoformat()} has not passed yet")
    return State.CLOSED


def extend_deadline(state: State, now: datetime, old: datetime, new: datetime) -> State:
    _require(state, {State.DRAFT, State.INVITED, State.OPEN}, "extend the deadline of")
    if new <= old:
        raise LifecycleError("the new deadline must be later than the current one")
    if new <= now:
        raise LifecycleError("the new deadline must be in the future")
    return state


def reopen_for_bids(state: State, now: datetime, old: datetime, new: datetime) -> State:
    """No (admissible) bid came by the deadline: the expert extends it and bids are awaited again."""
    _require(state, {State.CLOSED}, "reopen")
    if new <= old or new <= now:
        raise LifecycleError("the new deadline must be later than the current one and in the future")
    return State.OPEN


def mark_evaluated(state: State, all_scored: bool) -> State:
    _require(state, {State.CLOSED, State.EVALUATED}, "mark as evaluated")
    if not all_scored:
        raise LifecycleError("some admitted bids still lack grades or decisions")
    return State.EVALUATED


def reopen_evaluation(state: State) -> State:
    """A grade changed or a bid was re-admitted after results were ready."""
    _require(state, {State.CLOSED, State.EVALUATED}, "change the evaluation of")
    return State.CLOSED


def decide(state: State) -> State:
    _require(state, {State.EVALUATED}, "decide")
    return State.DECIDED


def cancel(state: State) -> State:
    if state in FINAL:
        raise LifecycleError(f"cannot cancel a procurement that is {state.value}")
    return State.CANCELLED


def is_late(received_at: datetime, deadline: datetime) -> bool:
    """A bid is on time when the server received it before the deadline (strictly before)."""
    return received_at >= deadline
