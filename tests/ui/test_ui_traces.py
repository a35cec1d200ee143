"""The web UI's traces in a real browser (Playwright driving Debian's Chromium) against a server
whose traces were made by the official client: an experiment's Traces tab (newest first,
previews, state, assessments, the search_traces filter, paging), a trace's span tree and
timeline with each span's inputs, outputs and exceptions, script payloads in spans shown as
text, a 1,000-span trace, and the traces of a run and of an evaluation run with their scores."""
from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field

import pytest
import requests
from playwright.sync_api import expect
from ui_support import browser, page, shot  # noqa: F401 (fixtures)

from conftest import Server

pytestmark = pytest.mark.ui

XSS = "<img src=x onerror=window.__xss=7>"  # no quotes: JSON shows it unescaped
MANY = 57  # traces in one experiment: two pages of 50


@dataclass
class Traced:
    experiment_id: str = ""
    run_id: str = ""
    ok_trace: str = ""       # answer('what is mlflow?'), in the run
    error_trace: str = ""    # fails('boom'), in the run: its spans raise
    xss_trace: str = ""      # answer(XSS), the newest; it has feedback and an expectation
    big_trace: str = ""      # 1,000 spans
    eval_experiment_id: str = ""
    eval_run_id: str = ""
    many_experiment_id: str = ""
    order: list = field(default_factory=list)  # the experiment's trace ids, newest first


def seed(url: str) -> Traced:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import AssessmentSource, IssueReference
    from mlflow.genai.scorers import scorer

    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    out = Traced()

    @mlflow.trace(span_type="CHAIN")
    def answer(q):
        with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"query": q})
            span.set_outputs([{"doc": "MLflow tracks experiments", "score": 0.9}])
        with mlflow.start_span("generate", span_type="LLM") as span:
            span.set_inputs({"prompt": f"Answer: {q}"})
            span.set_attribute("model", "tiny-llm")
            with mlflow.start_span("lookup", span_type="TOOL") as tool:
                tool.set_inputs({"term": q})
                tool.set_outputs({"found": True})
            span.set_outputs({"text": f"It is {q}"})
        return f"It is {q}"

    @mlflow.trace(span_type="AGENT")
    def fails(q):
        with mlflow.start_span("step", span_type="TOOL"):
            raise ValueError(f"tool broke on {q}")

    @mlflow.trace(name="big")
    def big():
        for i in range(333):
            with mlflow.start_span(f"step-{i}", span_type="CHAIN"):
                with mlflow.start_span(f"llm-{i}", span_type="LLM") as span:
                    span.set_inputs({"i": i})
                    with mlflow.start_span(f"tool-{i}", span_type="TOOL"):
                        pass

    out.experiment_id = mlflow.set_experiment("agent-traces").experiment_id
    big()
    out.big_trace = mlflow.get_last_active_trace_id()
    with mlflow.start_run(run_name="traced-run") as run:
        out.run_id = run.info.run_id
        answer("what is mlflow?")
        out.ok_trace = mlflow.get_last_active_trace_id()
        with pytest.raises(ValueError):
            fails("boom")
        out.error_trace = mlflow.get_last_active_trace_id()
    answer(XSS)
    out.xss_trace = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    client.set_trace_tag(out.ok_trace, "env", "prod")
    mlflow.log_feedback(trace_id=out.xss_trace, name="helpful", value=True, rationale="clear and short",
                        source=AssessmentSource(source_type="HUMAN", source_id="ada"))
    mlflow.log_expectation(trace_id=out.xss_trace, name="expected", value="It is MLflow")
    mlflow.log_assessment(out.xss_trace, IssueReference(issue_id="iss-7", issue_name="Too terse"))
    out.order = [out.xss_trace, out.error_trace, out.ok_trace, out.big_trace]

    # An evaluation run with two code scorers.
    out.eval_experiment_id = mlflow.set_experiment("agent-eval").experiment_id

    @scorer
    def concise(outputs):
        return len(outputs) < 12

    @scorer
    def length(outputs):
        return float(len(outputs))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mlflow.genai.evaluate(data=[{"inputs": {"question": q}} for q in ["abc", "a longer one"]],
                                       predict_fn=lambda question: question.upper(), scorers=[concise, length])
    out.eval_run_id = result.run_id

    # Enough traces for two pages.
    out.many_experiment_id = mlflow.set_experiment("many-traces").experiment_id

    @mlflow.trace
    def echo(i):
        return i

    for i in range(MANY):
        echo(i)
    mlflow.flush_trace_async_logging()
    return out


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui-traces")
    server = Server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                     "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts")}, tmp)
    try:
        server.wait_ready()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_GENAI_EVAL_MAX_WORKERS", "2")  # a 2-core machine
            seeded = seed(server.url)
        yield server, seeded
    finally:
        server.stop()


