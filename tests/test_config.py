"""Configuration: documented defaults, study overrides, and clear errors for bad settings."""
import hashlib

import pandas as pd
import pytest

from evalkit.config import default_config, load_config, study_file
from evalkit.errors import InputError


def test_defaults_hold_the_method_thresholds():
    cfg = load_config()
    assert cfg["progress"] == {"green": 0.95, "yellow": 0.60}
    assert cfg["gaps"]["horizon"] == 20
    assert cfg["scores"]["grades"][0] == ["优秀", 90]
    assert cfg["peers"]["dea_max_units"] == 500


def test_study_file_overrides_only_its_keys(tmp_path):
    (tmp_path / "evalkit.yaml").write_text(
        "scores:\n  aggregation: geometric\n  domain_weights: {community: 2}\n",
        encoding="utf-8")
    cfg = load_config(tmp_path)
    assert cfg["scores"]["aggregation"] == "geometric"
    assert cfg["scores"]["domain_weights"] == {"community": 2}
    assert cfg["scores"]["bonus_cap"] == default_config()["scores"]["bonus_cap"]


@pytest.mark.parametrize("text, column", [
    ("scores:\n  agregation: geometric\n", "scores.agregation"),
    ("scores:\n  aggregation: harmonic\n", "scores.aggregation"),
    ("progress:\n  green: 0.5\n  yellow: 0.9\n", "progress"),
    ("scores:\n  geometric_floor: 0\n", "scores.geometric_floor"),
    ("ledger:\n  due_soon_quarters: -1\n", "ledger.due_soon_quarters"),
    ("scores:\n  grades: [[合格, 60], [优秀, 90]]\n", "scores.grades"),
    ("scores:\n  domain_weights: {community: -1}\n", "scores.domain_weights.community"),
    ("peers:\n  candidates: 0\n", "peers.candidates"),
    ("peers:\n  returns: increasing\n", "peers.returns"),
    ("peers:\n  dea_inputs: budget\n", "peers.dea_inputs"),
    ("peers:\n  dea_max_units: 0\n", "peers.dea_max_units"),
    ("peers:\n  dea_max_units: 1.5\n", "peers.dea_max_units"),
    ("output:\n  parquet_rows: -1\n", "output.parquet_rows"),
    ("output:\n  series_max_rows: yes\n", "output.series_max_rows"),
    ("sensitivity:\n  runs: 0\n", "sensitivity.runs"),
    ("sensitivity:\n  weight_spread: 1.5\n", "sensitivity.weight_spread"),
])
def test_bad_settings_are_named(tmp_path, text, column):
    (tmp_path / "evalkit.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_config(tmp_path)
    assert [p.column for p in err.value.problems] == [column]
    assert err.value.problems[0].file == str(tmp_path / "evalkit.yaml")


def test_not_yaml_is_an_input_error(tmp_path):
    (tmp_path / "evalkit.yaml").write_text("scores: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(tmp_path)


def test_the_configuration_says_where_it_came_from(tmp_path):
    assert load_config()["source"] == {"file": None, "sha256": None, "version": None}
    text = "scores:\n  bonus_cap: 4\n"
    (tmp_path / "evalkit.yaml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path, {"scores": {"deduction_cap": 2}})
    assert cfg["source"] == {"file": str((tmp_path / "evalkit.yaml").resolve()),
                             "sha256": hashlib.sha256(text.encode()).hexdigest(),
                             "version": None,
                             "overrides": {"scores": {"deduction_cap": 2}}}
    assert (cfg["scores"]["bonus_cap"], cfg["scores"]["deduction_cap"]) == (4, 2)


def test_study_file_is_checked_and_digested(tmp_path):
    assert study_file(tmp_path) == {"file": str((tmp_path / "evalkit.yaml").resolve()),
                                    "text": None, "sha256": None}
    (tmp_path / "evalkit.yaml").write_text("scores:\n  agregation: geometric\n",
                                           encoding="utf-8")
    with pytest.raises(InputError, match="agregation"):
        study_file(tmp_path)


def test_a_store_gives_the_configuration_of_a_data_version(tmp_path):
    from evalkit import store

    db = tmp_path / "elsewhere" / "evalkit.duckdb"
    study = tmp_path / "study"
    study.mkdir()
    tables = {"units": pd.DataFrame({"unit_id": ["a"], "name_zh": ["甲"], "name_en": [None],
                                     "level": ["county"], "parent_id": [None],
                                     "role": ["assessed"]})}
    for n, cap in enumerate((4, 3), start=1):
        (study / "evalkit.yaml").write_text(f"scores:\n  bonus_cap: {cap}\n", encoding="utf-8")
        assert store.ingest(db, tables, config=study_file(study)).version == n
    assert load_config(db)["scores"]["bonus_cap"] == 3
    first = load_config(db, version=1)
    assert first["scores"]["bonus_cap"] == 4 and first["source"]["version"] == 1
    assert first["source"]["file"] == str((study / "evalkit.yaml").resolve())
    # Overrides apply over the stored configuration.
    assert load_config(db, {"scores": {"bonus_cap": 1}}, version=1)["scores"]["bonus_cap"] == 1


def test_merging_over_a_loaded_configuration_records_the_overrides(tmp_path):
    from evalkit.config import merge

    cfg = load_config(tmp_path, {"scores": {"bonus_cap": 4}})
    other = merge(cfg, {"scores": {"domain_weights": {"a": 2}}})
    assert other["source"]["overrides"] == {"scores": {"bonus_cap": 4,
                                                       "domain_weights": {"a": 2}}}
    assert "overrides" not in merge(load_config(), {})["source"]


def test_a_version_the_store_does_not_have_is_an_error(tmp_path):
    from evalkit import store
    from evalkit.errors import StoreError

    db = tmp_path / "evalkit.duckdb"
    tables = {"units": pd.DataFrame({"unit_id": ["a"], "name_zh": ["甲"], "name_en": [None],
                                     "level": ["county"], "parent_id": [None],
                                     "role": ["assessed"]})}
    store.ingest(db, tables, config=study_file(tmp_path))
    with pytest.raises(StoreError, match=r"no data version 2 \(it has versions 1 to 1\)"):
        load_config(db, version=2)
