"""The web UI in a real browser (Playwright driving Debian's Chromium) against a server seeded
through the official client: each page, filtering and sorting runs, a run, artifacts preview
and download, charts, comparing runs, the registry, script payloads shown as text, the
static prefix, security headers, a narrow window and the keyboard."""
from __future__ import annotations

import csv
import io
import re

import pytest
import requests
from playwright.sync_api import expect
from ui_seed import MODEL_NAME, XSS_NAME
from ui_support import browser, page, seeded, shot, wait_http  # noqa: F401 (fixtures)

from conftest import Server

pytestmark = pytest.mark.ui


def open_page(page, server, route: str):
    page.goto(f"{server.url}/#{route}")
    return page


def grid_ready(page):
    expect(page.locator(".vgrid[data-state=ready]")).to_be_visible()


def run_names(page) -> list[str]:
    grid_ready(page)
    return page.locator(".vrow .run-link").all_inner_texts()


def canvas_has_ink(page, selector: str) -> bool:
    """Whether the canvas has drawn pixels in its plot area (beyond axes and grid)."""
    return page.eval_on_selector(selector, """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let coloured = 0;
        for (let i = 0; i < d.length; i += 4) {
            const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
            if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
        }
        return coloured > 100;
    }""")


# ---------------------------------------------------------------- experiments

def test_experiments_list_search_create_rename_delete_restore(page, seeded):
    server, data = seeded
    open_page(page, server, "/experiments")
    row = page.locator("tr", has=page.get_by_role("link", name="vision-sweep", exact=True))
    expect(row.locator("td.num").nth(1)).to_have_text("13")  # run count
    shot(page, "experiments")

    page.get_by_placeholder("Search experiments by name").fill("VISION")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_placeholder("Search experiments by name").fill("")

    page.get_by_role("button", name="New experiment").click()
    page.get_by_role("textbox", name="Name").fill("made-in-the-ui")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="made-in-the-ui")).to_be_visible()
    new_id = re.search(r"#/experiments/(\d+)", page.url)[1]
    assert requests.get(f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": new_id},
                        timeout=10).json()["experiment"]["name"] == "made-in-the-ui"

    open_page(page, server, "/experiments")
    row = page.locator("tr", has=page.get_by_role("link", name="made-in-the-ui", exact=True))
    row.get_by_role("button", name="Rename").click()
    page.get_by_role("textbox", name="New name").fill("renamed-in-the-ui")
    page.get_by_role("button", name="Save").click()
    row = page.locator("tr", has=page.get_by_role("link", name="renamed-in-the-ui", exact=True))
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("link", name="renamed-in-the-ui")).to_have_count(0)
    page.get_by_label("Which experiments").select_option("DELETED_ONLY")
    page.locator("tr", has=page.get_by_role("link", name="renamed-in-the-ui")).get_by_role("button", name="Restore").click()
    expect(page.locator("tr", has_text="renamed-in-the-ui")).to_have_count(0)
    stage = requests.get(f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": new_id},
                         timeout=10).json()["experiment"]["lifecycle_stage"]
    assert stage == "active"


# ---------------------------------------------------------------- runs table

def test_runs_table_filters_sorts_nests_and_downloads_csv(page, seeded):
    server, data = seeded
    open_page(page, server, f"/experiments/{data.experiment_id}")
    names = run_names(page)
    assert {"sweep-0", "sweep-7", "hyperopt-parent", "trained-model"} <= set(names)
    assert "trial-0" not in names  # nested under its parent, collapsed
    shot(page, "runs")

    page.locator(".vrow", has_text="hyperopt-parent").locator("button.twisty").click()
    assert {"trial-0", "trial-1"} <= set(run_names(page))

    # the API's own filter syntax, and its error message when it is wrong
    page.get_by_label("Filter runs").fill("metrics.loss < 0.1 and params.optimizer = 'sgd'")
    page.get_by_label("Filter runs").press("Enter")
    expect(page.locator(".vrow")).to_have_count(3)
    assert set(run_names(page)) == {"sweep-4", "sweep-5", "sweep-6"}
    page.allowed_console = ("the server responded with a status of 400",)  # the refused search
    page.get_by_label("Filter runs").fill("metrics.loss >> 1")
    page.get_by_label("Filter runs").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("'>>' is not a comparator")
    shot(page, "runs-filter-error")

    # plain text searches run names
    page.get_by_label("Filter runs").fill("sweep-")
    page.get_by_label("Filter runs").press("Enter")
    expect(page.locator(".vrow")).to_have_count(8)

    # sort by the loss column, ascending then descending (the server sorts)
    page.get_by_title("Sort by loss", exact=True).click()
    grid_ready(page)
    descending = run_names(page)
    page.get_by_title("Sort by loss", exact=True).click()
    expect(page.locator(".vhead [aria-sort=ascending]")).to_have_count(1)
    ascending = run_names(page)
    assert ascending == descending[::-1] and ascending[0] == "sweep-5"  # lowest final loss

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text())))
    assert rows[0][:3] == ["run_id", "run_name", "experiment"] and "metrics.loss" in rows[0]
    assert [r[1] for r in rows[1:]] == ascending