def open_page(page, server, route: str):
    page.goto(f"{server.url}/#{route}")
    return page


def table_ready(page):
    expect(page.locator("table.traces[data-state=ready]")).to_be_visible()
    return page.locator("table.traces tbody tr")


def trace_ids(page) -> list[str]:
    rows = table_ready(page)
    return [rows.nth(i).get_attribute("data-trace-id") for i in range(rows.count())]


def select_span(page, name: str):
    page.locator(".span-row", has=page.locator(".span-name", has_text=name)).first.click()
    expect(page.locator(".span-detail .span-title")).to_contain_text(name)


# ---------------------------------------------------------------- an experiment's traces

def test_traces_tab_lists_newest_first_with_previews_state_and_assessments(page, traced):
    server, data = traced
    open_page(page, server, f"/experiments/{data.experiment_id}")
    page.get_by_role("link", name="Traces", exact=True).click()
    expect(page).to_have_url(f"{server.url}/#/experiments/{data.experiment_id}/traces")
    assert trace_ids(page) == data.order
    rows = table_ready(page)
    ok = page.locator(f"tr[data-trace-id='{data.ok_trace}']")
    expect(ok.locator("td.preview").first).to_contain_text("what is mlflow?")
    expect(ok.locator("td.preview").nth(1)).to_contain_text("It is what is mlflow?")
    expect(ok).to_contain_text("env: prod")
    expect(ok.get_by_role("link", name=data.run_id[:8])).to_be_visible()
    expect(page.locator(f"tr[data-trace-id='{data.error_trace}'] .badge")).to_have_text("error")
    expect(ok.locator(".badge")).to_have_text("ok")
    newest = rows.first
    expect(newest.locator("td.preview").first).to_have_text(XSS)  # as text, not an image
    expect(newest.locator(".chip.assessment").first).to_have_text("helpful: true")
    expect(newest).to_contain_text("expected: It is MLflow")
    assert page.locator("main img").count() == 0
    shot(page, "traces")


def test_filter_narrows_the_traces_and_a_bad_one_shows_the_servers_message(page, traced):
    server, data = traced
    page.allowed_console = ("the server responded with a status of 400",)  # the refused search
    open_page(page, server, f"/experiments/{data.experiment_id}/traces")
    table_ready(page)
    box = page.get_by_label("Filter traces")
    box.fill("trace.status = 'ERROR'")
    box.press("Enter")
    expect(page.locator("table.traces tbody tr")).to_have_count(1)
    assert trace_ids(page) == [data.error_trace]
    assert "filter=" in page.url  # the filter is kept in the address

    box.fill("tag.env = 'prod'")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.traces tbody tr")).to_have_count(1)
    assert trace_ids(page) == [data.ok_trace]

    box.fill("boom")  # text without a comparator searches the traces' contents
    box.press("Enter")
    expect(page.locator("table.traces tbody tr")).to_have_count(1)
    assert trace_ids(page) == [data.error_trace]

    box.fill("trace.nonsense = 'x'")
    box.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The server refused this search")
    message = requests.post(f"{server.url}/api/3.0/mlflow/traces/search", timeout=10, json={
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": data.experiment_id}}],
        "filter": "trace.nonsense = 'x'"}).json()["message"]
    expect(alert).to_contain_text(message)

    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_role("alert")).to_be_hidden()
    assert trace_ids(page) == data.order


