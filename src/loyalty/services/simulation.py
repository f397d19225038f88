"""What-if simulation: replay one history through several program variants (presets or TOML files)
and compute each variant's economics with the figure functions of the database reports
(``loyalty.domain.figures``): one definition of each figure, two sources of data.

Members are independent, so the history is split by member across processes:

1. **Scan** (in parallel, by byte ranges of the file): each line is read with pydantic-core's JSON
   reader (the engine's, twice as fast as ``json.loads``) and tied to the identifiers it names:
   its member, its order, its return id and, for an enrollment, its email and phone (SG-1: one
   per person). Lines that share an identifier belong together (union-find): a shipment or a
   return naming only an order goes with the member who bought it, a retro-credit joins an
   anonymous purchase to its member. ``campaign`` and ``tick`` inputs are global: they go to
   every partition.
2. **Partition**: whole groups are dealt round-robin into partitions (at most
   ``PARTITION_MEMBERS`` members each, at least ``SPREAD`` a process), each keeping the file's
   order and its line numbers (rejected lines are reported as a replay reports them). The deal
   is worked out here, one array of a partition a line; the files are written by a child process
   a byte range of the scan (one file a partition and range: a partition is its files in order).
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
from dataclasses import dataclass, field
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
BLANK, GLOBAL, MISC, RESERVED = 0, 1, 2, 3  # per-line codes besides identifier hashes
EMPTY = BLANK  # a free slot of the union-find's table (no node is below RESERVED)
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
    """What the scan of one byte range of the history learnt (arrays: one item a line)."""

    nodes: array[int] = field(default_factory=lambda: array("q"))
    times: array[int] = field(default_factory=lambda: array("q"))  # UTC microseconds
    offsets: array[int] = field(default_factory=lambda: array("i"))  # UTC offset in seconds
    unions: array[int] = field(default_factory=lambda: array("q"))  # pairs of nodes
    ordered: bool = True  # no line earlier than one before it (within the range)
    first: int = NO_TIME  # earliest and latest time in the range
    last: int = NO_TIME
    enrollments: int = 0
    links: int = 0  # enrollments linking to a member number (SM-2)
    odd: int = 0  # lines the scan cannot read but the engine's parser might accept


def _identity(data: dict[str, Any], out: ScanResult) -> int:
    """The line's node (its first identifier); the other identifiers are joined to it."""
    kind = data.get("type")
    if kind in GLOBAL_TYPES:
        return GLOBAL
    keys = []
    for name, prefix in (("member", "m"), ("order", "o")):
        value = data.get(name)
        if isinstance(value, str):
            keys.append(_node(prefix, value))
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
    if not keys:
        return MISC
    for other in keys[1:]:
        out.unions.append(keys[0])
        out.unions.append(other)
    return keys[0]


def _scan_lines(lines: Iterator[bytes]) -> ScanResult:
    out = ScanResult()
    for line in lines:
        data: Any = None
        if line.strip():
            with contextlib.suppress(ValueError, RecursionError):  # rejected later
                data = from_json(line, cache_strings=CACHED_STRINGS)  # as ``parse_event``
            if not isinstance(data, dict):
                try:  # the engine rejects it too, unless its parser reads what the scan cannot
                    parse_event(line)
                    out.odd += 1
                except LoyaltyError:
                    pass
        if not isinstance(data, dict):
            out.nodes.append(MISC if line.strip() else BLANK)
            out.times.append(NO_TIME)
            out.offsets.append(0)
            continue
        out.nodes.append(_identity(data, out))
        at = _aware_time(data.get("at"))
        if at is None:
            out.times.append(NO_TIME)
            out.offsets.append(0)
            continue
        offset = at.utcoffset() or ZERO_OFFSET  # (never None: the time is aware)
        micros = _micros(at, offset)
        out.times.append(micros)
        out.offsets.append(int(offset.total_seconds()))
        if micros < out.last:
            out.ordered = False
        out.last = max(out.last, micros)
        out.first = micros if out.first == NO_TIME else min(out.first, micros)
    return out


def _file_lines(path: Path, start: int, end: int) -> Iterator[bytes]:
    """The lines of ``path`` in the byte range [start, end) (which starts and ends at a line)."""
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    return iter(pieces)


