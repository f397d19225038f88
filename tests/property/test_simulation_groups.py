"""The simulator's table of identifiers (``simulation._Table``), an open-addressing table of
(node, bucket) pairs with a union-find over the buckets, keeps together every line that must
stay together (issue 4's partitions): a member's lines go to its bucket, and two buckets whose
lines name one identifier (an order, a return, an email, a phone) are joined into one class.

Over generated lines (with a member's bucket and other identifiers, or with identifiers only:
the lines ``_Table.resolve`` places after the scan), many of whose nodes share the half that
picks their first slot (so they collide and are probed past), in a table started at four slots
(so it doubles several times), checked against a plain union-find over buckets and nodes: two
buckets are in one class exactly when the reference connects them; every line ends in a bucket
of the class its identifiers are in; and buckets that no identifier ties stay apart."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.services.simulation import BUCKETS, RESERVED, _Table

# nodes as ``_node`` makes them: the CRC-32 half above bit 31 picks the slot; few distinct
# halves, so that many nodes start their probe at the same slot
NODES = st.builds(
    lambda crc, low: (crc << 31) ^ (low + RESERVED),
    st.integers(0, 3),
    st.integers(0, 40),
)
BUCKET = st.integers(0, 7)


class Reference:
    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, node: object) -> object:
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            node = self.parent[node]
        return node

    def union(self, a: object, b: object) -> None:
        self.parent[self.find(b)] = self.find(a)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(BUCKET, st.lists(NODES, max_size=3)), max_size=40),
    st.lists(st.lists(NODES, min_size=1, max_size=3), max_size=15),
)
def test_lines_naming_one_identifier_end_in_one_class(
    members: list[tuple[int, list[int]]], pending: list[list[int]]
) -> None:
    table, reference = _Table(bits=2), Reference()
    for bucket, nodes in members:  # the scan's pairs, as ``_Table.enter`` takes them
        table.enter(array("q", [n for node in nodes for n in (node, bucket)]))
        for node in nodes:
            reference.union(("bucket", bucket), node)
    seen = {node for _, nodes in members for node in nodes}
    flat = array("q")
    for index, nodes in enumerate(pending):
        flat.extend([index, len(nodes), *nodes])
        if not seen.intersection(nodes):  # named by nothing before: its first node's bucket
            reference.union(("bucket", (nodes[0] >> 31) % BUCKETS), nodes[0])
        for node in nodes[1:]:
            reference.union(nodes[0], node)
        seen.update(nodes)
    placed = table.resolve(flat)
    assert len(placed) == len(pending)
    assert len(table) == len(seen)
    buckets = sorted(
        {b for b, _ in members} | {(n[0] >> 31) % BUCKETS for n in pending} | set(placed)
    )
    for a in buckets:
        for b in buckets:
            together = reference.find(("bucket", a)) == reference.find(("bucket", b))
            assert (table.cls(a) == table.cls(b)) == together, (a, b)
    for nodes, bucket in zip(pending, placed, strict=True):
        assert reference.find(nodes[0]) == reference.find(("bucket", bucket))
    for bucket, nodes in members:
        for node in nodes:
            assert table.cls(table.bucket(node)) == table.cls(bucket)
    untouched = set(range(BUCKETS)).difference(buckets)
    assert all(table.cls(b) == b for b in untouched)
