"""Method configuration: plain data with documented defaults (``defaults.yaml``).

A study overrides only the keys it changes, in an ``evalkit.yaml`` beside its data. The merged
result is a nested ``dict``; :func:`load_config` checks it, so a typo in a key is an error rather
than a silently ignored setting. An ingest records the study's ``evalkit.yaml``
(:func:`study_file`) in the store with the data version, and a study read from its store uses
the configuration stored with the version read (``load_config(store, version=N)``), wherever
the store and the files lie. A loaded configuration says where it came from under ``source``.
"""
from __future__ import annotations

import copy
import hashlib
import math
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Problem

CONFIG_FILE = "evalkit.yaml"
# The key of a loaded configuration that says where it came from (see load_config); no setting.
SOURCE = "source"
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
    changes = {k: v for k, v in (override or {}).items() if k != SOURCE}
    if not _path and changes and isinstance(out.get(SOURCE), dict):
        # A configuration that says where it came from (load_config) says what changed it.
        out[SOURCE] = {**out[SOURCE], "overrides": merge_overrides(
            out[SOURCE].get("overrides") or {}, changes)}
    return out


def merge_overrides(first: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    """Two sets of overrides as one (``then`` wins), for the record in ``source``."""
    out = copy.deepcopy(first)
    for key, value in then.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in FREE_MAPS:
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
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
    problems += review_problems(config["review"], where)
    due = config["collection"]["due_days"]
    if not _whole(due) or due < 0:
        bad("collection.due_days", "expected a whole number of days >= 0")
    if problems:
        raise InputError(problems)
    return config


def review_problems(review: dict[str, Any], where: str = "config") -> list[Problem]:
    """The problems of the ``review`` settings (the review checks, 审核), one per bad key."""
    problems = []

    def bad(key: str, msg: str) -> None:
        problems.append(Problem(where, msg, column=f"review.{key}"))

    for key in ("percent_range", "cumulative_decrease"):
        if not isinstance(review[key], bool):
            bad(key, "expected true or false")
    for key in ("jump_mad_k", "jump_relative"):
        if not _finite(review[key]) or not review[key] > 0:
            bad(key, "expected a finite number > 0")
    if not _finite(review["peer_fence"]) or review["peer_fence"] < 0:
        bad("peer_fence", "expected a finite number >= 0")
    # A spread needs two changes, quartiles three values, a repeat two quarters.
    for key, least in (("min_history", 2), ("min_peers", 3), ("copied_quarters", 2)):
        if not _whole(review[key]) or review[key] < least:
            bad(key, f"expected a whole number >= {least}")
    counting = review.get("counting") or {}
    for key, allowed in COUNTING.items():
        if counting.get(key) not in allowed:
            bad(f"counting.{key}", "expected one of " + ", ".join(allowed))
    return problems


# The counting policy's choices (``review.counting``): when a flagged value counts, and
# whether a returned one does.
COUNTING = {"flagged": ("accepted", "always"), "returned": ("never", "always")}


def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _whole(value: Any) -> bool:
    # YAML reads ``yes`` as True, which is an int to Python but no count.
    return isinstance(value, int) and not isinstance(value, bool)


def study_file(folder: str | Path) -> dict[str, Any]:
    """The study's configuration file as a store records it with a data version: ``file``
    (``<folder>/evalkit.yaml``, resolved), ``text`` (None when there is none: the defaults
    apply) and ``sha256`` of its UTF-8 bytes (None without a file). The file is checked
    first: a configuration that :func:`load_config` refuses is never stored."""
    path = Path(folder) / CONFIG_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else None
    if text is not None:
        _parse(text, str(path))
    return {"file": str(path.resolve()), "text": text, "sha256": digest(text)}


def digest(text: str | None) -> str | None:
    """The sha256 of a configuration file's text (None for no file)."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _parse(text: str, where: str) -> dict[str, Any]:
    """A configuration file's settings merged over the defaults and checked."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError([Problem(where, f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise InputError([Problem(where, "expected a mapping of settings")])
    return check(merge(default_config(), data, where=where), where)


def _is_store(path: Path) -> bool:
    if not path.is_file():
        return False
    if path.suffix in (".duckdb", ".db"):
        return True
    with open(path, "rb") as fh:
        return fh.read(16)[8:12] == b"DUCK"


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                *, version: int | None = None) -> dict[str, Any]:
    """Defaults, merged with ``path`` and then with ``overrides``.

    ``path`` is a YAML file, a folder holding ``evalkit.yaml``, or a study's store: then the
    configuration stored with data version ``version`` (default: the latest), or, for a
    store that holds none for that version (made before stores kept it), the
    ``evalkit.yaml`` beside the store. The result says where it came from under
    ``source``: ``file``, ``sha256`` of the file's text (None: no file, the defaults),
    ``version`` (the data version that stored it; None when read from a file) and
    ``overrides`` when given."""
    text, file, stored, where = None, None, None, "config"
    if path is not None:
        path = Path(path)
        found = None
        if _is_store(path):
            from . import store as store_mod

            found = store_mod.stored_config(path, version=version)
            if found is None:
                path = path.parent
        if found is not None:
            text, file, stored = found["text"], found["file"], found["version"]
            where = f"{file} (stored with data version {stored})"
        else:
            if path.is_dir():
                path = path / CONFIG_FILE
            if path.is_file():
                text, file = path.read_text(encoding="utf-8"), str(path.resolve())
                where = str(path)
    config = _parse(text, where) if text is not None else default_config()
    if overrides:
        config = check(merge(config, overrides), where)
    else:
        check(config, where)
    config[SOURCE] = {"file": file if text is not None else None, "sha256": digest(text),
                      "version": stored}
    if overrides:
        config[SOURCE]["overrides"] = copy.deepcopy(overrides)
    return config


def source(config: dict[str, Any] | None) -> dict[str, Any]:
    """Where a configuration came from (see :func:`load_config`); empty when unknown."""
    return dict((config or {}).get(SOURCE) or {})


def unrecorded_change(store: str | Path) -> str | None:
    """A note when the study's ``evalkit.yaml`` recorded with the store's latest data version
    has been edited (or removed) since: the store's configuration stays in force until the
    next ingest records the file. None when it is unchanged or unknown."""
    from . import store as store_mod

    stored = store_mod.stored_config(store)
    if stored is None or not stored.get("file"):
        return None
    path = Path(stored["file"])
    if not path.parent.is_dir():
        return None                         # the study folder is elsewhere now
    text = path.read_text(encoding="utf-8") if path.is_file() else None
    if digest(text) == stored.get("sha256"):
        return None
    return (f"{path} differs from the configuration stored with data version "
            f"{stored['version']}, which is used; `evalkit ingest` the study to record it")


def output_setting(config: dict | None, key: str) -> int:
    """``output.<key>`` of a configuration; for one built without it, the value in
    ``defaults.yaml``."""
    section = (config or {}).get("output") or {}
    if key not in section:
        section = default_config()["output"]
    return int(section[key])
