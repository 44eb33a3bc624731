"""`tpython report --html`: the page a person opens, rendered in headless Chromium.

A program run in audit mode writes outside its working and temp directories
(into a file whose name is an HTML `<script>` tag), runs `true`, connects to
a loopback socket and compiles a string; the report of its log is opened in
Chromium and checked for what is visible: headings, the denial naming its
event and rule, the destination, the program, the hostile file name shown as
text, and one timeline row per category. A screenshot is kept in
``test-artifacts/report.png`` (or ``$TPYTHON_ARTIFACTS/report.png``).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import Runner

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver")
                                                else None)
ARTIFACTS = Path(os.environ.get("TPYTHON_ARTIFACTS") or Path(__file__).resolve().parents[1] / "test-artifacts")
HOSTILE = "<script>alert(1)</script>"  # one directory `<script>alert(1)<` holding a file `script>`

SCRIPT = """
import os, socket, subprocess, sys, time
outside = sys.argv[1]
with open(os.path.join(outside, "written.txt"), "w") as f:
    f.write("x")
os.makedirs(os.path.join(outside, "<script>alert(1)<"), exist_ok=True)
with open(os.path.join(outside, "<script>alert(1)</script>"), "w") as f:
    f.write("y")
time.sleep(1.2)  # a later second: more than one bin on the timeline
subprocess.run(["true"], check=True)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
client = socket.socket()
client.connect(server.getsockname())
client.close()
server.close()
exec(compile("answer = 6 * 7", "<string>", "exec"))
"""


def _driver() -> object:
    """A headless Chromium under chromedriver that logs its network traffic, or a skip."""
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium and chromedriver are needed to render the HTML report")
    webdriver = pytest.importorskip("selenium.webdriver", reason="the selenium package is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1400", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def report_page(tmp_path: Path) -> tuple[Path, dict]:
    """(HTML page, report data) for one audit-mode run with something in every table."""
    work, outside, tmp = tmp_path / "work", tmp_path / "outside", tmp_path / "tmp"
    for d in (work, outside, tmp):
        d.mkdir()
    tp = Runner(work)
    tp.script(SCRIPT)
    env = {"TMPDIR": str(tmp)}  # the report's temp dir: `outside` is neither it nor the run's cwd
    r = tp("run", "--policy", "strict", "--mode", "audit", "app.py", str(outside), env=env)
    assert r.rc == 0, r.err
    page = tmp_path / "report.html"
    r = tp("report", str(tp.log), "--html", str(page), env=env, log=False)
    assert r.rc == 0, r.err
    assert f"HTML report: {page}" in r.out
    data = json.loads(tp("report", str(tp.log), "--json", env=env, log=False).out)
    return page, data


def test_html_report_in_chromium(report_page: tuple[Path, dict]) -> None:
    page, data = report_page
    source = page.read_text(encoding="utf-8")
    assert "<script" not in source and "http://" not in source and "https://" not in source
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in source

    driver = _driver()
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    try:
        driver.get(page.as_uri())
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018  (the hostile name must not have run)
        assert driver.find_elements(By.TAG_NAME, "script") == []
        assert driver.title == "tpython report"
        header = driver.find_element(By.TAG_NAME, "header").text
        assert "tpython report" in header and f"{data['records']} records, 1 runs" in header

        headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h2") if h.is_displayed()]
        for want in ("Timeline", "Runs", "Events by category", "Denials and kills", "Network destinations",
                     "Programs run", "Files written outside the working and temp directories", "Dynamic code",
                     "Integrity failures", "Log problems"):
            assert any(h.startswith(want) for h in headings), (want, headings)

        summary = {li.get_attribute("data-key"): li for li in driver.find_elements(By.CSS_SELECTOR, "#summary li")}
        assert summary["denials"].text.split()[0] != "0" and "alert" in summary["denials"].get_attribute("class")
        assert summary["log problems"].text.split()[0] == "0"
        assert "alert" not in summary["log problems"].get_attribute("class")

        def rows(section: str) -> list[str]:
            found = driver.find_elements(By.CSS_SELECTOR, f"#{section} tbody tr")
            assert found and all(r.is_displayed() for r in found), section
            assert driver.find_elements(By.CSS_SELECTOR, f"#{section} th"), section
            return [r.text for r in found]

        denials = rows("denials")
        assert any("socket.connect" in r and "strict-network" in r and "not enforced" in r for r in denials), denials
        assert any("subprocess.Popen" in r and "strict-process" in r for r in denials), denials
        port = next(r["port"] for r in data["network"]["rows"] if r["example"] == "socket.connect")
        assert any("127.0.0.1" in r and str(port) in r for r in rows("network"))
        assert any(r.split()[1].endswith("true") for r in rows("programs"))
        writes = rows("writes")
        assert any(r.split()[1].endswith("/outside/written.txt") for r in writes), writes
        assert any(HOSTILE in r for r in writes), writes  # the tag shown literally, as text
        assert any("answer = 6 * 7" in r for r in rows("dynamic-code"))
        assert driver.find_element(By.CSS_SELECTOR, "#integrity .none").text == "none"
        assert driver.find_element(By.CSS_SELECTOR, "#problems .none").text == "none: every chain holds"

        series = data["timeline"]["series"]
        tl_rows = driver.find_elements(By.CSS_SELECTOR, "#timeline .tl-row")
        assert [r.get_attribute("data-category") for r in tl_rows] == list(series)
        for row, (category, counts) in zip(tl_rows, series.items()):
            assert row.text.split() == [category, str(sum(counts))]
            svg = row.find_element(By.TAG_NAME, "svg")
            assert svg.is_displayed() and svg.size["width"] > 200 and svg.size["height"] >= 10
            bars = svg.find_elements(By.TAG_NAME, "rect")
            assert len(bars) == sum(1 for n in counts if n) > 0
            assert all(b.size["width"] > 0 and b.size["height"] > 0 for b in bars)
        assert data["timeline"]["bins"] >= 2
        assert "UTC" in driver.find_element(By.CSS_SELECTOR, "#timeline .tl-axis").text

        requests = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        urls = {m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"}
        assert urls <= {page.as_uri()}, urls  # nothing fetched but the page itself
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "report.png"
        driver.set_window_size(1280, max(1400, driver.execute_script("return document.body.scrollHeight") + 50))
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 1000 and height >= 1000


def test_empty_report_renders() -> None:
    """No records: every section says so; the timeline is empty, not broken."""
    from tpython.analysis.report_html import render_html

    empty = {"rows": [], "more_records": 0}
    data = {"files": ["<x>.jsonl"], "records": 0, "runs": [], "more_runs": 3, "categories": [],
            "denials": empty, "network": empty, "programs": empty, "writes_outside": empty,
            "dynamic_code": empty, "integrity": {"rows": [], "more_records": 2}, "problems": ["<b>bad</b> line 1"],
            "timeline": {"start": None, "width": 1, "bins": 0, "series": {}}}
    page = render_html(data)
    assert "&lt;x&gt;.jsonl" in page and "&lt;b&gt;bad&lt;/b&gt; line 1" in page and "<b>bad" not in page
    assert "none: no timestamped records" in page and "… and 3 more runs" in page
    assert "<svg" not in page and page.count('class="alert"') == 2  # integrity (2) and problems (1)
    assert render_html(dict(data, timeline=None)).count("<section") == 10
