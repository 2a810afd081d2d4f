"""One cycle folder, one data version: after an ingest that changes no page's rows (a notes
column no page shows), the pages not rendered again state the version they were rendered
from, and the index page states the folder's version and, beside each such page, that its
content is the same as the version it states."""
from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

from evalkit.publish import render

from conftest import ingested_sample
from evalkit.inputs import ingest as ingest_mod
from evalkit.publish import reports

UNIT = "daying"
CYCLE = "2023Q4"
VERSION = re.compile(r"(?:数据版本|data version)\s*(\d+)")
SAME = re.compile(r"(?:报告内容与数据版本|report identical to data version)\s*(\d+)")


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _stated(page: Path) -> set[int]:
    """Every data version a page states (a unit page states it twice: title, method notes)."""
    body = page.read_text(encoding="utf-8")
    body = re.sub(r"<(style|title)\b.*?</\1>", "", body, flags=re.S)
    return {int(v) for v in VERSION.findall(_text(body))}


def _index(folder: Path) -> tuple[int, dict[str, tuple[set[int], set[int]]]]:
    """The index page's data version, and for each page it links to: the versions stated
    beside the link (in its table row, or after the overview link) and the versions it says
    the page's content is the same as."""
    body = (folder / "index.html").read_text(encoding="utf-8")
    subtitle = re.search(r'<p class="subtitle">(.*?)</p>', body, flags=re.S).group(1)
    (current,) = {int(v) for v in VERSION.findall(_text(subtitle))}
    links = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S):
        for target in re.findall(r'href="([^"]+\.html)"', row):
            links[target] = row
    overview = re.search(r'(<a href="overview\.html">.*?)</p>', body, flags=re.S)
    if overview:
        links["overview.html"] = overview.group(1)
    return current, {target: ({int(v) for v in re.findall(r"\d+", _text(context))},
                              {int(v) for v in SAME.findall(_text(context))})
                     for target, context in links.items()}


def assert_one_data_version(folder: Path) -> dict[str, int]:
    """Every page in ``folder`` states one data version; the index states the folder's, and
    beside every page that states another, that the page's content is the same as that one.
    Returns each page's version."""
    current, links = _index(folder)
    stated = {}
    for page in sorted(folder.glob("*.html")):
        if page.name == "index.html":
            continue
        versions = _stated(page)
        assert len(versions) == 1, (page.name, versions)
        (version,) = versions
        stated[page.name] = version
        assert page.name in links, f"the index does not link {page.name}"
        _, same = links[page.name]
        if version == current:
            assert not same, (page.name, same)
        else:
            assert version < current and same == {version}, (page.name, version, current, same)
    assert stated, "no page rendered"
    return stated


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    return ingested_sample(tmp_path_factory.mktemp("cycle-folder"))


def _revise(study: dict, name: str, row: str) -> int:
    folder = study["root"] / name
    folder.mkdir()
    # the study's settings as they were: only the observation below is revised
    shutil.copy2(study["study"] / "evalkit.yaml", folder / "evalkit.yaml")
    (folder / "observations.csv").write_text(
        "unit_id,indicator_id,period,value,source,note\n" + row + "\n", encoding="utf-8")
    done = ingest_mod.ingest([folder], study["store"])
    assert done.changed
    return done.version


def _report(study: dict) -> dict:
    done = reports.report(study["store"], "latest", out=study["out"], units=[UNIT], workers=2,
                           progress=False)
    assert not done["failed"] and done["cycle"] == CYCLE, done["failed"]
    return done


def test_a_notes_only_revision_leaves_one_data_version_per_folder(study):
    first = _report(study)
    folder = first["folder"]
    assert assert_one_data_version(folder) == {f"{UNIT}.html": 1, "overview.html": 1}
    manifest = render.read_manifest(folder)
    assert manifest[UNIT]["data_version"] == manifest["overview"]["data_version"] == 1

    # The same value with another note: no page shows notes, so no page's rows change.
    assert _revise(study, "notes", f"{UNIT},community_renovated,2023Q4,29,"
                                   "样例数据（合成）/ synthetic,复核：数据已核实") == 2
    second = _report(study)
    assert {o.name: o.status for o in second["outcomes"]} == \
        {UNIT: "skipped", "overview": "skipped"}, "a notes-only revision renders nothing"
    assert assert_one_data_version(folder) == {f"{UNIT}.html": 1, "overview.html": 1}
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert "数据版本 2" in _text(index)
    assert "2（报告内容与数据版本 1 相同）" in _text(index)

    # A value a page shows: that page and the overview are rendered from version 3, and the
    # index has nothing to explain any more.
    assert _revise(study, "value", f"{UNIT},community_renovated,2023Q4,30,"
                                   "样例数据（合成）/ synthetic,") == 3
    third = _report(study)
    assert {o.name: o.status for o in third["outcomes"]} == \
        {UNIT: "rendered", "overview": "rendered"}
    assert assert_one_data_version(folder) == {f"{UNIT}.html": 3, "overview.html": 3}
    assert "相同）" not in _text((folder / "index.html").read_text(encoding="utf-8"))
