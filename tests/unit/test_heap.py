"""``GrowingHeap`` (batch import): the collector is paused inside and as it was after; each step
freezes what was made since the last one, unexamined; nothing stays frozen after, and the
reference cycles made inside are then freed by the collector's next full collection."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from loyalty import load_program
from loyalty.services import replay as replay_module
from loyalty.services.heap import GrowingHeap, paused_collector
from loyalty.services.replay import replay_lines
from loyalty.services.synthetic import generate_history


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_a_step_freezes_cycles_unexamined_and_they_are_freed_after() -> None:
    assert gc.isenabled()
    with GrowingHeap() as heap:
        assert not gc.isenabled()
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        dead = weakref.ref(a)
        kept = Node()
        del a, b
        heap.step()
        assert gc.get_freeze_count() > 0  # what the batch made (``kept`` among them) is frozen
        gc.collect()
        assert dead() is not None  # frozen: no collection inside the heap looks at it
        assert kept.other is None
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.collect()
    assert dead() is None  # after the heap, a full collection frees it


def test_a_paused_collector_stays_paused() -> None:
    gc.disable()
    try:
        with GrowingHeap():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_replay_output_is_built_with_the_collector_paused_and_restores_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ReplayResult.output`` builds the summaries under ``paused_collector``: the collector is
    off while they are made, and as it was after (even when building them fails)."""
    seen: list[bool] = []
    with paused_collector():
        seen.append(gc.isenabled())
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        with paused_collector():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    try:
        with paused_collector():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()
    result = replay_lines(
        "soko",
        ['{"type":"enroll","at":"2024-01-02T10:00:00-05:00","member":"m1","email":"a@x.com"}'],
    )
    # the pause ``output`` takes, watched (the replay module is compiled in the compiled build,
    # and its result's engine a compiled class: the pause is watched, not the engine)
    body_done: list[bool] = []

    @contextmanager
    def watched() -> Iterator[None]:
        with paused_collector():
            seen.append(gc.isenabled())
            yield
            body_done.append(True)  # the summaries were made inside

    monkeypatch.setattr(replay_module, "paused_collector", watched)
    assert set(result.output()["members"]) == {"m1"}
    assert seen == [False, False] and body_done == [True] and gc.isenabled()


@pytest.mark.parametrize("preset", ["soko", "sogo", "soma"])
def test_a_replay_leaves_no_reference_cycles(preset: str) -> None:
    """``replay_lines`` pauses the collector for the whole replay, on the ground that applying
    inputs, accepted or rejected, makes no reference cycles (which only the collector frees)."""
    lines = list(generate_history(load_program(preset), members=30, months=6, seed=3))
    lines[5:5] = [
        "{not json",
        '{"type":"purchase","at":"2024-01-02T10:00:00Z","member":"nobody","order":"x"}',
        '{"type":"tick","at":"1999-01-01T00:00:00Z"}',
    ]
    gc.collect()
    result = replay_lines(preset, lines)
    assert len(result.rejected) >= 3 and result.accepted > 100
    assert gc.isenabled()
    assert gc.collect() == 0


def test_what_is_made_while_paused_joins_the_oldest_generation_unscanned() -> None:
    """Else the first young collection after the pause would scan all of it (a replay's state)."""
    with paused_collector():
        made = [Node() for _ in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    young = {id(o) for o in gc.get_objects(generation=0)}
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert not any(id(node) in young for node in made)
    assert all(id(node) in oldest for node in made)


def test_a_pause_inside_a_frozen_heap_leaves_it_frozen() -> None:
    """``GrowingHeap`` freezes what each batch keeps; a pause inside it must not unfreeze that."""
    with GrowingHeap() as heap:
        kept = [Node() for _ in range(100)]
        heap.step()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with paused_collector():
            made = Node()
        assert gc.get_freeze_count() > frozen  # what the pause made is frozen too
        assert kept and made.other is None
    assert gc.get_freeze_count() == 0
