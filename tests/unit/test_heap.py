"""``GrowingHeap`` (batch import): the collector is paused inside and as it was after; each step
frees the reference cycles made since the last one and freezes the rest; nothing stays frozen."""

from __future__ import annotations

import gc
import weakref

from loyalty.services.heap import GrowingHeap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_a_step_frees_cycles_and_the_collector_comes_back() -> None:
    assert gc.isenabled()
    with GrowingHeap() as heap:
        assert not gc.isenabled()
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        dead = weakref.ref(a)
        kept = Node()
        del a, b
        assert dead() is not None
        heap.step()
        assert dead() is None  # collected at the step
        assert gc.get_freeze_count() > 0  # the survivors (``kept`` among them) are frozen
        assert kept.other is None
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_paused_collector_stays_paused() -> None:
    gc.disable()
    try:
        with GrowingHeap():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