def _scan_range(task: tuple[str, int, int]) -> ScanResult:
    path, start, end = task
    return _scan_lines(_file_lines(Path(path), start, end))


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

    nodes: array[int]
    times: array[int]
    offsets: array[int]
    parts: list[ScanResult]
    ranges: list[tuple[int, int, int]]  # each scanned byte range and the number of its first line

    @property
    def lines(self) -> int:
        return sum(1 for n in self.nodes if n != BLANK)

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
    path: Path, processes: int, progress: Progress | None, chunk: int
) -> tuple[_History, _Groups]:
    """The scan of the history, and the groups of its lines: each range's unions are joined as
    it arrives, while the children scan the others (this process would wait for them idle).
    None are joined once a range shows that the history goes to one partition (a link to a
    member number, SM-2, or a line only the engine's parser reads): the groups are then empty."""
    # ranges of at least ``chunk`` bytes, at most ~SCAN_SPREAD a process: each range is a child
    # process to fork, twice (scan, then partitions), and one file a partition
    size = max(chunk, math.ceil(path.stat().st_size / (processes * SCAN_SPREAD)))
    tasks = [(str(path), start, end) for start, end in _ranges(path, size)]
    found: dict[int, ScanResult] = {}
    groups = _Groups()
    whole = False  # the history goes to one partition (``_single_reason``): no groups
    with contextlib.closing(run_in_children(_scan_range, tasks, processes)) as iterator:
        for index, part in iterator:
            found[index] = part
            if not whole and _single_reason([part]) is not None:
                whole = True
                groups = _Groups()  # the table joined so far let go (256 MiB at a million)
            if not whole:
                _join(groups, part.unions)
            part.unions = array("q")
            if progress is not None:
                progress("scan", len(found), len(tasks))
    parts = [found[index] for index in range(len(tasks))]
    history = _History(array("q"), array("q"), array("i"), parts, [])
    for (_, start, end), part in zip(tasks, parts, strict=True):
        history.ranges.append((start, end, len(history.nodes) + 1))
        history.nodes.extend(part.nodes)
        history.times.extend(part.times)
        history.offsets.extend(part.offsets)
        part.nodes, part.times, part.offsets = array("q"), array("q"), array("i")
    return history, groups


class _Groups:
    """Union-find over identifier nodes (all above ``RESERVED``). A group's first node (its
    root) is its own parent, until the group is dealt to a partition: then its parent is
    ``-1 - partition`` (``deal``).

    The parents are kept in one open-addressing table of (node, parent) pairs, an
    ``array("q")`` probed linearly from the node's CRC-32 half (``_node``) and doubled when three
    quarters full, rather than a dictionary: a million members name ~11.8 million nodes, which a
    dictionary of Python ints holds in ~1.2 GB and looks up with three cache misses (its index,
    its entry, the key's object), the table in 256 MiB with one. On that history (stop 23): the
    union-find 25.3 -> 19.3 s, the deal 11.7 -> 6.9 s, the same partitions."""

    def __init__(self, bits: int = 16) -> None:
        self.dealt = 0  # groups dealt so far
        self._size = 0  # nodes in the table
        self._bits = bits
        self._mask = (1 << bits) - 1
        self._limit = (3 << bits) // 4
        self._table = array("q", bytes(16 << bits))  # node, parent; node EMPTY: a free slot

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
        """Room for two more nodes (a union adds at most two): the table doubled if need be."""
        if self._size + 2 <= self._limit:
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

    def _add(self, i: int, node: int, parent: int) -> None:
        self._table[i + i] = node
        self._table[i + i + 1] = parent
        self._size += 1

    def find(self, node: int) -> int:
        self._room()
        i = self._slot(node)
        table = self._table
        if table[i + i] == EMPTY:  # a node met for the first time is its own group
            self._add(i, node, node)
            return node
        up = table[i + i + 1]
        if up == node or up < 0:  # a group's first node (most lines: their member's)
            return node
        root = up
        while True:
            above = table[self._slot(root) * 2 + 1]
            if above == root or above < 0:
                break
            root = above
        while node != root:  # path compression
            j = self._slot(node) * 2 + 1
            node, table[j] = table[j], root
        return root

    def union(self, a: int, b: int) -> None:
        ra = self.find(a)  # (makes room for ``b`` too)
        i = self._slot(b)
        if self._table[i + i] == EMPTY:  # most: an order, an email or a phone named first
            self._add(i, b, ra)
            return
        rb = self.find(b)
        if ra != rb:
            self._table[self._slot(rb) * 2 + 1] = ra

    def deal(self, node: int, parts: int) -> int:
        """The partition of ``node``'s group: the next one round-robin when the group is met
        for the first time (after the last union: a dealt group takes no more)."""
        i = self._slot(node)
        if self._table[i + i] != EMPTY:
            up = self._table[i + i + 1]
            if up < 0:  # the first node of a group dealt already
                return -1 - up
        root = self.find(node)
        j = self._slot(root) * 2 + 1
        up = self._table[j]
        if up < 0:
            return -1 - up
        part = self.dealt % parts
        self.dealt += 1
        self._table[j] = -1 - part
        return part


