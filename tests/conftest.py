"""Fixtures shared by the tests: the charts' font and a headless browser."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from evalkit.publish import fonts
from evalkit.inputs.ingest import SAMPLE_DIR

# Headless Chromium on a machine without a display or a network: no sandbox (tests may run as
# root), no GPU, and none of the background connections a closed network refuses.
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"]


def copy_sample(folder: Path) -> Path:
    """The bundled sample study's files copied to ``folder`` (no store): a study of one's own
    to ingest into and change."""
    shutil.copytree(SAMPLE_DIR, folder, ignore=shutil.ignore_patterns("*.duckdb*"))
    return folder


def missing(message: str) -> None:
    """A tool the end-to-end tests need is missing: they fail on CI, and are skipped
    elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def font() -> str:
    found = fonts.cjk_font()
    if found is None:
        pytest.fail(fonts.NO_FONT_MESSAGE)
    return found


@pytest.fixture(scope="session")
def browser():
    """The system's Chromium, headless, driven by Playwright (scripts/setup-system.sh
    installs it: Playwright cannot download a browser here)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        missing("chromium is not installed: scripts/setup-system.sh installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, args=BROWSER_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def study():
    """The bundled sample study, loaded (a test module may define its own)."""
    import evalkit

    return evalkit.load()


@pytest.fixture(scope="module")
def result(study):
    """The sample study's latest cycle, scored."""
    import evalkit

    return evalkit.score(study)


def no_progress_and_no_gaps():
    """Empty progress and gaps tables with the columns indicator scoring reads: a study whose
    units are scored on min-max alone."""
    import pandas as pd

    progress = pd.DataFrame({"unit_id": pd.Series(dtype="str"),
                             "indicator_id": pd.Series(dtype="str"),
                             "applicable": pd.Series(dtype="bool"),
                             "status": pd.Series(dtype="str"),
                             "progress_ratio": pd.Series(dtype="float64")})
    gaps = pd.DataFrame({"unit_id": pd.Series(dtype="str"),
                         "indicator_id": pd.Series(dtype="str"),
                         "benchmark_value": pd.Series(dtype="float64")})
    return progress, gaps


def ingested_sample(root: Path) -> dict:
    """A copy of the sample study under ``root/study``, ingested into its own store (data
    version 1), and where its reports go: root, study, store and out."""
    from evalkit.inputs import ingest as ingest_mod

    study = copy_sample(root / "study")
    store = study / "evalkit.duckdb"
    assert ingest_mod.ingest([study], store).version == 1
    return {"root": root, "study": study, "store": store, "out": root / "reports"}
