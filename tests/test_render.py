"""The rendering engine: executing notebooks in parallel, publishing pages safely.

Kernels cost about 1.5 s each, so the tests that run real notebooks share one mixed run and
keep timeouts short; everything about names, pages, keys and retries runs without a kernel.
"""
from __future__ import annotations

import concurrent.futures as cf
import errno
import json
import multiprocessing
import os
import re
from pathlib import Path

import nbformat
import papermill
import pytest
import zmq
from hypothesis import given, settings, strategies as st
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from papermill.exceptions import PapermillExecutionError

from evalkit.publish import render
from evalkit.errors import InputError, ParseError
from evalkit.publish.render import Job, Outcome, export_html, job_key, read_manifest, render_all
from evalkit.publish.render import render_one, remote_resources, safe_name

NOTEBOOKS = Path(__file__).parent / "notebooks"
GOOD, FAILS, HANGS, DIES = (NOTEBOOKS / f"{n}.ipynb" for n in ("good", "fails", "hangs", "dies"))


def good_job(name: str, **kw) -> Job:
    kw.setdefault("parameters", {"unit": "大英县", "answer": 42})
    kw.setdefault("title", f"报告 {name}")
    return Job(name=name, notebook=GOOD, **kw)


def mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


# ------------------------------------------------------------------------------- safe_name

@pytest.mark.parametrize("clean", ["unit_01", "大英县", "A-1", "x", "游仙区-2021", "a" * 80])
def test_clean_ids_are_their_own_names(clean):
    assert safe_name(clean) == clean


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "<script>", "a/b", "a\\b", "a b",
                                     "a\x00b", "..", ".", "", "_hidden", ".hidden", "-rf",
                                     "x" * 200, "Ａ1", "a__b", "\u202e", "/"])
def test_hostile_ids_become_names_inside_a_folder(hostile, tmp_path):
    name = safe_name(hostile)
    assert name != hostile
    assert 0 < len(name) <= 80
    assert "/" not in name and "\\" not in name and ".." not in name and "\x00" not in name
    assert not name.startswith((".", "_", "-"))
    assert re.fullmatch(r"[A-Za-z0-9_\-\u4e00-\u9fff]+", name)
    target = (tmp_path / f"{name}.html").resolve()
    assert target.parent == tmp_path.resolve()


def test_similar_ids_never_share_a_name():
    ids = ["a/b", "a_b", "a b", "a\\b", "a.b", "a__b", "Ａ1", "A1", "", "id", "<script>",
           "_script_", "script"]
    names = [safe_name(i) for i in ids]
    assert len(set(names)) == len(ids)


def test_safe_name_keeps_readable_part_of_a_changed_id():
    assert safe_name("../../etc/passwd").startswith("etc_passwd__")
    assert safe_name("大英县 / 民政局").startswith("大英县_民政局__")


def test_safe_name_rejects_what_is_not_text():
    with pytest.raises(ParseError):
        safe_name(42)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_safe_name_is_always_a_safe_file_stem(text):
    name = safe_name(text)
    assert name and len(name) <= 80
    assert "/" not in name and ".." not in name and "\\" not in name
    assert not name.startswith(".")
    assert render._is_safe_stem(name)
    assert safe_name(text) == name


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="a_/. 大-Ａ\x00", max_size=6), unique=True, max_size=40)
       | st.lists(st.text(), unique=True, max_size=40))
def test_safe_name_is_unique_for_distinct_ids(ids):
    assert len({safe_name(i) for i in ids}) == len(ids)


# -------------------------------------------------------------------------------- the page

