"""What-if simulation: replay one history through several program variants (presets or TOML files)
and compute the program's economics for each, with the figure functions of the database reports
(``loyalty.domain.figures``): one definition of each figure, two sources of data.

Members are independent, so the history is split by member across processes:

1. **Scan** (in parallel, by byte ranges of the file): each line is read with ``json.loads`` and
   tied to the identifiers it names: its member, its order, its return id and, for an enrollment,
   its email and phone (SG-1: one per person). Lines that share an identifier belong together
   (union-find): a shipment or return naming only an order goes with the member who bought it, a
   retro-credit joins an anonymous purchase to its member. ``campaign`` and ``tick`` inputs are
   global: they go to every partition.
2. **Partition**: whole groups are dealt round-robin into partitions, each keeping the file's order
   (and the line numbers, to report rejected lines as a replay does).
3. **Replay** (in a ``multiprocessing`` pool, one task a partition): the partition's lines are
   parsed once and replayed through a fresh in-memory ``Engine`` for each variant; the task returns
   figure rows (lots by expiry month, ledger sums by month and kind, members by tier and status,
   certificates, qualifying sales, month-end snapshots), which add up across partitions.

Per member the outcome is the one of a replay of the whole file (a differential test checks it):
the engine's state is per member, apart from the program-wide registries that the grouping above
keeps together. Two cases are replayed as a single partition instead (still exact, not parallel):
a history whose times go backwards somewhere (the global rule "an input earlier than the last
accepted one is rejected" then depends on other members' lines) and a history that links a
registration to a member number (SM-2: the number's owner is only known during the replay).
What can still differ is the wording of a rejection that names another member's certificate code
(its owner is unknown in the partition: "unknown certificate code" instead of "belongs to another
member"); the line is rejected either way.

The figures are as of the time of the last accepted input (as ``loyalty import`` then ``loyalty
jobs run`` would leave the database): members with jobs due by then are advanced, as ``jobs run``
does. Members per tier and net outstanding points are also taken at each month end (program time
zone) and at that final time, without changing anything (the engine's own checkpoint and restore).
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import multiprocessing
import os
import sys
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from loyalty.domain.calendar import local_date, next_month_start
from loyalty.domain.engine import Engine
from loyalty.domain.errors import LoyaltyError
from loyalty.domain.events import Event, parse_event
from loyalty.domain.figures import (
    activity_figures,
    economics_figures,
    liability_figures,
    month_of,
    outstanding_over_time,
    tier_figures,
    tiers_over_time,
)
from loyalty.domain.handlers import normal_phone
from loyalty.domain.jobs import advance, next_due
from loyalty.domain.summary import status
from loyalty.domain.tiers import tier_on
from loyalty.programs.schema import Program

GLOBAL_TYPES = frozenset({"campaign", "tick"})
# per-line node codes besides identifier hashes
BLANK, GLOBAL, MISC = 0, 1, 2
RESERVED = 3
PARTITION_MEMBERS = 20_000  # members per partition (bounds a worker's memory)
SCAN_CHUNK = 16 << 20  # bytes of the history a scan task reads
FREEZE_EVERY = 1_000
Progress = Callable[[str, int, int], None]


# -- scan ----------------------------------------------------------------------------------------
def _node(kind: str, value: str) -> int:
    """A 64-bit hash naming one identifier. A collision only puts two members in the same
    partition, which changes nothing in the outcome."""
    digest = hashlib.blake2b(f"{kind}\x00{value}".encode(), digest_size=8).digest()
    node = int.from_bytes(digest, "little", signed=True)
    return node + RESERVED if 0 <= node < RESERVED else node


def _aware_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


@dataclass
class ScanResult:
    """What the scan of one byte range of the history learnt."""

    nodes: array[int] = field(default_factory=lambda: array("q"))  # one a line
    times: array[int] = field(default_factory=lambda: array("q"))  # one a line: UTC microseconds
    offsets: array[int] = field(default_factory=lambda: array("i"))  # one a line: UTC offset (s)
    unions: array[int] = field(default_factory=lambda: array("q"))  # pairs of nodes
    ordered: bool = True  # no line earlier than a line before it (in this range)
    first: datetime | None = None  # earliest time in the range
    last: datetime | None = None  # latest time in the range
    links: int = 0  # enrollments linking to a member number (SM-2)
    odd: int = 0  # lines the scan cannot read but the engine might accept


def _micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def _moment(micros: int, offset: int) -> datetime:
    """The time ``_micros`` measured, with its original UTC offset (as the engine prints it)."""
    return (EPOCH + timedelta(microseconds=micros)).astimezone(timezone(timedelta(seconds=offset)))


def _scan_lines(lines: Iterator[bytes]) -> ScanResult:
    out = ScanResult()
    nodes, unions, times, offsets = out.nodes, out.unions, out.times, out.offsets
    latest: datetime | None = None
    for line in lines:
        at = None
        try:
            _scan_line(line, out, nodes, unions)
            at = out.pending_time
        finally:
            out.pending_time = None
            if at is None:
                times.append(NO_TIME)
                offsets.append(0)
            else:
                times.append(_micros(at))
                offsets.append(int(at.utcoffset() or timedelta(0)) // 1)
    return out
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            try:  # the engine rejects it too, unless its parser reads what json.loads cannot
                parse_event(line)
                out.odd += 1
            except LoyaltyError:
                pass
            nodes.append(MISC)
            continue
        at = _aware_time(data.get("at"))
        if at is not None:
            if latest is not None and at < latest:
                out.ordered = False
            if latest is None or at > latest:
                latest = at
            if out.first is None or at < out.first:
                out.first = at
        kind = data.get("type")
        if kind in GLOBAL_TYPES:
            nodes.append(GLOBAL)
            continue
        keys = []
        for name, prefix in (("member", "m"), ("order", "o")):
            value = data.get(name)
            if isinstance(value, str):
                keys.append(_node(prefix, value))
        if kind == "return" and isinstance(data.get("return"), str):
            keys.append(_node("r", data["return"]))
        if kind == "enroll":
            if isinstance(data.get("email"), str):
                keys.append(_node("e", data["email"].strip().lower()))
            if isinstance(data.get("phone"), str):
                keys.append(_node("p", normal_phone(data["phone"])))
            if data.get("member_number") is not None:
                out.links += 1
        if not keys:
            nodes.append(MISC)
            continue
        nodes.append(keys[0])
        for other in keys[1:]:
            unions.append(keys[0])
            unions.append(other)
    out.last = latest
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


class _Groups:
    """Union-find over identifier nodes."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, node: int) -> int:
        parent = self.parent
        root = parent.setdefault(node, node)
        while root != parent[root]:
            root = parent[root]
        while node != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


