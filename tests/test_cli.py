"""The command line on the bundled sample study: ingest, check, score, run; bad input leaves
the store exactly as it was; outputs are reproducible. Each command's --help agrees with the
README's synopsis, shows flags as flags and speaks only of its own options."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import evalkit
from evalkit import store as store_mod
from evalkit.cli import app

from conftest import copy_sample

runner = CliRunner()
CONTRACT = {
    "progress.csv": ["unit_id", "indicator_id", "deadline", "baseline_value", "target_value",
                     "expected_value", "actual_value", "attainment", "progress_ratio",
                     "status"],
    "gaps.csv": ["unit_id", "indicator_id", "benchmark_unit_id", "actual_value",
                 "benchmark_value", "gap", "relative_gap", "closure", "catch_up_period"],
    "scores.csv": ["unit_id", "domain", "score", "coverage", "rank", "score_change",
                   "rank_change"],
    "ledger.csv": ["item_id", "unit_id", "owner", "deadline", "status"],
}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A copy of the sample study, ingested once into its own store."""
    folder = tmp_path_factory.mktemp("study") / "sample"
    copy_sample(folder)
    result = runner.invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_ingest_loads_every_table_of_the_sample(study):
    tables = store_mod.read(study / "evalkit.duckdb")
    direct = evalkit.read_inputs([study])
    for name, frame in direct.items():
        assert len(tables[name]) == len(frame) > 0, name
    # the seed-layout ledger sheet has no unit column: its unit comes from the title row
    daying = tables["ledger"][tables["ledger"]["unit_id"] == "daying"]
    assert len(daying) == 9 and daying["item_id"].str.startswith("大英县-").all()
    # the GBK file of bonus and deduction points, with its one-vote veto
    assert tables["adjustments"]["veto"].sum() == 1
    assert store_mod.data_version(study / "evalkit.duckdb") == 1


def test_reingest_is_a_no_op(study):
    result = runner.invoke(app, ["ingest", str(study)])
    assert result.exit_code == 0 and "nothing new" in result.output
    assert store_mod.data_version(study / "evalkit.duckdb") == 1


def _snapshot(store: Path) -> dict[str, pd.DataFrame]:
    return {name: frame.copy() for name, frame in store_mod.read(store).items()}


def test_broken_file_changes_nothing(study, tmp_path):
    store = study / "evalkit.duckdb"
    before = _snapshot(store)
    bad = tmp_path / "observations.csv"
    bad.write_text("unit_id,indicator_id,period,value\n"
                   "daying,community_renovated,2024Q1,31\n"       # fine on its own
                   "daying,community_renovated,2024Q5,32\n"       # no such quarter
                   "nobody,community_renovated,2024Q1,1\n",       # unknown unit
                   encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(bad), "--store", str(store)])
    assert result.exit_code != 0
    err = result.stderr
    assert "nothing was loaded" in err.splitlines()[0]
    assert f"{bad}, row 3, column period" in err
    assert f"{bad}, row 4, column unit_id" in err
    after = _snapshot(store)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], check_like=True)
    assert store_mod.data_version(store) == 1


def test_resubmitted_value_is_a_revision(study, tmp_path):
    store = tmp_path / "s.duckdb"
    shutil.copy(study / "evalkit.duckdb", store)
    obs = evalkit.load(store).observations
    row = obs[(obs.unit_id == "daying") & (obs.period == "2023Q4")].iloc[0]
    new = tmp_path / "observations_2023Q4.csv"
    new.write_text(f"unit_id,indicator_id,period,value,source\n"
                   f"daying,{row.indicator_id},2023年第四季度,{row.value + 1},复核更正\n",
                   encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(new), "--store", str(store), "--by", "审核员"])
    assert result.exit_code == 0, result.output
    assert "data version 2" in result.output
    hist = store_mod.revisions(store, "observations")
    mine = hist[(hist.unit_id == "daying") & (hist.indicator_id == row.indicator_id)
                & (hist.period == "2023Q4")].sort_values("_version")
    assert list(mine["value"]) == [row.value, row.value + 1]
    assert list(mine["_version"]) == [1, 2] and mine["_ingested_by"].iloc[-1] == "审核员"
    now = evalkit.load(store).observations
    cur = now[(now.unit_id == "daying") & (now.indicator_id == row.indicator_id)
              & (now.period == "2023Q4")].iloc[0]
    assert cur.value == row.value + 1 and cur.revision == 2
    old = evalkit.load(store, version=1).observations
    assert old.loc[(old.unit_id == "daying") & (old.indicator_id == row.indicator_id)
                   & (old.period == "2023Q4"), "value"].item() == row.value