def executed_notebook() -> nbformat.NotebookNode:
    """What papermill leaves behind, built by hand: parameter cells, stderr, a script."""
    params = new_code_cell("unit = 'x'  # DEFAULTS-SOURCE", outputs=[])
    params.metadata["tags"] = ["parameters"]
    injected = new_code_cell("unit = 'SECRET-PARAM'", outputs=[
        new_output("stream", name="stdout", text="INJECTED-OUTPUT\n")])
    injected.metadata["tags"] = ["injected-parameters"]
    body = new_code_cell("print(unit)  # CODE-SOURCE", outputs=[
        new_output("stream", name="stdout", text="VISIBLE see https://example.org/doc\n"),
        new_output("stream", name="stderr", text="STDERR-NOISE\n"),
        new_output("display_data", data={"text/html": "<b class='status-red'>红 RED</b>",
                                         "text/plain": "x"}),
        new_output("display_data", data={"application/javascript": "alert('JS-OUTPUT')"}),
        new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "fig"}),
    ])
    return new_notebook(cells=[new_markdown_cell("# 标题"), params, injected, body])


def test_page_shows_outputs_without_code_or_parameters():
    page = export_html(executed_notebook(), title="报告", lang="zh")
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh">' in page and '<meta charset="utf-8">' in page
    assert 'name="viewport"' in page
    assert "标题" in page and "红 RED" in page and "VISIBLE" in page
    assert '<img alt="图表" src="data:image/png;base64,iVBORw0KGgo="' in page
    for hidden in ("CODE-SOURCE", "DEFAULTS-SOURCE", "SECRET-PARAM", "INJECTED-OUTPUT",
                   "STDERR-NOISE", "JS-OUTPUT", "<script"):
        assert hidden not in page, hidden


def test_page_inlines_its_css_and_loads_nothing():
    page = export_html(executed_notebook(), title="t", lang="en")
    assert '"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC"' in page
    for status in ("red", "yellow", "green", "met", "overdue", "no_data", "not_started"):
        assert f".status-{status}" in page
    assert "@media print" in page
    assert remote_resources(page) == []
    # The only URL is the one the notebook printed as visible text.
    assert re.findall(r"https?://[^\s<\"']+", page) == ["https://example.org/doc"]


def test_page_title_is_escaped():
    page = export_html(executed_notebook(), title="<script>alert(1)</script> & 县", lang="zh")
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; &amp; 县</title>" in page


@pytest.mark.parametrize("lang", ["", "zh\" onload=\"x", "中文", "z", None])
def test_page_refuses_a_bad_language(lang):
    with pytest.raises(ParseError, match="language tag"):
        export_html(executed_notebook(), title="t", lang=lang)


def test_page_that_would_load_a_remote_image_is_refused():
    nb = new_notebook(cells=[new_markdown_cell("![logo](https://cdn.example.com/logo.png)")])
    with pytest.raises(render.PageError, match="cdn.example.com"):
        export_html(nb, title="t", lang="zh")


@pytest.mark.parametrize("html, found", [
    ('<script src="https://cdn.example.com/a.js"></script>', "https://cdn.example.com/a.js"),
    ("<script src=local.js></script>", "local.js"),
    ('<link rel="stylesheet" href="http://x.org/a.css">', "http://x.org/a.css"),
    ('<img alt="" src="https://x.org/a.png">', "https://x.org/a.png"),
    ("<iframe src='page.html'></iframe>", "page.html"),
    ("<div style=\"background: url('http://x.org/b.png')\"></div>", "http://x.org/b.png"),
    ("<style>@import 'http://x.org/c.css';</style>", "http://x.org/c.css"),
])
def test_remote_resources_are_found(html, found):
    assert found in remote_resources(html)


@pytest.mark.parametrize("html", [
    '<img src="data:image/png;base64,AAAA">',
    '<a href="https://example.org">a link to follow</a>',
    "<pre>see https://example.org</pre>",
    '<svg><use href="#marker"></use></svg>',
])
def test_inline_data_links_and_text_are_not_resources(html):
    assert remote_resources(html) == []


# -------------------------------------------------------------------------- keys, manifest

