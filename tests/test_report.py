"""`evalkit report`: one self-contained offline HTML file; in Chromium, its tables, filters and sample view work,
and a model's `<script>` or `onerror` stays text.

The browser tests drive Debian's Chromium through Playwright (`.ci/run` installs both); where either
is missing they skip, saying why.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
from html import unescape
from pathlib import Path

import pytest

from tests.cli_process import run_evalkit, stderr_lines
from tests.report_runs import INJECTED, make_runs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("report")
    runs = make_runs(root)
    result = run_evalkit("report", *runs, "-o", root / "report.html", "--title", "three runs", cwd=root)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"wrote .*report\.html \(\d+\.\d MB\)", result.stderr.strip())
    return root / "report.html", runs


def embedded(html: str) -> dict:
    packed = re.search(r'<script type="application/octet-stream" id="evalkit-data"[^>]*>([^<]*)</script>', html).group(1)
    return json.loads(gzip.decompress(base64.b64decode(packed)))


def test_the_file_holds_everything_and_loads_nothing(report):
    html = report[0].read_text(encoding="utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html).group(1)
    assert "default-src 'none'" in unescape(csp) and "connect-src 'none'" in unescape(csp)
    assert "<link" not in html and not re.search(r"<script[^>]*\ssrc=", html) and "@import" not in html
    assert "Plotly" in html and html.count("<script") == html.count("</script>")
    assert "__evalkit_pwned" not in html  # model output is data, never markup
    assert report[0].stat().st_size < 10_000_000


def test_the_data_holds_every_sample_of_every_run(report):
    data = embedded(report[0].read_text(encoding="utf-8"))
    assert data["labels"] == ["A", "B", "C"] and data["runs"] == ["gold", "degraded", "noisy"]
    by_task: dict[str, int] = {}
    for sample in data["samples"]:
        by_task[sample["t"]] = by_task.get(sample["t"], 0) + 1
        assert len(sample["r"]) == 3
    assert by_task == {"gsm8k": 8, "humaneval": 8, "jaster:NLI": 27, "mt_bench": 6}
    wrapped = next(s for s in data["samples"] if s["t"] == "jaster:NLI" and s["id"] == "jnli-1")
    assert wrapped["r"][1]["o"][0].endswith(INJECTED) and {"changed", "violation"} <= set(wrapped["f"])
    assert [run["s"]["strict"] for run in wrapped["r"][:2]] == [1.0, 0.0] and wrapped["m"] == "strict"
    assert [run["fo"] for run in wrapped["r"][:2]] == [True, False]  # the reply that broke the format, per run
    judged_turns = next(s for s in data["samples"] if s["t"] == "mt_bench" and s["r"][0] and len(s["r"][0]["o"]) == 2)
    assert judged_turns["r"][0]["oh"] == ["turn 1", "turn 2"]
    judged = next(s for s in data["samples"] if s["t"] == "mt_bench" and s["r"][0])
    assert judged["r"][0]["j"][0]["head"].startswith("turn1 · single") and "Rating: [[8]]" in judged["r"][0]["j"][0]["text"]
    failed = next(s for s in data["samples"] if "error" in s["f"])
    assert failed["r"][1]["e"].startswith("HTTP 503: overloaded")


def test_bad_input_is_one_line(tmp_path, report):
    missing = run_evalkit("report", tmp_path / "nope", "-o", tmp_path / "r.html", cwd=tmp_path)
    assert missing.returncode == 2 and stderr_lines(missing) == [f"error: {tmp_path / 'nope'} does not exist"]
    assert not (tmp_path / "r.html").exists()


# --- in Chromium -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed here (Debian: apt-get install chromium fonts-noto-cjk)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with playwright_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"])
        except Exception as exc:  # a Chromium that cannot start here (no display libraries, a bad install)
            pytest.skip(f"Chromium did not start: {exc}")
        yield browser
        browser.close()


class Page:
    """The report open in a fresh tab, with everything the page said and asked for."""

    def __init__(self, browser, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready=true]", timeout=30_000)

    def count(self) -> str:
        return self.page.text_content("#sample-count")

    def rows(self) -> list[list[str]]:
        return self.page.eval_on_selector_all(
            "#sample-rows tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


@pytest.fixture
def page(browser, report):
    opened = Page(browser, report[0])
    yield opened
    opened.page.close()


def test_it_opens_offline_without_errors_and_draws_its_charts(page):
    assert page.errors == []
    assert page.requests == [page.page.url]  # the file itself, nothing else
    charts = page.page.eval_on_selector_all(".chart", "cs => cs.map(c => c.querySelectorAll('svg .trace, svg .barlayer .point, svg .scatterlayer .trace').length)")
    assert charts and all(n > 0 for n in charts)
    assert page.page.locator("#radar-mt-bench").count() == 1


def test_the_tables_show_each_run_and_the_changes(page):
    titles = page.page.eval_on_selector_all("#comparison figcaption.title", "t => t.map(x => x.textContent)")
    assert titles == ["gsm8k: A vs B vs C", "jaster:NLI: A vs B vs C", "mt_bench: A vs B vs C", "humaneval: A vs B vs C"]
    avg = page.page.eval_on_selector_all(
        "#comparison figure:nth-of-type(2) tbody tr", "rows => rows.map(r => [...r.cells].map(c => [c.textContent, c.className]))")
    strict = next(r for r in avg if r[0][0] == "AVG" and r[1][0] == "strict")
    assert strict[3][0] == "1.0000" and strict[5][0].startswith("-") and "neg" in strict[5][1]
    violation = next(r for r in avg if r[0][0] == "AVG" and r[1][0] == "format_violation")
    assert violation[5][0].startswith("+") and "neg" in violation[5][1]  # more violations: worse, in red
    assert page.page.locator("#runs .card").count() == 3


def test_the_filters_narrow_the_samples(page):
    assert page.count() == "49 of 49 samples"
    page.page.select_option("#filter-task", "jaster:NLI")
    assert page.count() == "27 of 49 samples"
    page.page.select_option("#filter-genre", "NLI/jnli")
    assert page.count() == "6 of 49 samples" and {r[2] for r in page.rows()} == {"NLI/jnli"}
    page.page.select_option("#filter-genre", "")
    page.page.check("#filter-violation")
    violations = page.rows()
    assert violations and all("violation" in r[-1] for r in violations)
    page.page.uncheck("#filter-violation")
    page.page.select_option("#filter-task", "")
    page.page.check("#filter-error")
    assert all("error" in r[-1] for r in page.rows()) and page.rows()
    page.page.uncheck("#filter-error")
    page.page.check("#filter-changed")
    assert all("changed" in r[-1] for r in page.rows())
    page.page.uncheck("#filter-changed")
    page.page.check("#filter-judge")
    assert page.count().startswith("0 of")  # the scripted judge never failed
    page.page.uncheck("#filter-judge")
    page.page.fill("#filter-text", "日本語も含む")
    assert {r[0] for r in page.rows()} == {"mt_bench"}


def test_a_sample_shows_every_run_and_a_hostile_output_stays_text(page):
    page.page.select_option("#filter-task", "gsm8k")
    page.page.fill("#filter-text", "__evalkit_pwned")  # the outputs that hold the injection
    page.page.click("#sample-rows tr >> nth=0")
    detail = page.page.locator("#sample-detail")
    assert detail.is_visible()
    outputs = detail.locator("pre.output").all_text_contents()
    assert len(outputs) == 3 and any(INJECTED in text for text in outputs)
    assert page.page.evaluate("window.__evalkit_pwned") is None  # neither the <script> nor the onerror ran
    assert page.page.locator("#sample-detail script, #sample-detail img").count() == 0
    assert detail.locator("pre.prompt").text_content().rstrip().endswith("Answer:")
    page.page.select_option("#diff-right", "1")
    inserted = "".join(detail.locator("#diff-body ins").all_text_contents())
    assert "答えは" in inserted and "<script>" in inserted  # what B added around the gold answer, word by word
    assert "#### " not in inserted  # the answer itself is common to both
    assert page.errors == []


def test_a_judged_sample_shows_the_judges_explanation(page):
    page.page.select_option("#filter-task", "mt_bench")
    page.page.click("#sample-rows tr >> nth=0")
    judge = page.page.locator("#sample-detail pre.judge").all_text_contents()
    assert judge and all("Rating: [[" in text for text in judge)


def test_a_screenshot_for_people(page, report):
    """Not an assertion about looks: a picture of the page for whoever reads the test output."""
    page.page.select_option("#filter-task", "jaster:NLI")
    page.page.click("#sample-rows tr >> nth=1")
    shot = report[0].with_suffix(".png")
    page.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("EVALKIT_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["EVALKIT_SCREENSHOT_DIR"]) / "report.png")