def test_runs_of_two_experiments_together(page, seeded):
    server, data = seeded
    open_page(page, server, f"/runs?experiments={data.experiment_id},{data.other_experiment_id}")
    names = run_names(page)
    assert "bert-base" in names and "sweep-0" in names
    expect(page.locator(".vhead")).to_contain_text("Experiment")


# ---------------------------------------------------------------- a run

def test_run_overview_tags_and_note(page, seeded):
    server, data = seeded
    open_page(page, server, f"/experiments/{data.experiment_id}/runs/{data.model_run}")
    about = page.locator("section.panel", has=page.get_by_role("heading", name="About this run"))
    for text in ("ada", "train.py", "0123456789ab", "FINISHED".lower()):
        expect(about).to_contain_text(text)
    expect(page.locator("section.panel", has=page.get_by_role("heading", name=re.compile("Datasets")))).to_contain_text("iris")
    expect(page.get_by_role("link", name="model", exact=True)).to_be_visible()  # the logged model
    expect(page.locator("section.panel", has=page.get_by_role("heading", name=re.compile("Parameters")))).to_contain_text("max_iter")

    page.get_by_role("button", name="Add tag").click()
    page.get_by_role("textbox", name="Key").fill("reviewed")
    page.get_by_role("textbox", name="Value").fill("by the UI test")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("section.panel", has=page.get_by_role("heading", name=re.compile("Tags")))).to_contain_text("by the UI test")

    page.get_by_role("button", name="Add note").click()
    page.get_by_label("Note in Markdown").fill("## Result\n\nThe **best** run so far.")
    expect(page.locator(".note-preview strong")).to_have_text("best")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_role("button", name="Edit note")).to_be_visible()  # saved, page reloaded
    expect(page.locator(".note .markdown h4")).to_have_text("Result")
    tags = {t["key"]: t["value"] for t in requests.get(f"{server.url}/api/2.0/mlflow/runs/get", params={
        "run_id": data.model_run}, timeout=10).json()["run"]["data"]["tags"]}
    assert tags["reviewed"] == "by the UI test"
    assert tags["mlflow.note.content"] == "## Result\n\nThe **best** run so far."
    shot(page, "run-overview")


def test_artifacts_preview_and_download(page, seeded):
    server, data = seeded
    open_page(page, server, f"/experiments/{data.experiment_id}/runs/{data.model_run}/artifacts")
    tree = page.get_by_role("tree", name="Artifacts")
    tree.get_by_role("button", name="tables").click()
    tree.get_by_role("button", name=re.compile("losses.csv")).click()
    expect(page.locator(".preview table")).to_contain_text("0.25")
    tree.get_by_role("button", name="config").click()
    tree.get_by_role("button", name=re.compile("config.json")).click()
    expect(page.locator(".preview pre")).to_contain_text('"activation": "relu"')
    tree.get_by_role("button", name=re.compile("params.yaml")).click()
    expect(page.locator(".preview pre")).to_contain_text("batch: 32")
    tree.get_by_role("button", name="images").click()
    tree.get_by_role("button", name=re.compile("gradient.png")).click()
    image = page.locator(".preview img")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('.preview img').naturalWidth === 64")
    tree.get_by_role("button", name="notes").click()
    tree.get_by_role("button", name=re.compile("readme.txt")).click()
    expect(page.locator(".preview pre")).to_contain_text("line two <b>not bold</b>")
    shot(page, "run-artifacts")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "readme.txt"
    assert download.value.path().read_text() == "line one\nline two <b>not bold</b>\n"


