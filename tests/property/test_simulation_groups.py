"""The simulator's union-find (``simulation._Groups``), an open-addressing table of (node,
parent) pairs, groups nodes as a plain union-find does and deals groups round-robin in the order
they are first met (issue 4's partitions).

Over generated unions of nodes, many of which share the half of the node that picks their first
slot (so they collide and are probed past), in a table started at four slots (so it doubles
several times): two nodes are in one group exactly when the reference says so; every node of a
group is dealt the same partition; the groups are dealt 0, 1, 2, ... in the order ``deal`` first
meets them; and a dealt group's node keeps its partition when looked up again."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.services.simulation import RESERVED, _Groups

# nodes as ``_node`` makes them: the CRC-32 half above bit 31 picks the slot; few distinct
# halves, so that many nodes start their probe at the same slot
NODES = st.builds(
    lambda crc, low: (crc << 31) ^ (low + RESERVED),
    st.integers(0, 3),
    st.integers(0, 40),
)


class Reference:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, node: int) -> int:
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            node = self.parent[node]
        return node

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(NODES, NODES), max_size=80),
    st.lists(NODES, max_size=40),
    st.integers(1, 5),
)
def test_groups_match_a_plain_union_find_and_are_dealt_round_robin(
    unions: list[tuple[int, int]], lone: list[int], parts: int
) -> None:
    groups, reference = _Groups(bits=2), Reference()
    for a, b in unions:
        groups.union(a, b)
        reference.union(a, b)
    nodes = [n for pair in unions for n in pair] + lone
    assert len(groups) == len({n for pair in unions for n in pair})
    for a in nodes:
        for b in nodes:
            assert (groups.find(a) == groups.find(b)) == (reference.find(a) == reference.find(b))
    dealt: dict[int, int] = {}  # reference root -> partition
    for node in nodes:
        root = reference.find(node)
        expected = dealt.setdefault(root, len(dealt) % parts)
        assert groups.deal(node, parts) == expected
    for node in nodes:  # again, once every group is dealt
        assert groups.deal(node, parts) == dealt[reference.find(node)]
    assert groups.dealt == len(dealt)
