"""Golden-output regression test: replaying a committed history gives, member for member and entry
for entry, the state the reference code gave.

For each preset, ``tests/golden/{preset}-history.jsonl.gz`` is a fixed input (a synthetic history
of 200 members over 12 months, plus hand-written lines at the end for rarer paths: adjustments,
duplicates, conflicting repeats, an adjustment and a campaign repeated with the same instants
written in another UTC offset, bad input, retro-credit, a bonus campaign, certificate tenders, early
release, time going backwards, a far-future tick that runs expiries and monthly jobs, a debt; see
``extra_lines`` in ``tests/golden/regenerate.py``). ``{preset}-expected.json.gz`` is the snapshot
the reference code (commit 84e58a5, before the performance work) made of the replay: the number of
accepted lines, every rejected line, per member the summary, ledger, lots, certificates and
notifications, and every member's summary after replays of the first third and two thirds.

The snapshot is built by ``build_snapshot`` below, the one builder used both to make the expected
files (``tests/golden/regenerate.py``) and to check the current code. It is canonical so that only
behaviour counts, not representation: instants are UTC ISO text (the same instant compares equal
whatever offset the code holds it in), dates ISO text, decimals ``str``, sets sorted. One message is
normalised: "time goes backwards" rejections quote instants, and these are rewritten in UTC (the
wording is kept; only the offset the instants are printed in may change).

On a mismatch the test names the members and the parts (summary, ledger, ...) that differ and shows
the first differences field by field.
"""

from __future__ import annotations

import difflib
import gzip
import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pytest

from loyalty import Engine, replay_lines

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
PRESETS = ("soko", "sogo", "soma")
SHOWN, PER_MEMBER = 20, 5  # differences shown in a failure report: in all, per member

# the fields of each row of a member's lists, in snapshot order
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "ledger": ("seq", "at", "kind", "points", "ref", "note"),
    "lots": (
        "id",
        "kind",
        "points",
        "remaining",
        "earned_at",
        "available_at",
        "expires_at",
        "matured",
        "ref",
    ),
    "certificates": (
        "code",
        "kind",
        "amount",
        "issued_at",
        "expires_on",
        "delivery",
        "redeemed_at",
        "redeemed_order",
    ),
    "notifications": ("at", "kind", "data"),
}
NUMBERED = frozenset({"ledger", "lots"})  # rows whose first field is a running number


# -- the snapshot (one builder; it must keep running on the reference code too) ----------------
def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def canonical(value: Any) -> Any:
    """Plain JSON data: instants as UTC ISO text, dates ISO, decimals str, sets sorted."""
    if isinstance(value, datetime):
        return utc_text(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
)


def canonical_error(text: str) -> str:
    """The rejection as text; in a "time goes backwards" message the instants are put in UTC."""
    if "time goes backwards" not in text:
        return text
    return _INSTANT.sub(lambda m: utc_text(datetime.fromisoformat(m.group())), text)


def member_snapshot(engine: Engine, member_id: str) -> dict[str, Any]:
    return {
        "summary": canonical(engine.summary(member_id)),
        "ledger": [
            canonical([e.seq, e.at, e.kind, e.points, e.ref, e.note])
            for e in engine.ledger(member_id)
        ],
        "lots": [
            canonical(
                [
                    lot.id,
                    lot.kind,
                    lot.points,
                    lot.remaining,
                    lot.earned_at,
                    lot.available_at,
                    lot.expires_at,
                    lot.matured,
                    lot.ref,
                ]
            )
            for lot in engine.lots(member_id)
        ],
        "certificates": [
            canonical(
                [
                    c.code,
                    c.kind,
                    c.amount,
                    c.issued_at,
                    c.expires_on,
                    c.delivery,
                    c.redeemed_at,
                    c.redeemed_order,
                ]
            )
            for c in engine.certificates(member_id)
        ],
        "notifications": [
            canonical([n.at, n.kind, n.data]) for n in engine.notifications(member_id)
        ],
    }