def test_metric_chart_draws_and_switches_axes(page, seeded):
    server, data = seeded
    run = data.runs["sweep-3"]
    open_page(page, server, f"/experiments/{data.experiment_id}/runs/{run}/metrics?metrics=loss,accuracy")
    panel = page.locator(".metric-panel[data-state=ready]")
    expect(panel).to_contain_text("100 points drawn")
    assert canvas_has_ink(page, ".metric-panel canvas")
    page.get_by_label("X axis").select_option("relative")
    page.get_by_label("Log scale").check()
    page.get_by_label("Smoothing").fill("0.6")
    expect(panel).to_contain_text("100 points drawn")
    assert canvas_has_ink(page, ".metric-panel canvas")
    box = page.locator(".metric-panel canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator(".chart-tooltip")).to_contain_text("loss")
    shot(page, "run-metrics")


# ---------------------------------------------------------------- compare

def test_compare_two_runs_from_the_table(page, seeded):
    server, data = seeded
    open_page(page, server, f"/experiments/{data.experiment_id}")
    grid_ready(page)
    page.get_by_role("checkbox", name="Select sweep-0").check()
    page.get_by_role("checkbox", name="Select sweep-5").check()
    page.get_by_role("button", name="Compare 2").click()
    expect(page.get_by_role("heading", name="Comparing 2 runs")).to_be_visible()
    params = page.locator("section.panel", has=page.get_by_role("heading", name="Parameters"))
    expect(params.locator("tr.diff", has_text="optimizer")).to_have_count(1)  # adam vs sgd
    page.get_by_label("Show only differences").check()
    expect(params.locator("tbody tr")).to_have_count(3)  # lr, optimizer, layers all differ
    expect(page.locator(".metric-panel[data-state=ready]")).to_contain_text("points drawn")
    assert canvas_has_ink(page, ".metric-panel canvas")
    page.get_by_label("X", exact=True).select_option("param:lr")
    page.get_by_label("Y", exact=True).select_option("metric:loss")
    assert canvas_has_ink(page, "canvas[aria-label='Scatter plot']")
    assert canvas_has_ink(page, "canvas[aria-label='Parallel coordinates']")
    shot(page, "compare")


# ---------------------------------------------------------------- registry and logged models

def test_registered_model_version_and_logged_model(page, seeded):
    server, data = seeded
    open_page(page, server, "/models")
    page.get_by_role("link", name=MODEL_NAME).click()
    expect(page.get_by_text("Classifies iris flowers.")).to_be_visible()
    versions = page.locator("section.panel", has=page.get_by_role("heading", name=re.compile("Versions")))
    expect(versions.locator("tbody tr")).to_have_count(2)
    expect(versions).to_contain_text("@champion")
    expect(versions).to_contain_text("Staging")
    shot(page, "model")
    versions.get_by_role("link", name="Version 1").click()
    expect(page.get_by_role("heading", name=f"{MODEL_NAME} · version 1")).to_be_visible()
    expect(page.get_by_role("link", name=data.model_run)).to_be_visible()  # the source run
    page.get_by_role("tree", name="Artifacts").get_by_role("button", name=re.compile("^MLmodel")).click()
    expect(page.locator("dl.facts")).to_contain_text("sklearn")
    shot(page, "model-version")

    page.get_by_role("link", name=re.compile(r"^m-[0-9a-f]{32}$")).click()
    expect(page.get_by_role("heading", name="model", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=f"{MODEL_NAME} v1")).to_be_visible()
    open_page(page, server, f"/experiments/{data.experiment_id}/models")
    expect(page.locator("tbody tr")).to_have_count(1)
    shot(page, "logged-models")


# ---------------------------------------------------------------- safety

def test_script_payloads_show_as_text(page, seeded):
    """Names, tags, params, the note and an HTML artifact carry <script> and <img onerror>
    payloads: they show as text and nothing runs (the page fixture fails on window.__xss,
    a dialog or a script error)."""
    server, data = seeded
    open_page(page, server, f"/experiments/{data.experiment_id}")
    expect(page.locator(".vrow .run-link", has_text="<script>")).to_have_text(XSS_NAME)
    page.locator("summary", has_text="Columns").click()
    page.get_by_role("checkbox", name="payload").check()
    expect(page.locator(".vrow", has_text="<script>").locator(".vcell").last).to_have_text(XSS_NAME)

    open_page(page, server, f"/experiments/{data.experiment_id}/runs/{data.xss_run}")
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS_NAME)
    expect(page.locator(".note .markdown")).to_contain_text("<script>window.__xss=3</script>")
    expect(page.locator(".note .markdown")).to_contain_text('<img src=x onerror="window.__xss=5">')
    expect(page.locator(".note .markdown a")).to_have_count(1)  # the javascript: link stays text
    assert page.locator("main script, main img[onerror], main [onerror]").count() == 0
    shot(page, "run-with-payloads")

    open_page(page, server, f"/experiments/{data.experiment_id}/runs/{data.xss_run}/artifacts?path=report.html")
    frame = page.locator("iframe.html-preview")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe.html-preview").locator("b")).to_have_text("bold")
    assert page.evaluate("window.__xss") is None