def test_job_key_changes_with_everything_the_page_depends_on(tmp_path, monkeypatch):
    nb = tmp_path / "n.ipynb"
    nb.write_bytes(GOOD.read_bytes())
    base = Job("u", nb, {"a": 1, "b": [1, 2]}, "T")
    key = job_key(base)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert job_key(Job("u", nb, {"b": [1, 2], "a": 1}, "T")) == key  # order is not content
    variants = [Job("u", nb, {"a": 2, "b": [1, 2]}, "T"),
                Job("u", nb, {"a": 1, "b": [1, 2]}, "T2"),
                Job("u", nb, {"a": 1, "b": [1, 2]}, "T", inputs_digest="d1"),
                Job("u", nb, {"a": 1, "b": [1, 2]}, "T", lang="en")]
    keys = {job_key(v) for v in variants}
    assert key not in keys and len(keys) == len(variants)
    monkeypatch.setattr(render, "__version__", "99.0")
    assert job_key(base) != key
    monkeypatch.undo()
    nb.write_bytes(nb.read_bytes() + b"\n")
    assert job_key(base) != key


def test_job_key_reports_bad_jobs(tmp_path):
    with pytest.raises(InputError) as err:
        job_key(Job("u", tmp_path / "missing.ipynb", {}, "T"))
    assert err.value.problems[0].file.endswith("missing.ipynb")
    with pytest.raises(ParseError, match="JSON"):
        job_key(Job("u", GOOD, {"when": object()}, "T"))
    with pytest.raises(ParseError, match="JSON"):
        job_key(Job("u", GOOD, {"x": float("nan")}, "T"))


def test_manifest_missing_is_empty_and_broken_is_an_input_error(tmp_path):
    assert read_manifest(tmp_path) == {}
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_manifest(tmp_path)
    assert err.value.problems[0].file.endswith("manifest.json")
    (tmp_path / "manifest.json").write_text('{"u": 3}', encoding="utf-8")
    with pytest.raises(InputError, match="mapping"):
        read_manifest(tmp_path)


def test_render_all_refuses_caller_mistakes(tmp_path):
    with pytest.raises(ParseError, match="same files"):
        render_all([good_job("a"), good_job("a")], tmp_path, progress=False)
    with pytest.raises(ParseError, match="timeout"):
        render_all([good_job("a")], tmp_path, timeout=0, progress=False)
    assert not (tmp_path / "a.html").exists()


def test_unsafe_job_name_fails_without_writing_anywhere(tmp_path):
    out = tmp_path / "out"
    outcome = render_one(good_job("../escape"), str(out), 5, False)
    assert outcome.status == "failed" and "safe file name" in outcome.error
    assert outcome.html is None
    assert not (tmp_path / "escape.html").exists()
    assert not any(tmp_path.rglob("*.html"))


def test_unsafe_job_name_is_not_recorded_by_render_all(tmp_path):
    outcomes = render_all([good_job("a/../../b")], tmp_path, progress=False,
                          executor=InlineExecutor(stop_at=""))
    assert outcomes[0].status == "failed" and "safe_name" in outcomes[0].error
    assert read_manifest(tmp_path) == {}
    assert not any(tmp_path.parent.rglob("b.html"))


def test_missing_notebook_fails_that_job_only(tmp_path):
    outcome = render_one(Job("u", tmp_path / "nope.ipynb", {}, "T"), str(tmp_path), 5, False)
    assert outcome.status == "failed" and "nope.ipynb" in outcome.error
    assert not (tmp_path / "u.html").exists()


# ---------------------------------------------------------------------- retries (no kernel)

class FakePapermill:
    """Stands in for papermill.execute_notebook: fails as told, then writes an executed
    notebook as papermill would."""

    def __init__(self, *failures: BaseException):
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, input_path, output_path, **kwargs):
        self.calls += 1
        assert kwargs["kernel_name"] == "python3" and kwargs["progress_bar"] is False
        assert kwargs["log_output"] is False and kwargs["execution_timeout"] == 5
        if self.failures:
            raise self.failures.pop(0)
        nb = new_notebook(cells=[new_code_cell("print(1)", outputs=[
            new_output("stream", name="stdout", text="FAKE-RUN\n")])])
        nbformat.write(nb, output_path)
        return nb


