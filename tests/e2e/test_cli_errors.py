"""Bad or hostile input on the command line, run as a real process: user text that looks like
Rich markup is printed as is, a line nested too deeply for ``json.loads``, a ``--plot`` path that
cannot be written, times out of the supported range and directories given as files. Each is a
specific message (or the literal text), never a stack trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import flat, run

AT = "2024-03-01T09:00:00-05:00"
TINY = """id = "tiny"
name = "[/b] Tiny"
currency = "EUR"
timezone = "Europe/Paris"

[tiers]
window = "calendar_year"
levels = [{ id = "member", threshold = "0", rate = "1" }, { id = "gold", threshold = "100", \
rate = "2" }]
"""
RANGE = "time out of the supported range (years 1900-9000)"


def write_lines(path: Path, *events: dict[str, object] | str) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    return path


@pytest.fixture
def markup(tmp_path: Path) -> Path:
    """Member ids and a rejection message ("unknown member [/oops]") that read as Rich markup."""
    return write_lines(
        tmp_path / "markup.jsonl",
        {"type": "enroll", "at": AT, "member": "[red]m1", "email": "a@x.com"},
        {"type": "enroll", "at": AT, "member": "[/x]", "email": "b@x.com"},
        {"type": "action", "at": AT, "member": "[/oops]", "action": "review", "ref": "r"},
    )


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/l.db"


# -- Rich markup in user text ----------------------------------------------------------------------
def test_replay_prints_markup_in_member_ids_and_messages_as_is(markup: Path) -> None:
    result = run("replay", markup, "--program", "soko")
    assert result.returncode == 0, result.stderr
    assert "[red]m1" in result.stdout
    assert "[/x]" in result.stdout
    assert "line 3: member: unknown member [/oops]" in flat(result.stdout)
    assert "2 inputs accepted, 1 rejected, 2 members" in flat(result.stdout)


def test_replay_and_check_program_print_a_markup_program_name_as_is(
    markup: Path, tiny: Path
) -> None:
    checked = run("check-program", tiny)
    assert checked.returncode == 0, checked.stderr
    assert "ok: [/b] Tiny (tiny), 2 tiers" in flat(checked.stdout)
    replayed = run("replay", markup, "--program", tiny)
    assert replayed.returncode == 0, replayed.stderr
    assert "[/b] Tiny: markup.jsonl" in replayed.stdout
    assert "[red]m1" in replayed.stdout


def test_import_and_summary_print_markup_as_is(tmp_path: Path, markup: Path, url: str) -> None:
    named = write_lines(tmp_path / "[bold]f.jsonl", *markup.read_text().splitlines())
    imported = run("import", named, "--program", "soko", "-d", url)
    assert imported.returncode == 0, imported.stderr
    assert "line 3: member: unknown member [/oops]" in flat(imported.stdout)
    assert "3 lines, 2 inputs accepted, 1 rejected" in flat(imported.stdout)
    assert "importing [bold]f.jsonl" in imported.stderr  # the progress bar
    summary = run("summary", "--program", "soko", "-d", url)
    assert summary.returncode == 0, summary.stderr
    assert "[red]m1" in summary.stdout and "[/x]" in summary.stdout


def test_simulate_prints_markup_in_program_names_and_specs_as_is(markup: Path, tiny: Path) -> None:
    result = run("simulate", markup, "--program", "soko", "--vs", tiny, "--processes", "1")
    assert result.returncode == 0, result.stderr
    assert "[/b] Tiny" in flat(result.stdout)
    assert "What if: Soko" in flat(result.stdout)


# -- a line nested too deeply for json.loads -------------------------------------------------------
def test_a_deeply_nested_line_is_an_error_not_a_crash(tmp_path: Path) -> None:
    deep = write_lines(
        tmp_path / "deep.jsonl",
        {"type": "enroll", "at": AT, "member": "m1", "email": "a@x.com"},
        "[" * 100_000,
    )
    replayed = run("replay", deep, "--program", "soko", "--json")
    assert replayed.returncode == 0, replayed.stderr
    (rejected,) = json.loads(replayed.stdout)["rejected"]
    assert rejected["line"] == 2 and "malformed JSON" in rejected["error"]
    simulated = run("simulate", deep, "--program", "soko", "--vs", "soko", "--json")
    assert simulated.returncode == 0, simulated.stderr  # the line is rejected, as in a replay
    assert json.loads(simulated.stdout)["variants"]["A"]["rejected"] == 1


# -- --plot ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("dir.svg", "dir.svg: is a directory"),
        ("missing/c.svg", "missing/c.svg: no such directory:"),
        ("file.txt/c.svg", "file.txt/c.svg: not a directory:"),
        ("c.pdf", "the chart is written as SVG"),
        ("c.png", "only SVG charts are supported"),
    ],
)
def test_simulate_checks_the_plot_path_before_running(
    tmp_path: Path, markup: Path, where: str, message: str
) -> None:
    (tmp_path / "dir.svg").mkdir()
    (tmp_path / "file.txt").write_text("x")
    result = run("simulate", markup, "-p", "soko", "--vs", "soko", "--plot", tmp_path / where)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error: --plot: " in result.stderr
    assert message in flat(result.stderr)


# -- times out of range ----------------------------------------------------------------------------
@pytest.mark.parametrize("until", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_jobs_run_until_out_of_range(url: str, until: str) -> None:
    result = run("jobs", "run", "--program", "soko", "-d", url, "--until", until)
    assert result.returncode == 2
    assert f"error: --until: {RANGE}" in result.stderr


def test_jobs_run_until_bad_or_naive(url: str) -> None:
    bad = run("jobs", "run", "--program", "soko", "-d", url, "--until", "tomorrow")
    assert bad.returncode == 2
    assert "error: --until: not an ISO-8601 time: tomorrow" in bad.stderr
    naive = run("jobs", "run", "--program", "soko", "-d", url, "--until", "2024-01-01T00:00:00")
    assert naive.returncode == 2
    assert "error: --until: the time needs a UTC offset" in naive.stderr


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_member_link_at_out_of_range(url: str, at: str) -> None:
    result = run(
        "member", "link", "-p", "soma", "-d", url, "--member", "w", "--number", "1", "--at", at
    )
    assert result.returncode == 2
    assert f"error: --at: {RANGE}" in result.stderr


# -- a directory given as the input file -----------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ("replay", "--program", "soko"),
        ("simulate", "--program", "soko", "--vs", "soko"),
        ("import", "--program", "soko", "-d", "sqlite:///{tmp}/l.db"),
    ],
)
def test_a_directory_is_not_a_file(tmp_path: Path, command: tuple[str, ...]) -> None:
    folder = tmp_path / "history"
    folder.mkdir()
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    result = run(args[0], folder, *args[1:])
    assert result.returncode == 2
    assert f"error: {folder}: is a directory" in result.stderr
    assert not (tmp_path / "l.db").exists()