def _join(groups: _Groups, unions: array[int]) -> None:
    """Join the pairs of nodes that ``unions`` names (lines that must stay together: about one
    group a member). The order of the unions changes no group, only which node is its root; the
    deal goes by the history's order (``_deal``)."""
    for i in range(0, len(unions), 2):
        groups.union(unions[i], unions[i + 1])


@dataclass(frozen=True)
class _WriteTask:
    """One byte range of the history to deal into the partitions (in a child process, which
    inherits the lines' partitions: nothing is sent to it)."""

    path: str
    start: int
    end: int
    first_line: int  # the number of the range's first line
    index: int  # of the range
    deal: array[int]  # each line's partition (``_deal``)
    parts: int
    folder: str


EVERY, NONE = -1, -2  # a line for every partition (global), or for none (blank)


def _deal(history: _History, groups: _Groups, parts: int) -> array[int]:
    """Each line's partition: a group's lines go to one partition, the groups dealt round-robin
    in the order the history names them first; global lines to every partition, lines naming
    nothing to the first. Worked out here, in one array, so that the children writing the
    partitions read nothing else of this process's (a child that looked the groups up itself
    would write to their objects' reference counts, and each page so touched is copied).
    A group's partition is kept in its first node's place in the union-find (``_Groups.deal``):
    a line naming that node, most lines, costs one look-up."""
    deal = array("i")
    part_of = groups.deal
    for node in history.nodes:
        if node == BLANK:
            deal.append(NONE)
        elif node == GLOBAL:
            deal.append(EVERY)
        elif node == MISC:
            deal.append(0)
        else:
            deal.append(part_of(node, parts))
    return deal


def _part_file(folder: str, part: int, index: int) -> Path:
    return Path(folder) / f"part-{part:04d}-{index:05d}.jsonl"


def _write_range(task: _WriteTask) -> None:
    """Write the lines of one byte range into their partitions: for each partition, a file of
    the lines and one of their numbers (``array("q")``: no number to format into each line and
    parse out again, 2 us a line)."""
    deal, parts = task.deal, task.parts
    lines: list[list[bytes]] = [[] for _ in range(parts)]
    numbers = [array("q") for _ in range(parts)]
    number = task.first_line
    for line in _file_lines(Path(task.path), task.start, task.end):
        part = deal[number - 1]
        if part >= 0:
            lines[part].append(line)
            numbers[part].append(number)
        elif part == EVERY:
            for every in range(parts):
                lines[every].append(line)
                numbers[every].append(number)
        number += 1
    for part in range(parts):
        path = _part_file(task.folder, part, task.index)
        path.write_bytes(b"\n".join(lines[part]))
        path.with_suffix(".numbers").write_bytes(numbers[part].tobytes())


def _write_partitions(
    path: Path,
    history: _History,
    deal: array[int],
    parts: int,
    folder: Path,
    processes: int,
    progress: Progress | None,
) -> list[list[Path]]:
    """Write the lines into the partitions ``deal`` gives them, each byte range of the scan by a
    child process of its own; returns each partition's files, in the history's order."""
    tasks = [
        _WriteTask(str(path), start, end, first, index, deal, parts, str(folder))
        for index, (start, end, first) in enumerate(history.ranges)
    ]
    with contextlib.closing(run_in_children(_write_range, tasks, processes)) as iterator:
        for done, _ in enumerate(iterator, start=1):
            if progress is not None:
                progress("partition", done, len(tasks))
    return [[_part_file(str(folder), part, i) for i in range(len(tasks))] for part in range(parts)]


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