# -- replay of one partition ---------------------------------------------------------------------
@dataclass
class Rows:
    """Figure rows of one variant over one partition; rows of several partitions add up."""

    lots: Counter[str | None] = field(default_factory=Counter)  # expires month -> points
    debt: int = 0
    ledger: Counter[tuple[str, str]] = field(default_factory=Counter)  # (month, kind) -> points
    tiers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tier, status) -> members
    certificates: Counter[tuple[str, str]] = field(default_factory=Counter)  # (month, kind) -> n
    certificate_value: Counter[tuple[str, str]] = field(default_factory=Counter)  # -> cents
    sales: Counter[str] = field(default_factory=Counter)  # month -> qualifying cents
    tiers_by_month: Counter[tuple[str, str]] = field(default_factory=Counter)  # (month, tier)
    outstanding_by_month: Counter[str] = field(default_factory=Counter)  # month -> net points
    rejected: dict[int, str] = field(default_factory=dict)  # line -> error
    last_accepted: datetime | None = None
    members: dict[str, dict[str, Any]] | None = None

    def add(self, other: Rows) -> None:
        self.lots.update(other.lots)
        self.debt += other.debt
        self.ledger.update(other.ledger)
        self.tiers.update(other.tiers)
        self.certificates.update(other.certificates)
        self.certificate_value.update(other.certificate_value)
        self.sales.update(other.sales)
        self.tiers_by_month.update(other.tiers_by_month)
        self.outstanding_by_month.update(other.outstanding_by_month)
        self.rejected.update(other.rejected)
        if other.last_accepted is not None and (
            self.last_accepted is None or other.last_accepted > self.last_accepted
        ):
            self.last_accepted = other.last_accepted
        if other.members is not None:
            if self.members is None:
                self.members = {}
            self.members.update(other.members)