@pytest.fixture
def no_wait(monkeypatch):
    monkeypatch.setattr(render, "RETRY_DELAYS", (0.0, 0.0, 0.0))


def run_fake(monkeypatch, tmp_path, fake) -> Outcome:
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    return render_one(good_job("u"), str(tmp_path), 5, True)


def test_port_clash_at_start_is_retried(monkeypatch, tmp_path, no_wait):
    fake = FakePapermill(zmq.ZMQError(errno.EADDRINUSE), zmq.ZMQError(errno.EADDRINUSE))
    outcome = run_fake(monkeypatch, tmp_path, fake)
    assert fake.calls == 3
    assert outcome.status == "rendered"
    assert "FAKE-RUN" in (tmp_path / "u.html").read_text(encoding="utf-8")


def test_kernel_that_never_starts_fails_after_three_retries(monkeypatch, tmp_path, no_wait):
    fake = FakePapermill(*[RuntimeError("Kernel didn't respond in 60 seconds")] * 5)
    outcome = run_fake(monkeypatch, tmp_path, fake)
    assert fake.calls == 4
    assert outcome.status == "failed" and outcome.cell is None
    assert outcome.error.startswith("the kernel did not start (4 attempts): RuntimeError")
    assert not (tmp_path / "u.html").exists()


def test_errors_while_running_cells_are_not_retried(monkeypatch, tmp_path, no_wait):
    error = PapermillExecutionError(cell_index=3, exec_count=2, source="x", ename="KeyError",
                                    evalue="'unit'\nsecond line", traceback=[])
    fake = FakePapermill(error)
    outcome = run_fake(monkeypatch, tmp_path, fake)
    assert fake.calls == 1
    assert outcome.error == "cell 2 raised KeyError: 'unit' second line" and outcome.cell == 2
    fake = FakePapermill(DeadKernelError("Kernel died"))
    assert run_fake(monkeypatch, tmp_path, fake).error.startswith("the kernel died")
    assert fake.calls == 1
    fake = FakePapermill(zmq.ZMQError(errno.EACCES))  # not a port clash
    assert run_fake(monkeypatch, tmp_path, fake).status == "failed" and fake.calls == 1


def test_page_that_would_load_from_the_network_is_not_published(monkeypatch, tmp_path):
    (tmp_path / "u.html").write_text("OLD PAGE", encoding="utf-8")

    def remote_image(input_path, output_path, **kwargs):
        nb = new_notebook(cells=[new_markdown_cell("![x](http://example.org/x.png)")])
        nbformat.write(nb, output_path)

    outcome = run_fake(monkeypatch, tmp_path, remote_image)
    assert outcome.status == "failed" and outcome.cell is None
    assert "would load 1 resource" in outcome.error and "example.org" in outcome.error
    assert not (tmp_path / "u.html").exists()
    assert (tmp_path / "u.failed.ipynb").is_file()


def test_bad_parameters_fail_the_job_without_a_kernel(monkeypatch, tmp_path):
    fake = FakePapermill()
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    outcome = render_one(good_job("u", parameters={"x": {1, 2}}), str(tmp_path), 5, False)
    assert outcome.status == "failed" and "JSON" in outcome.error
    assert fake.calls == 0


# ---------------------------------------------------------------------- real kernels