def checkpoints(lines: Sequence[str]) -> list[int]:
    """Where the summaries are also taken: after the first third and two thirds of the lines (the
    end of the history runs a year of expiries and monthly jobs, which levels tiers and spend)."""
    return [len(lines) // 3, 2 * len(lines) // 3]


def build_snapshot(preset: str, lines: Sequence[str]) -> dict[str, Any]:
    """Replay ``lines`` with the code on the path and describe everything that came out; plus the
    summaries of replays of the first lines, up to each checkpoint."""
    result = replay_lines(preset, lines)
    engine = result.engine
    partial = {}
    for count in checkpoints(lines):
        early = replay_lines(preset, lines[:count]).engine
        partial[str(count)] = {m: canonical(early.summary(m)) for m in sorted(early.members)}
    return {
        "accepted": result.accepted,
        "rejected": [
            {"line": r["line"], "error": canonical_error(str(r["error"]))} for r in result.rejected
        ],
        "members": {m: member_snapshot(engine, m) for m in sorted(engine.members)},
        "summaries_after_line": partial,
    }


def history_path(preset: str) -> Path:
    return GOLDEN / f"{preset}-history.jsonl.gz"


def expected_path(preset: str) -> Path:
    return GOLDEN / f"{preset}-expected.json.gz"


def load_history(preset: str) -> list[str]:
    with gzip.open(history_path(preset), "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def load_expected(preset: str) -> dict[str, Any]:
    with gzip.open(expected_path(preset), "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def write_gzip(path: Path, text: str) -> None:
    """Reproducible bytes (no time stamp in the header): an unchanged snapshot is no git change."""
    path.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))


# -- readable differences ----------------------------------------------------------------------
def _labelled(fields: Sequence[str], row: Sequence[Any]) -> str:
    names = list(fields) + [f"#{i}" for i in range(len(fields), len(row))]
    return " ".join(f"{name}={dump(value)}" for name, value in zip(names, row, strict=False))


def _field_changes(fields: Sequence[str], a: Sequence[Any], b: Sequence[Any]) -> str:
    return "; ".join(
        f"{fields[i] if i < len(fields) else f'#{i}'}: expected {dump(x)}, got {dump(y)}"
        for i, (x, y) in enumerate(zip_longest(a, b))
        if dump(x) != dump(y)
    )


def _row_diffs(part: str, expected: list[Any], actual: list[Any]) -> Iterator[str]:
    """Rows aligned on their content without the running number (a ledger entry's ``seq``, a lot's
    ``id``): one missing entry is reported once, and the renumbering after it in one line."""
    fields = ROW_FIELDS[part]
    skip = 1 if part in NUMBERED else 0
    old = [dump(row[skip:]) for row in expected]
    new = [dump(row[skip:]) for row in actual]
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            moved = [k for k in range(i2 - i1) if expected[i1 + k] != actual[j1 + k]]
            if moved:
                first, last = moved[0], moved[-1]
                yield (
                    f"{part}[{i1 + first}..{i1 + last}]: {len(moved)} same row(s) renumbered: "
                    f"{fields[0]} {expected[i1 + first][0]}..{expected[i1 + last][0]} became "
                    f"{actual[j1 + first][0]}..{actual[j1 + last][0]}"
                )
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                a, b = expected[i1 + k], actual[j1 + k]
                yield f"{part}[{i1 + k}] ({_labelled(fields, a)}): {_field_changes(fields, a, b)}"
        else:
            for i in range(i1, i2):
                yield f"{part}[{i}] only expected: {_labelled(fields, expected[i])}"
            for k in range(j1, j2):
                yield f"{part}[{k}] only got: {_labelled(fields, actual[k])}"


def _tree_diffs(path: str, expected: Any, actual: Any) -> Iterator[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys()):
            where = f"{path}.{key}"
            if key not in actual:
                yield f"{where}: missing (expected {dump(expected[key])})"
            elif key not in expected:
                yield f"{where}: unexpected (got {dump(actual[key])})"
            else:
                yield from _tree_diffs(where, expected[key], actual[key])
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (x, y) in enumerate(zip(expected, actual, strict=True)):
            yield from _tree_diffs(f"{path}[{i}]", x, y)
    elif dump(expected) != dump(actual):
        yield f"{path}: expected {dump(expected)}, got {dump(actual)}"


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(member, part, difference): the replay's own first (member "-"), then member by member,
    each member's ledger first (usually the cause), then lots, certificates, notifications and
    summaries."""
    out: list[tuple[str, str, str]] = []
    if expected["accepted"] != actual["accepted"]:
        out.append(
            ("-", "accepted", f"expected {expected['accepted']} lines, got {actual['accepted']}")
        )
    old = {r["line"]: r["error"] for r in expected["rejected"]}
    new = {r["line"]: r["error"] for r in actual["rejected"]}
    for line in sorted(old.keys() | new.keys()):
        if line not in new:
            out.append(("-", "rejected", f"line {line}: accepted now, was rejected: {old[line]}"))
        elif line not in old:
            out.append(("-", "rejected", f"line {line}: rejected now, was accepted: {new[line]}"))
        elif old[line] != new[line]:
            out.append(
                ("-", "rejected", f"line {line}: expected error {old[line]!r}, got {new[line]!r}")
            )
    by_member: dict[str, list[tuple[str, str]]] = {}
    members_old, members_new = expected["members"], actual["members"]
    for member in members_old.keys() | members_new.keys():
        found = by_member.setdefault(member, [])
        if member not in members_new:
            found.append(("member", "missing (in the expected snapshot only)"))
            continue
        if member not in members_old:
            found.append(("member", "unexpected (not in the expected snapshot)"))
            continue
        a, b = members_old[member], members_new[member]
        for part in (*ROW_FIELDS, "summary"):
            if dump(a.get(part)) == dump(b.get(part)):
                continue
            if part == "summary":
                texts = list(_tree_diffs("summary", a.get(part), b.get(part)))
            else:
                texts = list(_row_diffs(part, a.get(part) or [], b.get(part) or []))
            texts = texts or [f"{part}: expected {dump(a.get(part))}, got {dump(b.get(part))}"]
            found.extend((part, text) for text in texts)
    early_old = expected.get("summaries_after_line", {})
    early_new = actual.get("summaries_after_line", {})
    for count in sorted(early_old.keys() | early_new.keys(), key=int):
        part = f"summary after line {count}"
        old_summaries, new_summaries = early_old.get(count, {}), early_new.get(count, {})
        for member in old_summaries.keys() | new_summaries.keys():
            by_member.setdefault(member, []).extend(
                (part, text)
                for text in _tree_diffs(part, old_summaries.get(member), new_summaries.get(member))
            )
    for member in sorted(by_member):
        out.extend((member, part, text) for part, text in by_member[member])
    return out


def report(preset: str, diffs: list[tuple[str, str, str]]) -> str:
    """Which members and parts differ, then the first differences, a few per member."""
    parts_of: dict[str, list[str]] = {}
    for member, part, _ in diffs:
        parts = parts_of.setdefault(member, [])
        if part not in parts:
            parts.append(part)
    members = [m for m in parts_of if m != "-"]
    lines = [
        f"{preset}: the replay differs from the golden snapshot: {len(diffs)} difference(s) in "
        f"{len(members)} member(s)"
        + (", and in the replay's accepted/rejected lines" if "-" in parts_of else ""),
        "differing (member: parts): "
        + ", ".join(
            f"{'replay' if m == '-' else m} ({', '.join(p)})"
            for m, p in list(parts_of.items())[:12]
        )
        + (f" ... and {len(parts_of) - 12} more" if len(parts_of) > 12 else ""),
        "first differences:",
    ]
    shown: dict[str, int] = {}
    for member, _, text in diffs:
        if sum(shown.values()) >= SHOWN:
            break
        if shown.get(member, 0) >= PER_MEMBER:
            continue
        shown[member] = shown.get(member, 0) + 1
        lines.append(f"  {'replay' if member == '-' else member}  {text}")
    lines.append(
        "If (and only if) this is an intended, reviewed behaviour change, rebuild the snapshots "
        "with: python tests/golden/regenerate.py (see its docstring)"
    )
    return "\n".join(lines)


# -- the test ----------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", PRESETS)
def test_replay_matches_the_golden_snapshot(preset: str) -> None:
    expected = load_expected(preset)
    assert len(expected["members"]) >= 200, "the golden snapshot looks truncated"
    actual = build_snapshot(preset, load_history(preset))
    if dump(actual) != dump(expected):
        diffs = differences(expected, actual)
        pytest.fail(report(preset, diffs or [("-", "?", "the snapshots differ")]), pytrace=False)