def test_paging_with_next_and_previous(page, traced):
    server, data = traced
    open_page(page, server, f"/experiments/{data.many_experiment_id}/traces")
    first = trace_ids(page)
    assert len(first) == 50
    expect(page.get_by_role("status").filter(has_text="Traces 1–50")).to_be_visible()
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()
    page.get_by_role("button", name="Next →").click()
    expect(page.locator("table.traces tbody tr")).to_have_count(MANY - 50)
    second = trace_ids(page)
    assert not set(first) & set(second)
    expect(page.get_by_role("status").filter(has_text=f"Traces 51–{MANY} of {MANY}")).to_be_visible()
    expect(page.get_by_role("button", name="Next →")).to_be_disabled()
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("table.traces tbody tr")).to_have_count(50)
    assert trace_ids(page) == first


# ---------------------------------------------------------------- one trace

def test_a_trace_shows_its_span_tree_and_each_spans_inputs_and_outputs(page, traced):
    server, data = traced
    open_page(page, server, f"/experiments/{data.experiment_id}/traces")
    page.locator(f"tr[data-trace-id='{data.ok_trace}'] a.trace-link").click()
    expect(page).to_have_url(re.compile(re.escape(f"/#/experiments/{data.experiment_id}/traces/{data.ok_trace}?span=")))
    rows = page.locator(".span-row")
    expect(rows).to_have_count(4)
    assert rows.locator(".span-name").all_inner_texts() == ["answer", "retrieve", "generate", "lookup"]
    assert [rows.nth(i).get_attribute("aria-level") for i in range(4)] == ["1", "2", "2", "3"]
    assert rows.locator(".span-type").all_inner_texts() == ["CHAIN", "RETRIEVER", "LLM", "TOOL"]
    # the root is chosen first; its bar spans the whole timeline, its children's lie within
    expect(page.locator(".span-detail .span-title")).to_contain_text("answer")
    root_bar = rows.nth(0).locator(".span-bar").bounding_box()
    lookup_bar = rows.nth(3).locator(".span-bar").bounding_box()
    assert root_bar["x"] <= lookup_bar["x"] and lookup_bar["x"] + lookup_bar["width"] <= root_bar["x"] + root_bar["width"] + 1

    select_span(page, "generate")
    detail = page.locator(".span-detail")
    expect(detail.locator("pre.value").first).to_contain_text('"prompt": "Answer: what is mlflow?"')
    expect(detail.locator("pre.value").nth(1)).to_contain_text('"text": "It is what is mlflow?"')
    expect(detail.locator("tr", has_text="model")).to_contain_text("tiny-llm")
    assert "span=" in page.url
    shot(page, "trace")

    # the keyboard moves through the tree; a link with ?span= opens that span
    rows.nth(2).press("ArrowDown")
    expect(detail.locator(".span-title")).to_contain_text("lookup")
    page.reload()
    expect(page.locator(".span-detail .span-title")).to_contain_text("lookup")
    # collapsing a span hides its children
    rows.nth(0).locator(".span-twisty").click()
    expect(page.locator(".span-row")).to_have_count(1)


def test_an_error_trace_marks_its_spans_and_shows_the_exception(page, traced):
    server, data = traced
    open_page(page, server, f"/experiments/{data.experiment_id}/traces/{data.error_trace}")
    rows = page.locator(".span-row.error")
    expect(rows).to_have_count(2)
    expect(page.locator(".page-header .badge")).to_have_text("error")
    select_span(page, "step")
    exception = page.locator(".span-detail .exception")
    expect(exception).to_contain_text("ValueError: tool broke on boom")
    exception.get_by_text("Stack trace").click()
    expect(exception.locator("pre")).to_contain_text("Traceback")
    shot(page, "trace-error")


