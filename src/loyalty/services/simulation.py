"""What-if simulation: replay one history through several program variants (presets or TOML files)
and compute each variant's economics with the figure functions of the database reports
(``loyalty.domain.figures``): one definition of each figure, two sources of data.

Members are independent, so the history is split by member across processes:

1. **Scan** (in parallel, by byte ranges of the file): each line is read with pydantic-core's JSON
   reader (the engine's, twice as fast as ``json.loads``) and put in a bucket: its member's
   (``member_bucket``: the CRC-32 of the member's id, modulo ``BUCKETS``). Each range is written
   to a file of its own, its lines grouped by bucket, each with its number. ``campaign`` and
   ``tick`` inputs are global: they go to every partition. A line's other identifiers (its
   order, its return id and, for an enrollment, its email and phone: SG-1, one per person) are
   entered in a table (``_Table``) with the line's bucket as the ranges come in; two buckets
   whose lines name one identifier are joined into one class (a union-find over the buckets),
   since the engine's outcome for one may depend on the other. A line naming no member (a
   shipment or a return naming only its order, an anonymous purchase that a retro-credit later
   joins to its member) goes to the bucket of an identifier it names, once the scan is done.
2. **Partition**: the classes of buckets, in the order of their first bucket, are cut into runs
   of about as many lines each (``PARTITION_MEMBERS`` members each on average, at least
   ``SPREAD`` a process): a partition is its buckets' slices of the files the scan wrote (mostly
   one slice a range, its buckets being consecutive), read in the history's order with their
   line numbers (rejected lines are reported as a replay reports them). Only the lines naming
   no member are written a second time, into their buckets; the others stay where the scan
   wrote them. (Until stop 29 a union-find over every identifier dealt groups round-robin,
   after the scan, and the history was written again by partition: ~20 s more at a million
   members.) A history whose buckets all join into one class is replayed whole.
3. **Replay** (one child process a partition, ``services.children``: it ends without freeing the
   engines it built, which would cost ~6.5% of the work): the partition's lines are parsed
   once and replayed through a fresh in-memory ``Engine`` for each variant; the task returns
   figure rows (lots by expiry month, ledger sums by month and kind, members by tier and status,
   certificates, qualifying sales, month-end snapshots), which add up across partitions.

Per member the outcome is the one of a replay of the whole file (a differential test checks it):
the engine keeps its state per member, apart from program-wide registries that the grouping above
keeps together, and its clock. The clock rule (an input earlier than the last accepted one is
rejected) depends on every member's lines; in a history in time order it never fires, otherwise
the partitions are told the whole history's clock before each line that goes back in time: that
clock comes from which lines were accepted, so it is first estimated (every line accepted), then
corrected from the replay's rejections until the clock given and the clock seen agree (at most
``MAX_ROUNDS`` replays; then the history is replayed as one partition). Likewise the figures are
as of the last accepted input of the whole history.

A history that links a registration to a member number (SM-2) is replayed as one partition (the
number's owner is only known during the replay): exact, but on one core. Left as it is: a
rejection that names another member's certificate code may be worded "unknown certificate code"
instead of "belongs to another member" (the line is rejected either way).

The figures are as of the last accepted input, as ``loyalty import`` then ``loyalty jobs run``
would leave the database: members with jobs due by then are advanced, as ``jobs run`` does.
Members per tier are also counted at each month end (program time zone) and at that final time,
changing nothing; net outstanding points at each month end are the running sum of the ledger.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from loyalty.domain.calendar import local_date, month_text, next_month_start, zone
from loyalty.domain.engine import Engine
from loyalty.domain.errors import LoyaltyError
from loyalty.domain.events import CACHED_STRINGS, Event, parse_event
from loyalty.domain.figures import (
    activity_figures,
    economics_figures,
    expiry_month,
    liability_figures,
    month_of,
    outstanding_over_time,
    tier_figures,
    tiers_over_time,
)
from loyalty.domain.handlers import enroll_contacts
from loyalty.domain.jobs import next_due
from loyalty.domain.money import ZERO
from loyalty.domain.summary import status
from loyalty.domain.tiers import requalify, tier_on
from loyalty.programs.schema import Program
from loyalty.services.children import ChildLost, keep_until_exit, run_in_children
from loyalty.services.heap import paused_collector

GLOBAL_TYPES = frozenset({"campaign", "tick"})
EMPTY, RESERVED = 0, 1  # a free slot of the identifiers' table (no node is below RESERVED)
# a member's lines go to bucket CRC-32(member) % BUCKETS; a partition is a set of buckets
BUCKETS = 4096
EVERY_BUCKET = BUCKETS  # global inputs: in every partition
PENDING = BUCKETS + 1  # lines naming no member: their bucket is decided after the scan
SLOTS = BUCKETS + 2
NO_TIME = -(2**63)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY = EPOCH.toordinal()
ZERO_OFFSET = timedelta(0)
# members a partition at most: bounds a worker's memory, and a smaller state misses the cache less
# (a million members: the replay of both variants 219.7 s with 5,000, 239.5 s with 20,000)
PARTITION_MEMBERS = 5_000
SPREAD = 4  # partitions a process at least (so that no core waits for the last one)
SCAN_CHUNK = 16 << 20  # bytes of the history a scan task reads, at least
SCAN_SPREAD = 8  # scan tasks a process, at most (larger ranges for a larger history)
MAX_ROUNDS = 3  # estimate, correction, confirmation; then one partition
Progress = Callable[[str, int, int], None]


# -- scan ------------------------------------------------------------------------------------------
def _node(kind: str, value: str) -> int:
    """A 63-bit hash naming one identifier: CRC-32 and Adler-32 side by side, the same in every
    process (Python's ``hash`` of a string is not), at a sixth of the cost of BLAKE2b. A
    collision only puts two members in the same partition, which changes nothing in the
    outcome."""
    data = f"{kind}\x00{value}".encode()
    node = zlib.crc32(data) << 31 ^ zlib.adler32(data)
    return node + RESERVED if node < RESERVED else node


def _aware_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _micros(at: datetime, offset: timedelta) -> int:
    """Microseconds since 1970-01-01 UTC of a time whose UTC offset is ``offset``, counted in
    integers from its fields (``(at - EPOCH) // timedelta(microseconds=1)`` makes two timedeltas
    and costs ~1.5% of a simulation's scan)."""
    seconds = (at.toordinal() - EPOCH_DAY) * 86400 + at.hour * 3600 + at.minute * 60 + at.second
    seconds -= offset.days * 86400 + offset.seconds
    return seconds * 1_000_000 + at.microsecond - offset.microseconds


def _moment(micros: int, offset: int) -> datetime:
    """The time ``_micros`` counted, with its UTC offset (as the engine prints it)."""
    return (EPOCH + timedelta(microseconds=micros)).astimezone(timezone(timedelta(seconds=offset)))


@dataclass
class ScanResult:
    """What the scan of one byte range of the history learnt: each line's time (arrays: one item
    a line), the identifiers that tie lines to buckets, and, when the range was written to its
    file, where each bucket's lines are in it."""

    times: array[int] = field(default_factory=lambda: array("q"))  # UTC microseconds
    offsets: array[int] = field(default_factory=lambda: array("i"))  # UTC offset in seconds
    # (node, bucket) for each identifier besides the member of a line naming its member
    pairs: array[int] = field(default_factory=lambda: array("q"))
    # each line naming no member but other identifiers: its index in the range, how many
    # identifiers, the identifiers (its bucket is decided after the scan: ``_Table.resolve``)
    pending: array[int] = field(default_factory=lambda: array("q"))
    weights: array[int] = field(default_factory=lambda: array("q", bytes(8 * SLOTS)))  # lines
    # where each bucket's lines are in the range's files: byte offset, bytes, first number, lines
    slices: array[int] = field(default_factory=lambda: array("q"))
    count: int = 0  # lines, blank ones included
    blank: int = 0
    ordered: bool = True  # no line earlier than one before it (within the range)
    first: int = NO_TIME  # earliest and latest time in the range
    last: int = NO_TIME
    enrollments: int = 0
    links: int = 0  # enrollments linking to a member number (SM-2)
    odd: int = 0  # lines the scan cannot read but the engine's parser might accept


def _bucket(data: dict[str, Any], out: ScanResult, index: int) -> int:
    """The line's bucket: its member's (``member_bucket``), every partition's for a global
    input, ``PENDING`` for a line naming no member but another identifier (a return naming its
    order), 0 for a line naming nothing. The line's other identifiers are noted with it."""
    kind = data.get("type")
    if kind in GLOBAL_TYPES:
        return EVERY_BUCKET
    keys = []
    order = data.get("order")
    if isinstance(order, str):
        keys.append(_node("o", order))
    if kind == "return" and isinstance(data.get("return"), str):
        keys.append(_node("r", data["return"]))
    if kind == "enroll":
        out.enrollments += 1
        email, phone = data.get("email"), data.get("phone")
        email, phone = enroll_contacts(  # as the engine keeps them (a blank one is none)
            email if isinstance(email, str) else None, phone if isinstance(phone, str) else None
        )
        if email is not None:
            keys.append(_node("e", email))
        if phone is not None:
            keys.append(_node("p", phone))
        if data.get("member_number") is not None:
            out.links += 1
    member = data.get("member")
    if isinstance(member, str):
        bucket = member_bucket(member)
        pairs = out.pairs
        for key in keys:
            pairs.append(key)
            pairs.append(bucket)
        return bucket
    if not keys:
        return 0
    out.pending.append(index)
    out.pending.append(len(keys))
    out.pending.extend(keys)
    return PENDING


def member_bucket(member: str) -> int:
    """The bucket of a member's lines: the CRC-32 of its id, modulo ``BUCKETS``."""
    return zlib.crc32(f"m\x00{member}".encode()) % BUCKETS


def _scan_lines(lines: Iterator[bytes], files: tuple[Path, Path] | None = None) -> ScanResult:
    """Scan the lines of a range; with ``files`` (lines, numbers), also write its lines there,
    grouped by bucket, each with its index in the range (``ScanResult.slices``). (Lists, made
    arrays at the end: the compiled build appends to a list in place, to an array through a
    method looked up each time.)"""
    out = ScanResult()
    weights = [0] * SLOTS
    times: list[int] = []
    offsets: list[int] = []
    grouped: list[list[bytes]] = []
    indexes: list[list[int]] = []
    if files is not None:
        grouped = [[] for _ in range(SLOTS)]
        indexes = [[] for _ in range(SLOTS)]
    first = last = NO_TIME
    ordered = True
    index = -1
    for line in lines:
        index += 1
        data: Any = None
        if not line.strip():  # a blank line: in no partition
            out.blank += 1
            times.append(NO_TIME)
            offsets.append(0)
            continue
        try:  # noqa: SIM105 (``suppress`` is an object and two calls a line, compiled)
            data = from_json(line, cache_strings=CACHED_STRINGS)  # as ``parse_event``
        except (ValueError, RecursionError):  # rejected later
            pass
        if not isinstance(data, dict):
            try:  # the engine rejects it too, unless its parser reads what the scan cannot
                parse_event(line)
                out.odd += 1
            except LoyaltyError:
                pass
            bucket, at = 0, None
        else:
            row: dict[str, Any] = data
            bucket = _bucket(row, out, index)
            at = _aware_time(row.get("at"))
        weights[bucket] += 1
        if files is not None:
            grouped[bucket].append(line)
            indexes[bucket].append(index)
        if at is None:
            times.append(NO_TIME)
            offsets.append(0)
            continue
        offset = at.utcoffset() or ZERO_OFFSET  # (never None: the time is aware)
        micros = _micros(at, offset)
        times.append(micros)
        offsets.append(int(offset.total_seconds()))
        if micros < last:
            ordered = False
        if micros > last:
            last = micros
        if first == NO_TIME or micros < first:
            first = micros
    out.count = index + 1
    out.times, out.offsets = array("q", times), array("i", offsets)
    out.weights = array("q", weights)
    out.first, out.last, out.ordered = first, last, ordered
    if files is not None:
        out.slices = _write_grouped(files, grouped, indexes)
    return out


def _write_grouped(
    files: tuple[Path, Path], grouped: Sequence[list[bytes]], indexes: Sequence[Sequence[int]]
) -> array[int]:
    """Write groups of lines (each group's lines joined by newlines, one after the other) and
    their numbers; returns each group's slice: byte offset, bytes, first number, lines."""
    slices = array("q", bytes(32 * len(grouped)))
    offset = first = 0
    with files[0].open("wb") as lines_out, files[1].open("wb") as numbers_out:
        for bucket, group in enumerate(grouped):
            if not group:
                continue
            text = b"\n".join(group)
            lines_out.write(text)
            lines_out.write(b"\n")
            numbers_out.write(array("q", indexes[bucket]).tobytes())
            slices[4 * bucket : 4 * bucket + 4] = array("q", (offset, len(text), first, len(group)))
            offset += len(text) + 1
            first += len(group)
    return slices


def _file_lines(path: Path, start: int, end: int) -> Iterator[bytes]:
    """The lines of ``path`` in the byte range [start, end) (which starts and ends at a line)."""
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    return iter(pieces)


def _range_files(folder: str, index: int) -> tuple[Path, Path]:
    base = Path(folder) / f"range-{index:05d}"
    return base.with_suffix(".jsonl"), base.with_suffix(".numbers")


def _scan_range(task: tuple[str, int, int, str, int]) -> ScanResult:
    """Scan one byte range; written to its files in ``folder`` unless that is empty."""
    path, start, end, folder, index = task
    files = _range_files(folder, index) if folder else None
    return _scan_lines(_file_lines(Path(path), start, end), files)


def _ranges(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``size`` bytes, each ending just after a newline (or at the end)."""
    total = path.stat().st_size
    out = []
    start = 0
    with path.open("rb") as handle:
        while start < total:
            end = min(start + size, total)
            if end < total:
                handle.seek(end)
                handle.readline()
                end = handle.tell()
            out.append((start, end))
            start = end
    return out


@dataclass
class _History:
    """The scan of a whole history."""

    times: array[int]
    offsets: array[int]
    parts: list[ScanResult]
    firsts: list[int]  # the number of each scanned range's first line
    folder: str  # where the ranges were written ("" if they were not)

    @property
    def lines(self) -> int:
        return sum(p.count - p.blank for p in self.parts)

    @property
    def count(self) -> int:
        return sum(p.count for p in self.parts)

    def ordered(self) -> bool:
        latest = NO_TIME
        for part in self.parts:
            if not part.ordered or (part.first != NO_TIME and part.first < latest):
                return False
            latest = max(latest, part.last)
        return True


def _single_reason(parts: Sequence[ScanResult]) -> str | None:
    """Why a history whose scanned ranges are ``parts`` is replayed as one partition, or None."""
    if any(p.links for p in parts):
        return "the history links registrations to member numbers (SM-2)"
    if any(p.odd for p in parts):
        return "the history has lines that only the engine's parser reads"
    return None


def _scan(
    path: Path, processes: int, progress: Progress | None, chunk: int, folder: str = ""
) -> tuple[_History, _Table]:
    """The scan of the history (and, into ``folder`` unless it is empty, its ranges written by
    bucket), and the table of the identifiers' buckets: each range's pairs are entered as it
    arrives, while the children scan the others (this process would wait for them idle). None
    are once a range shows that the history goes to one partition (a link to a member number,
    SM-2, or a line only the engine's parser reads): the table is then empty."""
    # ranges of at least ``chunk`` bytes, at most ~SCAN_SPREAD a process: each range is a child
    # process to fork, and two files
    size = max(chunk, math.ceil(path.stat().st_size / (processes * SCAN_SPREAD)))
    tasks = [
        (str(path), start, end, folder, i) for i, (start, end) in enumerate(_ranges(path, size))
    ]
    found: dict[int, ScanResult] = {}
    table = _Table()
    whole = False  # the history goes to one partition (``_single_reason``): no table
    with contextlib.closing(run_in_children(_scan_range, tasks, processes)) as iterator:
        for index, part in iterator:
            found[index] = part
            if not whole and _single_reason([part]) is not None:
                whole = True
                table = _Table()  # the table entered so far let go (256 MiB at a million)
            if not whole:
                table.enter(part.pairs)
            part.pairs = array("q")
            if progress is not None:
                progress("scan", len(found), len(tasks))
    parts = [found[index] for index in range(len(tasks))]
    history = _History(array("q"), array("i"), parts, [], folder)
    for part in parts:
        history.firsts.append(len(history.times) + 1)
        history.times.extend(part.times)
        history.offsets.extend(part.offsets)
        part.times, part.offsets = array("q"), array("i")
    return history, table


class _Table:
    """Which bucket each identifier (order, return, email, phone) belongs to, and which buckets
    must go to one partition: two buckets whose lines name one identifier are joined into one
    class (a union-find over the ``BUCKETS`` buckets). A member's lines go to its bucket
    (``member_bucket``), a line naming no member to the bucket of an identifier it names.

    The buckets are kept in one open-addressing table of (node, bucket) pairs, an ``array("q")``
    probed linearly from the node's CRC-32 half (``_node``) and doubled when three quarters full,
    rather than a dictionary: a million members name ~10 million identifiers, which a dictionary
    of Python ints holds in ~1 GB and looks up with three cache misses (its index, its entry, the
    key's object), the table in 256 MiB with one."""

    def __init__(self, bits: int = 16) -> None:
        self._size = 0  # nodes in the table
        self._bits = bits
        self._mask = (1 << bits) - 1
        self._limit = (3 << bits) // 4
        self._table = array("q", bytes(16 << bits))  # node, bucket; node EMPTY: a free slot
        self.classes = list(range(BUCKETS))  # each bucket's parent in the union-find

    def __len__(self) -> int:
        return self._size

    def _slot(self, node: int) -> int:
        """The index of ``node``'s pair, or of the free pair where it would go."""
        table, mask = self._table, self._mask
        i = (node >> 31) & mask  # the node's CRC-32 half (its Adler-32 half is ill spread)
        while True:
            key = table[i + i]
            if key == node or key == EMPTY:  # noqa: SIM109 (two int compares, no tuple)
                return i
            i = (i + 1) & mask

    def _room(self) -> None:
        """Room for one more node: the table doubled if need be."""
        if self._size < self._limit:
            return
        old = self._table
        self._bits += 1
        self._mask = (1 << self._bits) - 1
        self._limit = (3 << self._bits) // 4
        self._table = table = array("q", bytes(16 << self._bits))
        mask = self._mask
        for j in range(0, len(old), 2):
            key = old[j]
            if key != EMPTY:
                i = (key >> 31) & mask
                while table[i + i] != EMPTY:
                    i = (i + 1) & mask
                table[i + i] = key
                table[i + i + 1] = old[j + 1]

    def bucket(self, node: int) -> int:
        """The bucket ``node`` belongs to, or -1 if it is not in the table."""
        i = self._slot(node)
        return self._table[i + i + 1] if self._table[i + i] == node else -1

    def put(self, node: int, bucket: int) -> None:
        """``node`` belongs to ``bucket``: entered, or its bucket's class joined to it."""
        self._room()
        i = self._slot(node)
        table = self._table
        if table[i + i] == EMPTY:
            table[i + i] = node
            table[i + i + 1] = bucket
            self._size += 1
        elif table[i + i + 1] != bucket:
            self.join(table[i + i + 1], bucket)

    def enter(self, pairs: array[int]) -> None:
        for i in range(0, len(pairs), 2):
            self.put(pairs[i], pairs[i + 1])

    def cls(self, bucket: int) -> int:
        """The class of ``bucket`` (its root in the union-find; path halving)."""
        classes = self.classes
        while classes[bucket] != bucket:
            classes[bucket] = classes[classes[bucket]]
            bucket = classes[bucket]
        return bucket

    def join(self, a: int, b: int) -> None:
        ra, rb = self.cls(a), self.cls(b)
        if ra != rb:
            self.classes[max(ra, rb)] = min(ra, rb)

    def resolve(self, pending: array[int]) -> array[int]:
        """The bucket of each line that names no member (``ScanResult.pending``), in order: the
        bucket of the first identifier it names that is in the table, else its first
        identifier's own; its identifiers are then entered with it (``put``: the buckets of
        the others are joined to it)."""
        out = array("i")
        i = 0
        while i < len(pending):
            count = pending[i + 1]
            bucket = -1
            for j in range(i + 2, i + 2 + count):
                bucket = self.bucket(pending[j])
                if bucket >= 0:
                    break
            if bucket < 0:
                bucket = (pending[i + 2] >> 31) % BUCKETS
            for j in range(i + 2, i + 2 + count):
                self.put(pending[j], bucket)
            out.append(bucket)
            i += 2 + count
        return out


@dataclass(frozen=True)
class _Slice:
    """Some lines of a partition in a file the scan wrote: their bytes' place, and their
    numbers' (each plus ``base``) in the file beside it."""

    lines: str
    start: int
    size: int
    numbers: str
    first: int
    count: int
    base: int


def _slices(lines: Path, numbers: Path, slices: array[int], base: int) -> dict[int, _Slice]:
    """The non-empty slices of a file written by ``_write_grouped``, by group."""
    return {
        group: _Slice(
            str(lines),
            slices[4 * group],
            slices[4 * group + 1],
            str(numbers),
            slices[4 * group + 2],
            slices[4 * group + 3],
            base,
        )
        for group in range(len(slices) // 4)
        if slices[4 * group + 3]
    }


def _write_pending(history: _History, table: _Table) -> tuple[dict[int, _Slice], array[int]]:
    """The lines naming no member (a return naming only its order), moved into their buckets:
    each range's ``PENDING`` lines read back and written, by bucket, to one more file (numbers
    of the whole history). Returns that file's slices by bucket and the lines by bucket."""
    folder = history.folder
    grouped: list[list[bytes]] = [[] for _ in range(BUCKETS)]
    numbers = [array("q") for _ in range(BUCKETS)]
    weights = array("q", bytes(8 * BUCKETS))
    for index, part in enumerate(history.parts):
        buckets = table.resolve(part.pending)
        part.pending = array("q")
        if not buckets:
            continue
        lines_path, numbers_path = _range_files(folder, index)
        where = _slices(lines_path, numbers_path, part.slices, history.firsts[index])[PENDING]
        lines, indexes = _read_slice(where)
        for bucket, line, number in zip(buckets, lines, indexes, strict=True):
            grouped[bucket].append(line)
            numbers[bucket].append(number + where.base)
            weights[bucket] += 1
    files = (Path(folder) / "pending.jsonl", Path(folder) / "pending.numbers")
    slices = _write_grouped(files, grouped, numbers)
    return _slices(files[0], files[1], slices, 0), weights


def _read_slice(where: _Slice) -> tuple[list[bytes], array[int]]:
    with open(where.lines, "rb") as handle:
        handle.seek(where.start)
        lines = handle.read(where.size).split(b"\n")
    numbers = array("q")
    with open(where.numbers, "rb") as handle:
        handle.seek(8 * where.first)
        numbers.frombytes(handle.read(8 * where.count))
    return lines, numbers


def _partitions(history: _History, table: _Table, wanted: int) -> list[list[_Slice]]:
    """The partitions: the buckets' classes (``_Table``) in the order of their first bucket, cut
    by their lines into about ``wanted`` runs of about as many lines each (fewer if a class is
    larger than a run); each partition is its slices of the files the scan wrote, global lines
    included. A partition's buckets are then mostly consecutive, and so are their lines in each
    range's file: one read a range (``_add``) instead of one a bucket (at 50,000 members, 10
    partitions: ~4,500 slices each, 2.5 us a line to read)."""
    pending, pending_weights = _write_pending(history, table)
    weights = [0] * BUCKETS
    for part in history.parts:
        for bucket in range(BUCKETS):
            weights[table.cls(bucket)] += part.weights[bucket]
    for bucket in range(BUCKETS):
        weights[table.cls(bucket)] += pending_weights[bucket]
    total = sum(weights)
    owner = [0] * BUCKETS  # each class's run
    done = 0
    for c in range(BUCKETS):  # a class's first bucket is its root (``_Table.join``)
        if weights[c]:
            owner[c] = min(wanted - 1, (2 * done + weights[c]) * wanted // (2 * total))
            done += weights[c]
    runs: dict[int, list[int]] = {}  # run -> its buckets, in order
    for bucket in range(BUCKETS):
        if weights[table.cls(bucket)]:
            runs.setdefault(owner[table.cls(bucket)], []).append(bucket)
    ranges = [
        _slices(*_range_files(history.folder, index), part.slices, history.firsts[index])
        for index, part in enumerate(history.parts)
    ]
    out: list[list[_Slice]] = []
    for run in sorted(runs):
        slices: list[_Slice] = []
        for found in [*ranges, pending]:
            for bucket in runs[run]:
                if bucket in found:
                    _add(slices, found[bucket])
        for found in ranges:
            if EVERY_BUCKET in found:
                slices.append(found[EVERY_BUCKET])
        out.append(slices)
    return out


def _add(slices: list[_Slice], where: _Slice) -> None:
    """Add ``where`` to ``slices``, as one slice with the last if it follows it in its file of
    lines (``_write_grouped`` writes the numbers in the same order: they follow too)."""
    last = slices[-1] if slices else None
    if last is not None and last.lines == where.lines and last.start + last.size + 1 == where.start:
        slices[-1] = replace(last, size=last.size + 1 + where.size, count=last.count + where.count)
    else:
        slices.append(where)


# -- the whole history's clock ---------------------------------------------------------------------
@dataclass  # not frozen: the compiled build unpickles it (in a worker) field by field
class Clock:
    """What a partition must be told of the whole history's clock: the engine's clock before each
    line that goes back in time (line number -> time), and the time of the last accepted input."""

    before: dict[int, datetime]
    last: datetime | None


def _clock(history: _History, still: Callable[[int], bool]) -> Clock:
    """The clock of a replay of the whole history in which the lines for which ``still`` is true
    do not move the clock (rejected or repeated) and every other line with a time does, unless it
    goes back in time."""
    times, offsets = history.times, history.offsets
    before: dict[int, datetime] = {}
    now, now_index = NO_TIME, -1
    if history.ordered():  # nothing goes back: the clock is the last accepted line's time
        for index in range(len(times) - 1, -1, -1):
            if times[index] != NO_TIME and not still(index + 1):
                now_index = index
                break
    else:
        for index, micros in enumerate(times):
            if micros == NO_TIME:
                continue
            if micros < now:
                before[index + 1] = _moment(now, offsets[now_index])
            elif not still(index + 1):
                now, now_index = micros, index
    last = None if now_index < 0 else _moment(times[now_index], offsets[now_index])
    return Clock(before, last)


# -- replay of one partition -----------------------------------------------------------------------
@dataclass
class Rows:
    """Figure rows of one variant over one partition; rows of several partitions add up."""

    lots: Counter[str | None] = field(default_factory=Counter)  # expires month -> points
    debt: int = 0
    ledger: Counter[tuple[str, str]] = field(default_factory=Counter)  # (month, kind) -> points
    tiers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tier, status) -> members
    certificates: Counter[tuple[str, str]] = field(default_factory=Counter)  # (month, kind) -> n
    certificate_cents: Counter[tuple[str, str]] = field(default_factory=Counter)
    sales_cents: Counter[str] = field(default_factory=Counter)  # month -> qualifying amount
    reward_cents: int = 0  # reward balances (converted, not yet issued)
    tiers_by_month: Counter[tuple[str, str]] = field(default_factory=Counter)  # (month, tier)
    rejected: dict[int, str] = field(default_factory=dict)  # line -> error
    repeated: set[int] = field(default_factory=set)  # lines accepted as exact repeats
    members: dict[str, dict[str, Any]] | None = None

    def add(self, other: Rows) -> None:
        self.lots.update(other.lots)
        self.ledger.update(other.ledger)
        self.tiers.update(other.tiers)
        self.certificates.update(other.certificates)
        self.certificate_cents.update(other.certificate_cents)
        self.sales_cents.update(other.sales_cents)
        self.tiers_by_month.update(other.tiers_by_month)
        self.debt += other.debt
        self.reward_cents += other.reward_cents
        self.rejected.update(other.rejected)
        self.repeated.update(other.repeated)
        if other.members is not None:
            if self.members is None:
                self.members = {}
            self.members.update(other.members)


def _snapshot(engine: Engine, moment: datetime, into: Counter[tuple[str, str]]) -> None:
    """Enrolled members per tier at ``moment``, changing nothing. The one job that changes a tier
    is the January requalification (SG-2, SM-3); for a member it has not run for yet (no input
    since 1 January), it is run for the look and undone."""
    month = month_of(moment, engine.tz)
    rules = engine.rules_at(moment).tiers
    day = local_date(moment, engine.tz)
    year = day.year
    calendar_year = rules.window == "calendar_year"
    counts = [0] * len(rules.levels)  # members by level (a counter's ``+=`` costs ~4x more)
    for member in engine.members.values():
        if not member.enrolled:
            continue
        state = member.tiers
        if calendar_year and year not in state.year_base:
            requalify(rules, state, year)  # for this look only (a copy of the state costs 4x)
            try:
                level = tier_on(rules, state, day)
            finally:
                del state.year_base[year]
        else:
            level = tier_on(rules, state, day)
        counts[level] += 1
    for level, n in enumerate(counts):
        if n:
            into[(month, rules.levels[level].id)] += n


def _final_rows(engine: Engine, rows: Rows) -> None:
    """The rows the SQL reports read, from the in-memory state (as the durable engine writes
    them): lots that hold points, ledger entries, each member's tier at its clock and status,
    certificates, and the qualifying amount of the members' orders."""
    program, tz = engine.rules, engine.tz
    rules = program.tiers
    # summed in plain dictionaries, added to the rows' counters once (a counter's ``+=`` goes
    # through its Python-level ``__missing__`` and slots: ~2.5% of a simulation)
    lots: dict[str | None, int] = {}
    ledger: dict[tuple[str, str], int] = {}
    sales: dict[date, Decimal] = {}  # qualifying amounts by day
    tiers: dict[tuple[str, str], int] = {}
    for member in engine.members.values():
        wallet = member.wallet
        for lot in wallet.lots:
            if lot.remaining > 0:
                expires = expiry_month(lot.expires_at, tz) if lot.expires_at is not None else None
                lots[expires] = lots.get(expires, 0) + lot.remaining
        rows.debt += wallet.debt
        rows.reward_cents += int(member.reward_balance * 100)
        for entry in wallet.entries:
            key = (month_of(entry.at, tz), entry.kind)
            ledger[key] = ledger.get(key, 0) + entry.points
        tier = rules.levels[tier_on(rules, member.tiers, local_date(member.clock, tz))].id
        key = (tier, status(program, member))
        tiers[key] = tiers.get(key, 0) + 1
        for cert in member.certificates:
            key = (month_of(cert.issued_at, tz), cert.kind)
            rows.certificates[key] += 1
            if cert.amount is not None:
                rows.certificate_cents[key] += int(cert.amount * 100)
        for order in member.orders.values():  # amounts to the cent: summed, then in cents
            sales[order.day] = sales.get(order.day, ZERO) + order.qualifying
    rows.lots.update(lots)
    rows.ledger.update(ledger)
    rows.tiers.update(tiers)
    for day, amount in sales.items():
        rows.sales_cents[month_text(day)] += int(amount * 100)


def replay_partition(
    program: Program,
    events: Sequence[tuple[int, Event | bytes]],
    clock: Clock | None = None,
    keep_members: bool = False,
    keep: Callable[[Engine], None] | None = None,
) -> Rows:
    """Replay numbered inputs through a fresh engine and return the figure rows. ``clock``: the
    whole history's clock (default: this partition's own, i.e. the partition is the history).
    ``keep`` is handed the engine (``children.keep_until_exit``: a child process ends without
    freeing it)."""
    engine = Engine(program)
    if keep is not None:
        keep(engine)
    rows = Rows()
    before = clock.before if clock is not None else {}
    boundary: datetime | None = None
    one = timedelta(microseconds=1)
    with paused_collector():  # inputs make no reference cycles (see ``replay_lines``)
        for number, event in events:
            # month ends crossed by this input: taken before it, kept only if it moves the clock
            # (an input that is rejected or repeated changes nothing; a later one crosses them)
            taken = None
            crossed = boundary
            if not isinstance(event, bytes):
                at = event.at
                if boundary is None:
                    boundary = next_month_start(at, engine.tz)
                if at >= boundary:
                    taken = Counter[tuple[str, str]]()
                    while at >= boundary:
                        _snapshot(engine, boundary - one, taken)
                        boundary = next_month_start(boundary, engine.tz)
            if number in before:
                engine.now = before[number]
            outcome = engine.apply(event)
            if not outcome.accepted:
                rows.rejected[number] = str(outcome.error)
            elif outcome.duplicate:
                rows.repeated.add(number)
            if not outcome.accepted or outcome.duplicate:
                boundary = crossed
            elif taken is not None:
                rows.tiers_by_month.update(taken)
        moment = clock.last if clock is not None else engine.now
        if moment is not None:
            while boundary is not None and boundary <= moment:
                _snapshot(engine, boundary - one, rows.tiers_by_month)
                boundary = next_month_start(boundary, engine.tz)
            _snapshot(engine, moment, rows.tiers_by_month)
            engine.now = moment
            for member in engine.members.values():  # as ``loyalty jobs run`` does
                due = next_due(member)
                if due is not None and due <= moment:
                    engine.run_jobs(member, moment)
        _final_rows(engine, rows)
        if keep_members:
            rows.members = engine.summaries()
    return rows


def _read_partition(task: _Task) -> list[tuple[int, Event | bytes]]:
    """The partition's lines in the history's order, numbered and parsed, with the collector
    paused: the parsed inputs all live on, and the collections their allocations set off would
    rescan them again and again (10 us a line paused, 26-31 us not, for 60,000 lines)."""
    out: list[tuple[int, Event | bytes]] = []
    with paused_collector():
        if task.whole:
            _read_whole(Path(task.whole), out)
            return out
        numbered: list[tuple[int, bytes]] = []
        for where in task.sources:
            lines, numbers = _read_slice(where)
            base = where.base
            numbered.extend(zip([base + n for n in numbers], lines, strict=True))
        numbered.sort()  # (the numbers differ: the lines are never compared)
        bare = task.bare
        for number, line in numbered:
            try:
                out.append((number, parse_event(line)))
            except LoyaltyError:  # the engine rejects it with the reason, worded as a replay
                # of the file words it (there, the line ends with its newline, if it has one)
                out.append((number, line if number == bare else line + b"\n"))
    return out


def _read_whole(path: Path, out: list[tuple[int, Event | bytes]]) -> None:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                out.append((number, parse_event(line)))
            except LoyaltyError:
                out.append((number, line))  # the engine rejects it, with the reason


# -- tasks (each in a child process: ``services.children``) ----------------------------------------
@dataclass(frozen=True)
class _Task:
    sources: tuple[_Slice, ...]  # the partition's lines (``_partitions``)
    whole: str  # or the history's path, replayed whole
    bare: int  # the number of the history's last line if it has no newline (else 0)
    programs: tuple[Program, ...]
    clocks: tuple[Clock | None, ...]  # one a program
    keep_members: bool


def _run_task(task: _Task) -> list[Rows]:
    """Parse the partition, then replay it through each variant in turn. (Each input through
    both variants in turn, while it is in the processor's cache, was tried in stop 29: ~11%
    slower, two engines' states then competing for the cache.)"""
    events = _read_partition(task)
    keep_until_exit(events)
    return [
        replay_partition(program, events, clock, task.keep_members, keep_until_exit)
        for program, clock in zip(task.programs, task.clocks, strict=True)
    ]


# -- the simulation --------------------------------------------------------------------------------
@dataclass
class Variant:
    program: Program
    figures: dict[str, Any]
    as_of: datetime | None  # the time of the last accepted input
    rejected: list[dict[str, Any]]
    accepted: int
    members: dict[str, dict[str, Any]] | None = None


@dataclass
class Simulation:
    history: str
    variants: list[Variant]
    lines: int
    partitions: int
    processes: int
    rounds: int
    single_partition_reason: str | None = None


def _figures(program: Program, rows: Rows, as_of: datetime | None) -> dict[str, Any]:
    day = local_date(as_of, zone(program.timezone)) if as_of is not None else None
    ledger = [(m, k, p) for (m, k), p in rows.ledger.items()]
    certificates = [
        (m, k, n, Decimal(rows.certificate_cents[(m, k)]) / 100)
        for (m, k), n in rows.certificates.items()
    ]
    sales = [(m, Decimal(cents) / 100) for m, cents in rows.sales_cents.items()]
    return {
        "liability": liability_figures(rows.lots.items(), rows.debt, program, day),
        "activity": activity_figures(ledger),
        "tiers": tier_figures(sorted((t, s, n) for (t, s), n in rows.tiers.items()), program),
        "economics": economics_figures(
            ledger, certificates, sales, program, Decimal(rows.reward_cents) / 100, day
        ),
        "tiers_by_month": tiers_over_time(
            [(m, t, n) for (m, t), n in rows.tiers_by_month.items()], program
        ),
        "outstanding_by_month": outstanding_over_time(
            ledger, program, month_text(day) if day else None
        ),
    }


def simulate(
    history: str | Path,
    programs: Sequence[Program],
    *,
    processes: int | None = None,
    partitions: int | None = None,
    partition_members: int = PARTITION_MEMBERS,
    keep_members: bool = False,
    progress: Progress | None = None,
    scan_chunk: int = SCAN_CHUNK,
) -> Simulation:
    """Replay ``history`` through each program and compute its figures.

    ``processes``: child processes at once (default: every core; 1 runs in this process; each
    task, a byte range to scan or a partition to replay, has a child of its own). ``partitions``:
    how many parts the members are split into (default: ``SPREAD`` a process, more when there are
    over ``partition_members`` members a part; one with one process). ``keep_members``: also
    return every member's SPEC §8 summary (for tests and small histories). ``progress(stage,
    done, total)`` is called as the scan and the replay advance. ``scan_chunk``: the fewest bytes
    of the history a scan task reads."""
    path = Path(history)
    processes = max(1, processes if processes is not None else (os.cpu_count() or 1))
    # children forked (``services.children``): they start at once, scripts need no ``if __name__
    # == "__main__"`` guard, and a child that dies (killed, out of memory) is reported instead of
    # waited for; the caller should have no other thread running (the CLI's progress display
    # has none). Without ``fork`` (Windows), everything runs in this process.
    try:
        with tempfile.TemporaryDirectory(prefix="loyalty-simulate-") as folder:
            split = partitions != 1  # the scan writes the ranges by bucket
            scanned, table = _scan(path, processes, progress, scan_chunk, folder if split else "")
            lines = scanned.lines
            reason = _single_reason(scanned.parts)
            members = sum(p.enrollments for p in scanned.parts)
            wanted = partitions or max(
                processes * SPREAD if processes > 1 else 1,
                math.ceil(members / max(1, partition_members)),
            )
            parts = 1 if reason is not None or not split else max(1, min(wanted, members))
            sources = _partitions(scanned, table, parts) if parts > 1 else []
            del table  # (256 MiB at a million members) let go before the children are forked
            if progress is not None and sources:
                progress("partition", 1, 1)
            if len(sources) == 1:  # every bucket joined into one class
                reason = "its members' lines are tied together by identifiers they share"
            totals, rounds, used = _replay(
                sources if len(sources) > 1 else None,
                path,
                programs,
                scanned,
                processes,
                keep_members,
                progress,
            )
    except ChildLost as exc:
        raise WorkerLost(
            "a worker process ended before finishing its part of the history (killed, or out "
            "of memory?): nothing was simulated; try fewer --processes or a smaller "
            "--partition-members"
        ) from exc
    variants = []
    for program, rows in zip(programs, totals, strict=True):
        rejected = [{"line": n, "error": rows.rejected[n]} for n in sorted(rows.rejected)]
        clock = _clock(scanned, _unmoved(rows))
        variants.append(
            Variant(
                program=program,
                figures=_figures(program, rows, clock.last),
                as_of=clock.last,
                rejected=rejected,
                accepted=lines - len(rejected),
                members=rows.members,
            )
        )
    if used == 1 and len(sources) > 1:
        reason = "the history's times go back and forth too often to split it"
    return Simulation(str(path), variants, lines, used, processes, rounds, reason)


def _bare_line(path: Path, lines: int) -> int:
    """The number of the file's last line if it has no newline (a partition's file keeps no
    trace of it), else 0."""
    with path.open("rb") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return 0
        handle.seek(-1, os.SEEK_END)
        return 0 if handle.read(1) == b"\n" else lines


class WorkerLost(Exception):
    """A worker process of the simulation ended before finishing its part."""


def _unmoved(rows: Rows) -> Callable[[int], bool]:
    """Lines that did not move the engine's clock: rejected, or accepted as exact repeats."""
    return lambda number: number in rows.rejected or number in rows.repeated


def _replay(
    sources: list[list[_Slice]] | None,
    path: Path,
    programs: Sequence[Program],
    scanned: _History,
    processes: int,
    keep_members: bool,
    progress: Progress | None,
) -> tuple[list[Rows], int, int]:
    """Replay every partition (``sources``; None: the history whole) through every program;
    returns the rows, the rounds and the partitions used. With several partitions, each is given
    the whole history's clock: first as if every line were accepted, then from the rejections
    seen, until the clock given and the clock seen agree."""
    single = sources is None
    guess = None if single else _clock(scanned, lambda n: False)
    clocks: tuple[Clock | None, ...] = tuple(guess for _ in programs)
    bare = _bare_line(path, scanned.count)
    whole = str(path) if sources is None else ""
    for rounds in range(1, MAX_ROUNDS + 1):
        tasks = [
            _Task(tuple(s), whole, bare, tuple(programs), clocks, keep_members)
            for s in (sources if sources is not None else [[]])
        ]
        totals = [Rows() for _ in programs]
        with contextlib.closing(run_in_children(_run_task, tasks, processes)) as iterator:
            for done, (_, task_rows) in enumerate(iterator, start=1):
                for total, rows in zip(totals, task_rows, strict=True):
                    total.add(rows)
                if progress is not None:
                    stage = "replay" if rounds == 1 else f"replay (round {rounds})"
                    progress(stage, done, len(tasks))
        if single:
            return totals, rounds, 1
        seen = tuple(_clock(scanned, _unmoved(rows)) for rows in totals)
        if seen == clocks:
            return totals, rounds, len(tasks)
        clocks = seen
    # not settled (a history whose times go back and forth a lot): one partition is exact
    return _replay(None, path, programs, scanned, processes, keep_members, progress)