def _snapshot(engine: Engine, moment: datetime, rows: Rows) -> None:
    """Members per tier and net outstanding points at ``moment``, with the jobs due by then run
    and undone (the engine's checkpoint and restore): nothing changes."""
    month = month_of(moment, engine.tz)
    rules = engine.program_at(moment).tiers
    day = local_date(moment, engine.tz)
    tiers, outstanding = Counter[str](), 0
    for member in engine.members.values():
        due = next_due(member)
        saved = None
        if due is not None and due <= moment:
            saved = member.checkpoint()
            advance(engine.program_at, member, moment, engine.tz, engine.issue_certificate)
        if member.enrolled:
            tiers[rules.levels[tier_on(rules, member.tiers, day)].id] += 1
        outstanding += member.wallet.available + member.wallet.pending
        if saved is not None:
            for code in member.restore(saved):
                engine.registry.drop_code(code)
    for tier, n in tiers.items():
        rows.tiers_by_month[(month, tier)] += n
    rows.outstanding_by_month[month] += outstanding


def _final_rows(engine: Engine, rows: Rows) -> None:
    """The rows the SQL reports read, from the in-memory state (as ``DurableEngine.flush`` would
    write them): lots that hold points, ledger entries, members' tier at their clock and status."""
    program, tz = engine.program, engine.tz
    rules = program.tiers
    month_cache: dict[datetime, str] = {}

    def month(at: datetime) -> str:
        found = month_cache.get(at)
        if found is None:
            found = month_cache[at] = month_of(at, tz)
        return found

    for member in engine.members.values():
        wallet = member.wallet
        for lot in wallet.lots:
            if lot.remaining > 0:
                expires = month_of(lot.expires_at, tz) if lot.expires_at is not None else None
                rows.lots[expires] += lot.remaining
        rows.debt += wallet.debt
        for entry in wallet.entries:
            rows.ledger[(month(entry.at), entry.kind)] += entry.points
        tier = rules.levels[tier_on(rules, member.tiers, local_date(member.clock, tz))].id
        rows.tiers[(tier, status(program, member))] += 1
        for cert in member.certificates:
            key = (month(cert.issued_at), cert.kind)
            rows.certificates[key] += 1
            if cert.amount is not None:
                rows.certificate_value[key] += int(cert.amount * 100)
        for order in member.orders.values():
            rows.sales[f"{order.day.year:04d}-{order.day.month:02d}"] += int(order.qualifying * 100)


def replay_partition(
    program: Program,
    events: Sequence[tuple[int, Event | bytes]],
    as_of: datetime | None = None,
    keep_members: bool = False,
) -> Rows:
    """Replay numbered inputs through a fresh engine; return the figure rows as of ``as_of``
    (default: the last accepted input)."""
    engine = Engine(program)
    rows = Rows()
    boundary: datetime | None = None
    try:
        for count, (number, event) in enumerate(events, start=1):
            if not isinstance(event, bytes):
                at = event.at
                if boundary is None:
                    boundary = next_month_start(at, engine.tz)
                while at >= boundary:
                    _snapshot(engine, boundary - timedelta(microseconds=1), rows)
                    boundary = next_month_start(boundary, engine.tz)
            outcome = engine.apply(event)
            if not outcome.accepted:
                rows.rejected[number] = str(outcome.error)
            if count % FREEZE_EVERY == 0:
                gc.freeze()
        rows.last_accepted = engine.now
        moment = as_of if as_of is not None else engine.now
        if moment is not None:
            while boundary is not None and boundary <= moment:
                _snapshot(engine, boundary - timedelta(microseconds=1), rows)
                boundary = next_month_start(boundary, engine.tz)
            _snapshot(engine, moment, rows)
            if engine.now is None or moment > engine.now:
                engine.now = moment
            for member in engine.members.values():  # as ``loyalty jobs run`` does
                due = next_due(member)
                if due is not None and due <= moment:
                    advance(engine.program_at, member, moment, engine.tz, engine.issue_certificate)
        _final_rows(engine, rows)
        if keep_members:
            rows.members = engine.summaries()
    finally:
        gc.unfreeze()
    return rows


