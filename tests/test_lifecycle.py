"""Lifecycle transitions (allowed and refused, with reasons), lateness at the deadline, sealing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hankebot.core import lifecycle as lc
from hankebot.core.lifecycle import LifecycleError, State
from hankebot.core.sealing import is_sealed, opening_time
from tests.helpers import TALLINN

DEADLINE = datetime(2026, 1, 19, 15, 0, tzinfo=TALLINN)
BEFORE = DEADLINE - timedelta(days=3)
AFTER = DEADLINE + timedelta(minutes=1)


def test_happy_path():
    s = State.DRAFT
    s = lc.start_inviting(s, BEFORE, DEADLINE)
    assert s == State.INVITED
    s = lc.invitations_complete(s)
    assert s == State.OPEN
    s = lc.close(s, DEADLINE, DEADLINE)
    assert s == State.CLOSED
    s = lc.mark_evaluated(s, all_scored=True)
    assert s == State.EVALUATED
    s = lc.decide(s)
    assert s == State.DECIDED


def test_resumed_batches_and_idempotent_steps():
    assert lc.start_inviting(State.INVITED, BEFORE, DEADLINE) == State.INVITED  # a resumed batch
    assert lc.invitations_complete(State.OPEN) == State.OPEN
    assert lc.close(State.CLOSED, BEFORE, DEADLINE) == State.CLOSED  # idempotent even if asked early
    assert lc.mark_evaluated(State.EVALUATED, True) == State.EVALUATED
    assert lc.reopen_evaluation(State.EVALUATED) == State.CLOSED
    assert lc.reopen_evaluation(State.CLOSED) == State.CLOSED


@pytest.mark.parametrize("state", [State.DRAFT, State.INVITED, State.OPEN])
def test_close_from_any_pre_deadline_state(state):
    assert lc.close(state, AFTER, DEADLINE) == State.CLOSED


@pytest.mark.parametrize("state", [State.DRAFT, State.INVITED, State.OPEN, State.CLOSED, State.EVALUATED])
def test_cancel_from_each_non_final_state(state):
    assert lc.cancel(state) == State.CANCELLED


@pytest.mark.parametrize("state", [State.DECIDED, State.CANCELLED])
def test_cancel_refused_when_final(state):
    with pytest.raises(LifecycleError, match=f"cannot cancel a procurement that is {state.value}"):
        lc.cancel(state)


REFUSED = [
    (lambda s: lc.start_inviting(s, BEFORE, DEADLINE), [State.OPEN, State.CLOSED, State.EVALUATED, State.DECIDED, State.CANCELLED], "send invitations for"),
    (lc.invitations_complete, [State.DRAFT, State.CLOSED, State.EVALUATED, State.DECIDED, State.CANCELLED], "open"),
    (lambda s: lc.close(s, AFTER, DEADLINE), [State.EVALUATED, State.DECIDED, State.CANCELLED], "close"),
    (lambda s: lc.extend_deadline(s, BEFORE, DEADLINE, DEADLINE + timedelta(days=1)),
     [State.CLOSED, State.EVALUATED, State.DECIDED, State.CANCELLED], "extend the deadline of"),
    (lambda s: lc.mark_evaluated(s, True), [State.DRAFT, State.INVITED, State.OPEN, State.DECIDED, State.CANCELLED], "mark as evaluated"),
    (lc.reopen_evaluation, [State.DRAFT, State.INVITED, State.OPEN, State.DECIDED, State.CANCELLED], "change the evaluation of"),
    (lc.decide, [State.DRAFT, State.INVITED, State.OPEN, State.CLOSED, State.DECIDED, State.CANCELLED], "decide"),
]


@pytest.mark.parametrize("fn,states,action", REFUSED, ids=[a for _, _, a in REFUSED])
def test_refused_transitions_name_the_state(fn, states, action):
    for s in states:
        with pytest.raises(LifecycleError) as ei:
            fn(s)
        msg = str(ei.value)
        assert msg.startswith(f"cannot {action} a procurement that is {s.value}"), msg
        assert "allowed when:" in msg


def test_transition_table_is_complete():
    """Every (function, state) pair is either allowed or refused with a LifecycleError: nothing else."""
    fns = {
        "start_inviting": lambda s: lc.start_inviting(s, BEFORE, DEADLINE),
        "invitations_complete": lc.invitations_complete,
        "close": lambda s: lc.close(s, AFTER, DEADLINE),
        "extend": lambda s: lc.extend_deadline(s, BEFORE, DEADLINE, DEADLINE + timedelta(days=1)),
        "mark_evaluated": lambda s: lc.mark_evaluated(s, True),
        "decide": lc.decide,
        "cancel": lc.cancel,
    }
    allowed = {}
    for name, fn in fns.items():
        for s in State:
            try:
                allowed[(name, s)] = fn(s)
            except LifecycleError:
                pass
    assert allowed == {
        ("start_inviting", State.DRAFT): State.INVITED,
        ("start_inviting", State.INVITED): State.INVITED,
        ("invitations_complete", State.INVITED): State.OPEN,
        ("invitations_complete", State.OPEN): State.OPEN,
        ("close", State.DRAFT): State.CLOSED,
        ("close", State.INVITED): State.CLOSED,
        ("close", State.OPEN): State.CLOSED,
        ("close", State.CLOSED): State.CLOSED,
        ("extend", State.DRAFT): State.DRAFT,
        ("extend", State.INVITED): State.INVITED,
        ("extend", State.OPEN): State.OPEN,
        ("mark_evaluated", State.CLOSED): State.EVALUATED,
        ("mark_evaluated", State.EVALUATED): State.EVALUATED,
        ("decide", State.EVALUATED): State.DECIDED,
        **{("cancel", s): State.CANCELLED for s in State if s not in lc.FINAL},
    }


def test_refusals_for_time_and_completeness():
    with pytest.raises(LifecycleError, match="deadline has already passed"):
        lc.start_inviting(State.DRAFT, DEADLINE, DEADLINE)
    with pytest.raises(LifecycleError, match="has not passed yet"):
        lc.close(State.OPEN, DEADLINE - timedelta(microseconds=1), DEADLINE)
    with pytest.raises(LifecycleError, match="later than the current one"):
        lc.extend_deadline(State.OPEN, BEFORE, DEADLINE, DEADLINE)
    with pytest.raises(LifecycleError, match="must be in the future"):
        lc.extend_deadline(State.OPEN, DEADLINE + timedelta(days=2), DEADLINE, DEADLINE + timedelta(days=1))
    with pytest.raises(LifecycleError, match="lack grades or decisions"):
        lc.mark_evaluated(State.CLOSED, all_scored=False)


def test_extend_keeps_state():
    assert lc.extend_deadline(State.OPEN, BEFORE, DEADLINE, DEADLINE + timedelta(hours=1)) == State.OPEN


def test_is_late_at_exactly_the_deadline():
    assert lc.is_late(DEADLINE, DEADLINE)
    assert not lc.is_late(DEADLINE - timedelta(microseconds=1), DEADLINE)
    assert lc.is_late(DEADLINE + timedelta(seconds=1), DEADLINE)
    # the same instant in another zone is the same instant
    assert lc.is_late(DEADLINE.astimezone(timezone.utc), DEADLINE)
    assert not lc.is_late((DEADLINE - timedelta(seconds=1)).astimezone(timezone.utc), DEADLINE)


def test_sealing_without_delay():
    assert is_sealed(DEADLINE - timedelta(seconds=1), DEADLINE)
    assert not is_sealed(DEADLINE, DEADLINE)
    assert opening_time(DEADLINE) == DEADLINE


def test_sealing_with_opening_delay():
    assert opening_time(DEADLINE, 30) == DEADLINE + timedelta(minutes=30)
    assert is_sealed(DEADLINE, DEADLINE, 30)
    assert is_sealed(DEADLINE + timedelta(minutes=29, seconds=59), DEADLINE, 30)
    assert not is_sealed(DEADLINE + timedelta(minutes=30), DEADLINE, 30)
    assert State.CLOSED not in lc.ACCEPTING_BIDS and State.OPEN in lc.ACCEPTING_BIDS