def test_score_writes_the_contract_tables_reproducibly(study, tmp_path):
    store = study / "evalkit.duckdb"
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        result = runner.invoke(app, ["score", "--cycle", "latest", "--store", str(store),
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
    for name, columns in CONTRACT.items():
        frame = pd.read_csv(out1 / name)
        assert set(columns) <= set(frame.columns), name
        assert len(frame) > 0
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name
    scores = pd.read_csv(out1 / "scores.csv")
    assert {"overall", "total"} <= set(scores["domain"])
    assert scores.duplicated(["unit_id", "domain"]).sum() == 0
    progress = pd.read_csv(out1 / "progress.csv")
    assert progress.duplicated(["unit_id", "indicator_id", "deadline"]).sum() == 0
    assert (out1 / "meta.json").read_text(encoding="utf-8").count('"data_version": 1') == 1


def test_score_an_earlier_cycle_written_in_chinese(study, tmp_path):
    result = runner.invoke(app, ["score", "--cycle", "2022年第四季度", "--store",
                                 str(study / "evalkit.duckdb"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2022Q4" in result.output
    assert set(pd.read_csv(tmp_path / "progress.csv")["cycle"]) == {"2022Q4"}


def test_unknown_cycle_is_a_one_line_error(study):
    result = runner.invoke(app, ["score", "--cycle", "2030Q1", "--store",
                                 str(study / "evalkit.duckdb")])
    assert result.exit_code != 0
    assert "no observations for 2030Q1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_validates_without_a_store(study, tmp_path):
    folder = tmp_path / "c"
    shutil.copytree(study, folder, ignore=shutil.ignore_patterns("*.duckdb*"))
    result = runner.invoke(app, ["check", str(folder)])
    assert result.exit_code == 0 and "no problems found" in result.output
    assert not (folder / "evalkit.duckdb").exists()


def test_load_from_folder_and_store_agree(study):
    a, b = evalkit.load(study), evalkit.load(study / "evalkit.duckdb")
    for name in ("units", "indicators", "targets", "observations", "ledger"):
        key = list(evalkit.model.TABLES[name].key)
        fa = a.table(name).sort_values(key).reset_index(drop=True)
        fb = b.table(name)[list(fa.columns)].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(fa, fb, check_dtype=False)


def test_console_command_exit_codes(tmp_path):
    """The installed command, as a scheduler runs it: status and stderr."""
    exe = Path(sys.executable).with_name("evalkit")
    ok = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "ingest" in ok.stdout
    bad = subprocess.run([str(exe), "ingest", str(tmp_path / "missing.csv"),
                          "--store", str(tmp_path / "s.duckdb")],
                         capture_output=True, text=True)
    assert bad.returncode != 0
    assert "missing.csv" in bad.stderr and "no such file" in bad.stderr
    assert not (tmp_path / "s.duckdb").exists()


def test_report_leaves_no_lock_file_beside_the_pages(study, tmp_path):
    """The manifest's lock file is removed after each update; the store's stays (removing it
    on release would let two ingests write at once) and the README says so."""
    store = study / "evalkit.duckdb"
    result = runner.invoke(app, ["report", "--store", str(store), "--units", "daying",
                                 "--jobs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "2023Q4"
    assert (folder / "daying.html").is_file() and (folder / "manifest.json").is_file()
    assert [p.name for p in folder.rglob("*.lock")] == []
    assert Path(f"{store}.lock").is_file()
    command_line = README.read_text(encoding="utf-8").split("\n## Command line\n")[1]
    assert "`evalkit.duckdb.lock`" in command_line.split("\n## ")[0]


def test_run_loads_and_scores_the_study_once(tmp_path, monkeypatch):
    """`evalkit run` prints the summary and reports from one load and one scoring of the
    study, on new data and again with nothing changed (the pages are not drawn here)."""
    from evalkit import study as study_mod
    from evalkit.publish import render

    calls = {"load": 0, "score": 0}

    def counted(name):
        original = getattr(study_mod, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)
        return wrapper

    def drawn(jobs, out_dir, **kwargs):
        return [render.Outcome(job.name, "rendered", f"{job.name}.html", None, None, None,
                               0.0) for job in jobs]

    monkeypatch.setattr("evalkit.study.load", counted("load"))
    monkeypatch.setattr("evalkit.study.score", counted("score"))
    monkeypatch.setattr(render, "render_all", drawn)
    data = copy_sample(tmp_path / "study")
    args = ["run", "--data", str(data), "--out", str(tmp_path / "reports")]
    for pages in ("rendered 8", "skipped 8"):      # new data, then nothing changed
        calls.update(load=0, score=0)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert f"2023Q4: {pages};" in result.output and "1/7" in result.output
        assert calls == {"load": 1, "score": 1}, pages


# ----------------------------------------------------------------------------------- --help

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands(group, prefix: str = ""):
    """(name, click command) of every command, a group's as "collect templates"."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


COMMAND_OBJECTS = dict(_commands(typer.main.get_command(app)))
COMMANDS = list(COMMAND_OBJECTS)
# "[--store FILE]", "[--force]", "--cycle 2021Q4|latest": an option and its placeholder
SYNOPSIS_OPTION = re.compile(r"(--[a-z][a-z-]*)(?: ([^\s\[\]]+))?")
# "  --store FILE   The study's ...", "  --force   Render ...", "  --help"
HELP_OPTION = re.compile(r"^  (--[a-z][a-z-]*)(?: (\S+))?(?:  |$)", re.M)


def readme_synopsis() -> dict[str, str]:
    """Command -> its synopsis in the README's "Command line" section (continuation lines
    joined)."""
    section = README.read_text(encoding="utf-8").split("\n## Command line\n", 1)[1]
    synopsis: dict[str, str] = {}
    command = None
    for line in section.split("\n## ", 1)[0].splitlines():
        found = re.match(r"    evalkit (\w+(?: [a-z]+)?)(.*)", line)
        if found:
            command = found.group(1)
            synopsis[command] = found.group(2)
        elif command and line.startswith("     "):
            synopsis[command] += " " + line.strip()
        elif line.strip():
            command = None
    return synopsis


def help_text(command: str) -> str:
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_readme_has_a_synopsis_for_every_command():
    assert sorted(readme_synopsis()) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_in_help_is_in_the_readme_synopsis(command):
    """Same options, same placeholders (--store FILE in both), nothing more in either."""
    shown = dict(HELP_OPTION.findall(help_text(command)))
    assert shown.pop("--help") == ""
    assert shown == dict(SYNOPSIS_OPTION.findall(readme_synopsis()[command]))


@pytest.mark.parametrize("command", COMMANDS)
def test_boolean_options_are_shown_as_flags(command):
    text = help_text(command)
    params = COMMAND_OBJECTS[command].params
    flags = [opt for p in params if getattr(p, "is_flag", False) for opt in p.opts]
    assert command not in ("report", "run") or flags == ["--force", "--pdf"]
    for flag in flags + ["--help"]:       # the flag alone, then its help text
        assert re.search(rf"^  {flag}(  |$)", text, re.M), (flag, text)
    for noise in ("<bool>", "BOOLEAN", "--no-"):
        assert noise not in text


@pytest.mark.parametrize("command", COMMANDS)
def test_help_speaks_only_of_the_commands_own_options(command):
    """`ingest --help` used to share --store's text with the commands that read the sample
    study, naming --data, which ingest does not have."""
    params = COMMAND_OBJECTS[command].params
    own = {opt for p in params for opt in p.opts if opt.startswith("--")} | {"--help"}
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text(command)))
    assert mentioned <= own, mentioned - own


def test_report_into_a_folder_that_cannot_exist_is_one_line(study, tmp_path):
    """A folder under a regular file (ENOTDIR, as a read-only or forbidden folder would be
    EROFS or EACCES) used to end in a Python traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    result = runner.invoke(app, ["report", "--store", str(study / "evalkit.duckdb"),
                                 "--out", str(blocker / "reports"), "--units", "daying"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalkit: "), result.stderr
    assert str(blocker) in lines[0] and "Not a directory" in lines[0]
    assert "Traceback" not in result.output
    assert blocker.read_text() == "not a folder\n"


def test_report_passes_the_worker_timeout_to_the_run(tmp_path, monkeypatch):
    """``--worker-timeout`` reaches the run: how long a Dask cluster may have no worker."""
    store = tmp_path / "s.duckdb"
    store.write_bytes(b"")
    seen = {}

    def fake_report(*args, **kwargs):
        seen.update(kwargs)
        return {"cycle": "2023Q4", "folder": tmp_path, "outcomes": [], "failed": []}

    monkeypatch.setattr("evalkit.publish.reports.report", fake_report)
    monkeypatch.setattr("evalkit.cli._config_note", lambda *a: None)
    done = runner.invoke(app, ["report", "--store", str(store), "--worker-timeout", "7.5"])
    assert done.exit_code == 0, done.output
    assert seen["no_worker_timeout"] == 7.5
    runner.invoke(app, ["report", "--store", str(store)])
    assert seen["no_worker_timeout"] is None                  # the default: the run decides
