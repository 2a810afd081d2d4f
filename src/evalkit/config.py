"""Method configuration: plain data with documented defaults (``defaults.yaml``).

A study overrides only the keys it changes, in an ``evalkit.yaml`` beside its data. The merged
result is a nested ``dict``; :func:`load_config` checks it, so a typo in a key is an error rather
than a silently ignored setting.
"""
from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Problem

CONFIG_FILE = "evalkit.yaml"
# Settings whose keys are the study's own (domain ids), not evalkit's.
FREE_MAPS = {"domain_weights", "domain_names"}


def default_config() -> dict[str, Any]:
    """The defaults, freshly read (callers may change their copy)."""
    text = resources.files("evalkit").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def merge(base: dict[str, Any], override: dict[str, Any], *, where: str = "config",
          _path: str = "") -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``; unknown keys raise :class:`InputError`."""
    out = copy.deepcopy(base)
    problems = []
    for key, value in (override or {}).items():
        dotted = f"{_path}{key}"
        if key not in base:
            problems.append(Problem(where, f"unknown setting {dotted!r}", column=dotted))
        elif isinstance(base[key], dict) and key not in FREE_MAPS:
            if not isinstance(value, dict):
                problems.append(Problem(where, f"setting {dotted!r} must be a mapping",
                                        column=dotted))
            else:
                out[key] = merge(base[key], value, where=where, _path=dotted + ".")
        else:
            out[key] = copy.deepcopy(value)
    if problems:
        raise InputError(problems)
    return out


def check(config: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """Check ranges and choices; raise :class:`InputError` listing every bad setting."""
    problems = []

    def bad(key: str, msg: str) -> None:
        problems.append(Problem(where, msg, column=key))

    p = config["progress"]
    if not (0 <= p["yellow"] <= p["green"]):
        bad("progress", "expected 0 <= progress.yellow <= progress.green")
    s = config["scores"]
    if s["aggregation"] not in ("arithmetic", "geometric"):
        bad("scores.aggregation", "expected 'arithmetic' or 'geometric'")
    if s["bonus_cap"] < 0 or s["deduction_cap"] < 0:
        bad("scores", "bonus_cap and deduction_cap must be >= 0")
    if not s["geometric_floor"] > 0:
        bad("scores.geometric_floor", "expected a number > 0 (the log of 0 is undefined)")
    dsq = config["ledger"]["due_soon_quarters"]
    if not isinstance(dsq, int) or dsq < 0:
        bad("ledger.due_soon_quarters", "expected a whole number of quarters >= 0")
    bounds = [b for _, b in s["grades"]]
    if bounds != sorted(bounds, reverse=True):
        bad("scores.grades", "grade bands must be listed highest first")
    for dom, w in (s["domain_weights"] or {}).items():
        if not isinstance(w, (int, float)) or w < 0:
            bad(f"scores.domain_weights.{dom}", "a domain weight must be a number >= 0")
    if config["gaps"]["horizon"] < 1 or config["gaps"]["trend_cycles"] < 2:
        bad("gaps", "horizon must be >= 1 and trend_cycles >= 2")
    tr = config["trends"]
    numeric = {k: isinstance(tr[k], (int, float)) and not isinstance(tr[k], bool)
               for k in ("on_track", "moderate", "flat")}
    for key in (k for k, ok in numeric.items() if not ok):
        bad(f"trends.{key}", "expected a number")
    if numeric["on_track"] and numeric["moderate"] and not (
            0 <= tr["moderate"] <= tr["on_track"]):
        bad("trends", "expected 0 <= trends.moderate <= trends.on_track")
    if numeric["flat"] and not tr["flat"] >= 0:
        bad("trends.flat", "expected a number >= 0")
    pe = config["peers"]
    if not isinstance(pe["candidates"], int) or pe["candidates"] < 1:
        bad("peers.candidates", "expected a whole number >= 1")
    if pe["returns"] not in ("constant", "variable"):
        bad("peers.returns", "expected 'constant' or 'variable'")
    for key in ("context", "dea_inputs", "dea_outputs"):
        if not isinstance(pe[key], list):
            bad(f"peers.{key}", "expected a list of names")
    if not _whole(pe["dea_max_units"]) or pe["dea_max_units"] < 1:
        bad("peers.dea_max_units", "expected a whole number >= 1")
    se = config["sensitivity"]
    if not isinstance(se["runs"], int) or se["runs"] < 1:
        bad("sensitivity.runs", "expected a whole number >= 1")
    if not (isinstance(se["weight_spread"], (int, float)) and 0 <= se["weight_spread"] < 1):
        bad("sensitivity.weight_spread", "expected a number from 0 up to (not including) 1")
    out = config["output"]
    for key in ("parquet_rows", "series_max_rows"):
        if not _whole(out[key]) or out[key] < 0:
            bad(f"output.{key}", "expected a whole number >= 0")
    if problems:
        raise InputError(problems)
    return config


def _whole(value: Any) -> bool:
    # YAML reads ``yes`` as True, which is an int to Python but no count.
    return isinstance(value, int) and not isinstance(value, bool)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    """Defaults, merged with ``path`` (a YAML file, or a folder holding ``evalkit.yaml``) and
    then with ``overrides``."""
    config = default_config()
    where = "config"
    if path is not None:
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_FILE
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise InputError([Problem(str(path), f"not valid YAML: {exc}")]) from None
            if not isinstance(data, dict):
                raise InputError([Problem(str(path), "expected a mapping of settings")])
            config = merge(config, data, where=str(path))
            where = str(path)
    if overrides:
        config = merge(config, overrides)
    return check(config, where)