def test_script_in_a_span_is_shown_as_text(page, traced):
    server, data = traced
    open_page(page, server, f"/experiments/{data.experiment_id}/traces?selectedTraceId={data.xss_trace}")  # the official UI's form
    select_span(page, "retrieve")
    expect(page.locator(".span-detail pre.value").first).to_contain_text(XSS)
    select_span(page, "answer")
    expect(page.locator(".span-detail pre.value").nth(1)).to_contain_text(f"It is {XSS}")
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__xss") is None
    # the trace's assessments: the feedback with its rationale and source, the expectation, the issue
    panel = page.locator("section.assessments")
    helpful = panel.locator("tr", has_text="helpful")
    expect(helpful).to_contain_text("feedback")
    expect(helpful).to_contain_text("true")
    expect(helpful).to_contain_text("clear and short")
    expect(helpful).to_contain_text("human: ada")
    expect(panel.locator("tr", has_text="expected")).to_contain_text("It is MLflow")
    issue = panel.locator("tr", has_text="iss-7")
    expect(issue.locator("td").nth(1)).to_have_text("issue")
    expect(issue).to_contain_text("Too terse")


def test_a_thousand_span_trace_draws_and_stays_responsive(page, traced):
    server, data = traced
    started = time.monotonic()
    open_page(page, server, f"/experiments/{data.experiment_id}/traces/{data.big_trace}")
    expect(page.locator(".span-row")).to_have_count(1000)
    drawn = time.monotonic() - started
    ms = page.evaluate("""() => {
        const t = performance.now();
        document.querySelectorAll('.span-row')[700].click();
        document.body.offsetHeight;
        return performance.now() - t;
    }""")
    expect(page.locator(".span-detail .span-title")).to_contain_text("step-233")  # 700 = the root + 3 * 233
    print(f"1,000-span trace: drawn in {drawn:.2f} s (with the request), a span selected in {ms:.0f} ms")
    assert ms < 500
    page.locator(".span-row").first.locator(".span-twisty").click()
    expect(page.locator(".span-row")).to_have_count(1)


# ---------------------------------------------------------------- runs

def test_a_run_lists_its_traces(page, traced):
    server, data = traced
    open_page(page, server, f"/experiments/{data.experiment_id}/runs/{data.run_id}")
    page.get_by_role("link", name="Traces", exact=True).click()
    assert trace_ids(page) == [data.error_trace, data.ok_trace]
    expect(page.locator("table.traces thead")).not_to_contain_text("Run")  # they are all this run's
    page.locator(f"tr[data-trace-id='{data.error_trace}'] a.trace-link").click()
    expect(page.locator(".span-row")).to_have_count(2)


def test_an_evaluation_run_shows_its_traces_with_their_scores(page, traced):
    server, data = traced
    # the link mlflow.genai.evaluate prints
    open_page(page, server, f"/experiments/{data.eval_experiment_id}/evaluation-runs?selectedRunUuid={data.eval_run_id}")
    rows = table_ready(page)
    expect(rows).to_have_count(2)
    headers = page.locator("table.traces thead th").all_inner_texts()
    assert [h.lower() for h in headers[-2:]] == ["concise", "length"]
    short = page.locator("tr", has=page.locator("td.preview", has_text=re.compile("^ABC$")))
    expect(short.locator("td").nth(-2)).to_have_text("true")
    expect(short.locator("td").nth(-1)).to_have_text("3")
    long = page.locator("tr", has=page.locator("td.preview", has_text=re.compile("^A LONGER ONE$")))
    expect(long.locator("td").nth(-2)).to_have_text("false")
    expect(long.locator("td").nth(-1)).to_have_text("12")
    expect(page.locator("table.traces tfoot")).to_contain_text("50% pass")
    expect(page.locator("table.traces tfoot")).to_contain_text("mean 7.5")
    shot(page, "evaluation-run")