def _read_partition(path: Path, numbered: bool) -> list[tuple[int, Event | bytes]]:
    out: list[tuple[int, Event | bytes]] = []
    with path.open("rb") as handle:
        for index, raw in enumerate(handle, start=1):
            if numbered:
                head, _, line = raw.partition(b"\t")
                number = int(head)
            else:
                number, line = index, raw
            if not line.strip():
                continue
            try:
                out.append((number, parse_event(line)))
            except LoyaltyError:
                out.append((number, line))  # the engine rejects it with the reason
    return out


# -- worker processes ------------------------------------------------------------------------------
_PROGRAMS: list[Program] = []


def _init_worker(programs: list[Program]) -> None:
    _PROGRAMS[:] = programs


@dataclass(frozen=True)
class _Task:
    path: str
    numbered: bool
    as_of: tuple[datetime | None, ...]  # one a program
    keep_members: bool


def _run_task(task: _Task) -> list[Rows]:
    events = _read_partition(Path(task.path), task.numbered)
    return [
        replay_partition(program, events, as_of, task.keep_members)
        for program, as_of in zip(_PROGRAMS, task.as_of, strict=True)
    ]


# -- the simulation ------------------------------------------------------------------------------
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
    single_partition_reason: str | None = None


def _figures(program: Program, rows: Rows) -> dict[str, Any]:
    ledger = [(m, k, p) for (m, k), p in rows.ledger.items()]
    certificates = [
        (m, k, n, Decimal(rows.certificate_value[(m, k)]) / 100)
        for (m, k), n in rows.certificates.items()
    ]
    sales = [(m, Decimal(cents) / 100) for m, cents in rows.sales.items()]
    return {
        "liability": liability_figures(rows.lots.items(), rows.debt, program),
        "activity": activity_figures(ledger),
        "tiers": tier_figures(sorted((t, s, n) for (t, s), n in rows.tiers.items()), program),
        "economics": economics_figures(ledger, certificates, sales, program),
        "tiers_by_month": tiers_over_time(
            [(m, t, n) for (m, t), n in rows.tiers_by_month.items()], program
        ),
        "outstanding_by_month": outstanding_over_time(rows.outstanding_by_month.items(), program),
    }


def _scan(path: Path, pool: Any, progress: Progress | None) -> tuple[array[int], list[ScanResult]]:
    tasks = [(str(path), start, end) for start, end in _ranges(path, SCAN_CHUNK)]
    results: list[ScanResult] = []
    iterator = pool.imap(_scan_range, tasks) if pool is not None else map(_scan_range, tasks)
    for done, result in enumerate(iterator, start=1):
        results.append(result)
        if progress is not None:
            progress("scan", done, len(tasks))
    nodes = array("q")
    for result in results:
        nodes.extend(result.nodes)
    return nodes, results


def _ordered(results: list[ScanResult]) -> bool:
    latest: datetime | None = None
    for result in results:
        if not result.ordered:
            return False
        if latest is not None and result.first is not None and result.first < latest:
            return False
        if result.last is not None and (latest is None or result.last > latest):
            latest = result.last
    return True


def _groups(nodes: array[int], results: list[ScanResult]) -> tuple[_Groups, int]:
    """The groups of lines that must stay together, and how many there are (about one a
    member)."""
    groups = _Groups()
    for result in results:
        unions = result.unions
        for i in range(0, len(unions), 2):
            groups.union(unions[i], unions[i + 1])
    roots = {groups.find(n) for n in nodes if n >= RESERVED or n < 0}
    return groups, len(roots)


def _write_partitions(
    path: Path, nodes: array[int], groups: _Groups, parts: int, folder: Path
) -> list[Path]:
    """Deal the groups of lines round-robin into ``parts`` files (line number, tab, line)."""
    assigned: dict[int, int] = {}
    paths = [folder / f"part-{i:04d}.jsonl" for i in range(parts)]
    handles = [p.open("wb") for p in paths]
    try:
        with path.open("rb") as source:
            for number, line in enumerate(source, start=1):
                node = nodes[number - 1]
                if node == BLANK:
                    continue
                if not line.endswith(b"\n"):
                    line += b"\n"
                record = b"%d\t%b" % (number, line)
                if node == GLOBAL:
                    for handle in handles:
                        handle.write(record)
                    continue
                if node == MISC:
                    handles[0].write(record)
                    continue
                root = groups.find(node)
                part = assigned.get(root)
                if part is None:
                    part = assigned[root] = len(assigned) % parts
                handles[part].write(record)
    finally:
        for handle in handles:
            handle.close()
    return paths