def _read_partition(
    paths: Sequence[Path], numbered: bool, bare: int
) -> list[tuple[int, Event | bytes]]:
    """The partition's lines (its files one after the other), parsed, with the collector paused:
    the parsed inputs all live on, and the collections their allocations set off would rescan
    them again and again (10 us a line paused, 26-31 us not, for 60,000 lines)."""
    out: list[tuple[int, Event | bytes]] = []
    with paused_collector():
        for path in paths:
            _read_file(path, numbered, bare, out)
    return out


def _read_file(path: Path, numbered: bool, bare: int, out: list[tuple[int, Event | bytes]]) -> None:
    """``bare``: the number of the history's last line if it has no newline (else 0)."""
    if numbered:  # a partition's file and its numbers (``_write_range``)
        numbers = array("q")
        numbers.frombytes(path.with_suffix(".numbers").read_bytes())
        if numbers:
            for number, line in zip(numbers, path.read_bytes().split(b"\n"), strict=True):
                try:
                    out.append((number, parse_event(line)))
                except LoyaltyError:  # the engine rejects it with the reason, worded as a
                    # replay of the file words it (there, the line ends with its newline, if it
                    # has one)
                    out.append((number, line if number == bare else line + b"\n"))
        return
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
    paths: tuple[Path, ...]  # the partition's files, in the history's order
    numbered: bool
    bare: int  # the number of the history's last line if it has no newline (else 0)
    programs: tuple[Program, ...]
    clocks: tuple[Clock | None, ...]  # one a program
    keep_members: bool


def _run_task(task: _Task) -> list[Rows]:
    events = _read_partition(task.paths, task.numbered, task.bare)
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
        scanned, groups = _scan(path, processes, progress, scan_chunk)
        lines = scanned.lines
        reason = _single_reason(scanned.parts)
        members = sum(p.enrollments for p in scanned.parts)
        wanted = partitions or max(
            processes * SPREAD if processes > 1 else 1,
            math.ceil(members / max(1, partition_members)),
        )
        parts = 1 if reason is not None else max(1, min(wanted, members))
        with tempfile.TemporaryDirectory(prefix="loyalty-simulate-") as folder:
            if parts == 1:
                files, numbered = [[path]], False
                del groups
            else:
                deal = _deal(scanned, groups, parts)
                # the groups are let go before the children are forked: forking copies the
                # page tables of this process's memory (the groups: 256 MiB at a million members)
                del groups
                files = _write_partitions(
                    path, scanned, deal, parts, Path(folder), processes, progress
                )
                numbered = True
                del deal
            totals, rounds, used = _replay(
                files, numbered, path, programs, scanned, processes, keep_members, progress
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
    if used == 1 and parts > 1:
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
    files: list[list[Path]],
    numbered: bool,
    path: Path,
    programs: Sequence[Program],
    scanned: _History,
    processes: int,
    keep_members: bool,
    progress: Progress | None,
) -> tuple[list[Rows], int, int]:
    """Replay every partition through every program; returns the rows, the rounds and the
    partitions used. With several partitions, each is given the
    whole history's clock: first as if every line were accepted, then from the rejections seen,
    until the clock given and the clock seen agree."""
    single = len(files) == 1
    guess = None if single else _clock(scanned, lambda n: False)
    clocks: tuple[Clock | None, ...] = tuple(guess for _ in programs)
    bare = _bare_line(path, len(scanned.nodes))
    for rounds in range(1, MAX_ROUNDS + 1):
        tasks = [
            _Task(tuple(f), numbered, bare, tuple(programs), clocks, keep_members) for f in files
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
            return totals, rounds, len(files)
        clocks = seen
    # not settled (a history whose times go back and forth a lot): one partition is exact
    return _replay([[path]], False, path, programs, scanned, processes, keep_members, progress)
