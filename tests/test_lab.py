"""notebooks/explore.ipynb for the analysts: its "try other weights" configuration moves ranks
or grades on the bundled sample."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import evalkit

ROOT = Path(__file__).resolve().parents[1]
EXPLORE = ROOT / "notebooks" / "explore.ipynb"


def notebook_alternative() -> dict:
    """The literal ``alternative = {...}`` configuration the notebook scores with."""
    for cell in nbformat.read(EXPLORE, as_version=4).cells:
        if cell.cell_type != "code" or "alternative" not in cell.source:
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "alternative" for t in node.targets):
                return ast.literal_eval(node.value)
    pytest.fail(f"{EXPLORE.name} has no `alternative = {{...}}` configuration")


@pytest.fixture(scope="module")
def sample():
    study = evalkit.load()
    return study, _totals(evalkit.score(study, "latest"))


def _totals(result) -> pd.DataFrame:
    return result.scores.query("domain == 'total'").set_index("unit_id")[["grade", "rank"]]


def moved_units(sample, overrides: dict) -> list[str]:
    """The units whose rank or grade differs between the study's configuration and
    ``overrides`` merged over it."""
    study, default = sample
    config = evalkit.config.merge(study.config, overrides)
    other = _totals(evalkit.score(study, "latest", config=config)).reindex(default.index)
    moved = (default["rank"] != other["rank"]) | (default["grade"] != other["grade"])
    return sorted(default.index[moved])


def test_the_notebook_alternative_moves_ranks_or_grades(sample):
    alternative = notebook_alternative()
    assert moved_units(sample, alternative), (
        f"{EXPLORE.name}: {alternative} moves no rank or grade on the sample")


def test_the_study_configuration_itself_moves_nothing(sample):
    study, _ = sample
    same = {"scores": {"domain_weights": study.config["scores"]["domain_weights"]}}
    assert moved_units(sample, same) == []