def test_security_headers_and_caching(seeded):
    server, _ = seeded
    shell = requests.get(f"{server.url}/", timeout=10)
    assert shell.status_code == 200 and shell.headers["Content-Type"].startswith("text/html")
    csp = shell.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert shell.headers["X-Content-Type-Options"] == "nosniff"
    assert shell.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert shell.headers["Cache-Control"] == "no-cache"
    assets = re.findall(r'(?:src|href)="(static-files/[^"]+)"', shell.text)
    assert any(a.endswith("main.js") for a in assets) and any(a.endswith("app.css") for a in assets)
    for asset in assets:
        response = requests.get(f"{server.url}/{asset}", timeout=10)
        assert response.status_code == 200, asset
        assert "immutable" in response.headers["Cache-Control"], asset
    script = requests.get(f"{server.url}/{next(a for a in assets if a.endswith('main.js'))}", timeout=10)
    assert script.headers["Content-Type"].startswith("text/javascript")
    # no asset outside the UI's folder
    assert requests.get(f"{server.url}/static-files/x/../../factory.py", timeout=10).status_code == 404


def test_served_under_the_static_prefix(page, tmp_path):
    server = Server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
                     "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"), "MLFLOW_STATIC_PREFIX": "/mlflow"},
                    tmp_path)
    try:
        wait_http(f"{server.url}/mlflow/health", server)
        redirect = requests.get(f"{server.url}/mlflow", allow_redirects=False, timeout=10)
        assert redirect.status_code == 308 and redirect.headers["Location"].endswith("/mlflow/")
        assert requests.get(f"{server.url}/", timeout=10).status_code == 404
        page.goto(f"{server.url}/mlflow")
        expect(page.get_by_role("link", name="Default")).to_be_visible()
        page.get_by_role("link", name="Default").click()
        grid_ready(page)
        expect(page.locator(".empty")).to_have_text("No runs match.")
    finally:
        server.stop()


def test_no_sign_in_or_permission_controls_without_auth(page, seeded):
    """Without auth the page asks nothing about users and shows nothing of auth."""
    server, data = seeded
    asked = []
    page.on("request", lambda request: "/users/" in request.url and asked.append(request.url))
    open_page(page, server, f"/experiments/{data.experiment_id}")
    grid_ready(page)
    page.wait_for_load_state("networkidle")
    expect(page.locator(".user-menu")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(["Experiments", "Models"])
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link")).to_have_text(["Runs", "Traces", "Logged models"])
    for route in ("/account", "/admin", "/admin/roles/1"):
        open_page(page, server, route)
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    open_page(page, server, f"/experiments/{data.experiment_id}/permissions")  # an official UI section: the runs
    grid_ready(page)
    open_page(page, server, f"/models/{MODEL_NAME}")
    expect(page.get_by_role("heading", name="Tags")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".permissions-panel")).to_have_count(0)
    assert asked == []


# ---------------------------------------------------------------- narrow window and keyboard

def test_narrow_window_and_keyboard(page, seeded):
    server, data = seeded
    page.set_viewport_size({"width": 390, "height": 800})
    open_page(page, server, f"/experiments/{data.experiment_id}/runs/{data.model_run}")
    expect(page.get_by_role("heading", name="About this run")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391  # no sideways scrolling
    shot(page, "run-narrow")

    page.set_viewport_size({"width": 1280, "height": 860})
    open_page(page, server, f"/experiments/{data.experiment_id}")
    grid_ready(page)
    page.keyboard.press("/")
    expect(page.get_by_label("Filter runs")).to_be_focused()
    page.keyboard.type("sweep-2")
    page.keyboard.press("Enter")
    expect(page.locator(".vrow")).to_have_count(1)
    first = page.locator(".vrow .run-link").first
    first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("sweep-2")