def simulate(
    history: str | Path,
    programs: Sequence[Program],
    *,
    processes: int | None = None,
    partitions: int | None = None,
    partition_members: int = PARTITION_MEMBERS,
    keep_members: bool = False,
    progress: Progress | None = None,
) -> Simulation:
    """Replay ``history`` through each program and compute its figures.

    ``processes``: worker processes (default: every core; 1 runs in this process). ``partitions``:
    how many parts the members are split into (default: one a process, more when there are over
    ``partition_members`` members a part). ``keep_members``: also return every member's SPEC §8
    summary (for tests and small histories)."""
    path = Path(history)
    processes = max(1, processes if processes is not None else (os.cpu_count() or 1))
    # fork on Linux: workers start at once and scripts need no ``if __name__ == "__main__"``
    # guard; callers should not have threads running (the CLI's progress display has none)
    method = "fork" if sys.platform == "linux" else "spawn"
    pool = (
        multiprocessing.get_context(method).Pool(
            processes, initializer=_init_worker, initargs=(list(programs),)
        )
        if processes > 1
        else None
    )
    _init_worker(list(programs))
    try:
        nodes, results = _scan(path, pool, progress)
        lines = sum(1 for n in nodes if n != BLANK)
        reason = None
        if sum(r.links for r in results):
            reason = "the history links registrations to member numbers (SM-2)"
        elif not _ordered(results):
            reason = "the history's times go backwards somewhere"
        elif sum(r.odd for r in results):
            reason = "the history has lines that only the engine's parser reads"
        groups, members = _groups(nodes, results)
        wanted = partitions or max(processes, math.ceil(members / max(1, partition_members)))
        parts = 1 if reason is not None else max(1, min(wanted, members))
        with tempfile.TemporaryDirectory(prefix="loyalty-simulate-") as folder:
            if parts == 1:
                files, numbered = [path], False
            else:
                files, numbered = _write_partitions(path, nodes, groups, parts, Path(folder)), True
            del nodes, groups
            totals = _replay(files, numbered, programs, results, pool, keep_members, progress)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    variants = []
    for program, rows in zip(programs, totals, strict=True):
        rejected = [{"line": n, "error": rows.rejected[n]} for n in sorted(rows.rejected)]
        variants.append(
            Variant(
                program=program,
                figures=_figures(program, rows),
                as_of=rows.last_accepted,
                rejected=rejected,
                accepted=lines - len(rejected),
                members=rows.members,
            )
        )
    return Simulation(str(path), variants, lines, len(files), processes, reason)


def _replay(
    files: list[Path],
    numbered: bool,
    programs: Sequence[Program],
    results: list[ScanResult],
    pool: Any,
    keep_members: bool,
    progress: Progress | None,
) -> list[Rows]:
    """Replay every partition through every program. With several partitions, each is finished
    at the latest time in the history; the figures are as of the last accepted input of the whole
    history, which is earlier only when the last lines were all rejected: then the partitions are
    replayed again with that time."""
    latest = max((r.last for r in results if r.last is not None), default=None)
    as_of = tuple(latest if len(files) > 1 else None for _ in programs)
    while True:
        tasks = [_Task(str(f), numbered, as_of, keep_members) for f in files]
        totals = [Rows() for _ in programs]
        iterator = (
            pool.imap_unordered(_run_task, tasks) if pool is not None else map(_run_task, tasks)
        )
        for done, task_rows in enumerate(iterator, start=1):
            for total, rows in zip(totals, task_rows, strict=True):
                total.add(rows)
            if progress is not None:
                progress("replay", done, len(tasks))
        last = tuple(t.last_accepted for t in totals)
        if len(files) == 1 or last == as_of:
            return totals
        as_of = last