@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One run of a good, a failing, a hanging and a dying notebook, two at a time; "beta"
    had a page from an earlier good run."""
    out = tmp_path_factory.mktemp("mixed")
    (out / "beta.html").write_text("OLD GOOD PAGE", encoding="utf-8")
    (out / "beta.ipynb").write_text("{}", encoding="utf-8")
    jobs = [good_job("alpha", title="<b>alpha</b> 报告"),
            Job("beta", FAILS, {"unit": "大英县"}, "beta"),
            Job("gamma", HANGS, {"unit": "x"}, "gamma"),
            Job("delta", DIES, {"unit": "x"}, "delta")]
    outcomes = render_all(jobs, out, workers=2, timeout=3, progress=False)
    return out, jobs, {o.name: o for o in outcomes}


def test_good_job_renders_a_page_and_keeps_the_executed_notebook(mixed):
    out, _, outcomes = mixed
    alpha = outcomes["alpha"]
    assert (alpha.status, alpha.html, alpha.ipynb, alpha.error) == \
        ("rendered", "alpha.html", "alpha.ipynb", None)
    page = (out / "alpha.html").read_text(encoding="utf-8")
    assert '<html lang="zh">' in page
    assert "<title>&lt;b&gt;alpha&lt;/b&gt; 报告</title>" in page
    assert "DISPLAYED-HTML 大英县 绿" in page
    assert 'PARAMS {"unit": "大英县", "answer": 42}' in page
    assert f"CWD {out.resolve()}" in page
    assert re.search(r'<img [^>]*src="data:image/png;base64,', page)
    for code in ("SOURCE-MARKER", "ax.plot", "display(HTML", "answer = 42", "STDERR-MARKER"):
        assert code not in page, code
    assert "http" not in page
    assert remote_resources(page) == []
    executed = nbformat.read(out / "alpha.ipynb", as_version=4)
    assert any(o.get("output_type") == "display_data"
               for c in executed.cells for o in c.get("outputs", []))


def test_failing_cell_fails_only_its_job(mixed):
    out, _, outcomes = mixed
    beta = outcomes["beta"]
    assert beta.status == "failed" and beta.html is None
    assert beta.cell == 4
    assert beta.error == "cell 4 raised ValueError: bad data for 大英县"
    assert not (out / "beta.html").exists(), "the page of the earlier good run was withdrawn"
    assert not (out / "beta.ipynb").exists()
    assert beta.ipynb == "beta.failed.ipynb"
    record = nbformat.read(out / "beta.failed.ipynb", as_version=4)
    assert record.metadata["evalkit"]["error"] == beta.error
    assert outcomes["alpha"].status == "rendered"


def test_hang_and_dead_kernel_fail_with_what_happened(mixed):
    out, _, outcomes = mixed
    gamma, delta = outcomes["gamma"], outcomes["delta"]
    assert gamma.status == "failed" and gamma.error == "timed out after 3 s in cell 3"
    assert gamma.cell == 3
    assert delta.status == "failed" and delta.error == "the kernel died in cell 4"
    assert delta.cell == 4
    for name in ("gamma", "delta"):
        assert not (out / f"{name}.html").exists()
        assert (out / f"{name}.failed.ipynb").is_file()


def test_manifest_records_every_job(mixed):
    out, jobs, outcomes = mixed
    manifest = read_manifest(out)
    assert set(manifest) == {"alpha", "beta", "gamma", "delta"}
    assert manifest["alpha"]["key"] == job_key(jobs[0])
    assert manifest["alpha"]["status"] == "rendered" and manifest["alpha"]["html"] == "alpha.html"
    assert manifest["beta"] == {"key": job_key(jobs[1]), "status": "failed", "html": None,
                                "ipynb": "beta.failed.ipynb", "error": outcomes["beta"].error,
                                "cell": 4, "seconds": manifest["beta"]["seconds"]}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], "no temporary files left"


def test_next_run_skips_good_pages_and_retries_failed_ones(mixed):
    out, jobs, _ = mixed
    before = mtime(out / "alpha.html")
    again = render_all(jobs[:2], out, workers=2, timeout=3, progress=False)
    assert [o.status for o in again] == ["skipped", "failed"]
    assert again[0].html == "alpha.html"
    assert mtime(out / "alpha.html") == before


class InlineExecutor(cf.Executor):
    """Runs each job as it is submitted, in this process; a KeyboardInterrupt at the job
    named ``stop_at`` stands for the operator pressing Ctrl-C mid-run."""

    def __init__(self, stop_at: str):
        self.stop_at = stop_at

    def submit(self, fn, /, *args, **kwargs):
        if args[0].name == self.stop_at:
            raise KeyboardInterrupt
        future = cf.Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    hostile = safe_name("../../etc/<script>")
    jobs = [good_job("r1"), good_job("r2"),
            good_job(hostile, title="<script>alert(1)</script>")]
    with pytest.raises(KeyboardInterrupt):
        render_all(jobs, tmp_path, executor=InlineExecutor(stop_at="r2"), timeout=30,
                   progress=False)
    assert {n: e["status"] for n, e in read_manifest(tmp_path).items()} == \
        {"r1": "rendered", "r2": "queued", hostile: "queued"}, \
        "r1 was recorded as soon as it finished; the others as sent, never as rendered"
    first = mtime(tmp_path / "r1.html")
    outcomes = render_all(jobs, tmp_path, workers=2, timeout=30, progress=False)
    assert [o.status for o in outcomes] == ["skipped", "rendered", "rendered"]
    assert mtime(tmp_path / "r1.html") == first
    page = tmp_path / outcomes[2].html
    assert page.resolve().parent == tmp_path.resolve() and page.is_file()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.read_text(encoding="utf-8")
    assert set(read_manifest(tmp_path)) == {"r1", "r2", hostile}


def test_incremental_runs(tmp_path, monkeypatch):
    # One pool for every round, passed in as a caller's executor would be.
    pool = cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    with pool:
        p, d = good_job("p"), good_job("d")
        first = render_all([p, d], tmp_path, executor=pool, timeout=30, progress=False)
        assert [o.status for o in first] == ["rendered", "rendered"]
        stamps = {n: mtime(tmp_path / f"{n}.html") for n in "pd"}

        with monkeypatch.context() as m:  # a skipped job must not start a kernel
            m.setattr(papermill, "execute_notebook", FakePapermill(AssertionError("ran")))
            again = render_all([p, d], tmp_path, executor=InlineExecutor(stop_at=""),
                               progress=False)
            assert render_one(p, str(tmp_path), 30, False).status == "skipped"
        assert [o.status for o in again] == ["skipped", "skipped"]
        assert {n: mtime(tmp_path / f"{n}.html") for n in "pd"} == stamps

        p2 = good_job("p", parameters={"unit": "游仙区", "answer": 7})
        d2 = good_job("d", inputs_digest="new data")
        changed = render_all([p2, d2], tmp_path, executor=pool, timeout=30, progress=False)
        assert [o.status for o in changed] == ["rendered", "rendered"]
        assert "游仙区" in (tmp_path / "p.html").read_text(encoding="utf-8")
        assert mtime(tmp_path / "d.html") != stamps["d"]

        stamp = mtime(tmp_path / "p.html")
        forced = render_all([p2], tmp_path, executor=pool, timeout=30, force=True,
                            progress=False)
        assert forced[0].status == "rendered" and mtime(tmp_path / "p.html") != stamp
    assert os.path.exists(tmp_path / "p.ipynb")
    assert json.loads((tmp_path / "manifest.json").read_text("utf-8"))["p"]["key"] == \
        job_key(p2)


def test_facts_are_recorded_with_the_page_that_was_rendered(tmp_path):
    """A job's facts (not part of its key) go into the manifest with its outcome; a skipped
    job keeps the facts of the run that rendered it: the page on disk states those."""
    first = render_all([good_job("f", facts={"data_version": 1})], tmp_path,
                       executor=InlineExecutor(stop_at=""), timeout=30, progress=False)
    assert [o.status for o in first] == ["rendered"]
    assert read_manifest(tmp_path)["f"]["data_version"] == 1
    again = render_all([good_job("f", facts={"data_version": 2})], tmp_path,
                       executor=InlineExecutor(stop_at=""), timeout=30, progress=False)
    assert [o.status for o in again] == ["skipped"]
    entry = read_manifest(tmp_path)["f"]
    assert entry["data_version"] == 1 and entry["status"] == "rendered"
