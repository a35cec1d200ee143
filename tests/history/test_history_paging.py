"""metrics/get-history paged with max_results and page_token over a long history: every point
exactly once and in order (timestamp, step, value), also with many ties on the timestamp and
while the run keeps logging."""
from __future__ import annotations

import math
import threading

import pytest
from conftest import unique
from history_support import (
    Api,
    assert_error,
    history_page,
    log_points,
    raw_experiment,
    raw_run,
)

TOTAL = 30_500


def history_points(points):
    """The official order of get-history: timestamp, then step, then value."""
    return sorted(points, key=lambda p: (p[1], p[0], p[2]))


@pytest.fixture(scope="module")
def long_run(server):
    """30,500 points, 100 per timestamp, steps not following the timestamps, a few NaNs."""
    api = Api(server)
    run = raw_run(api, raw_experiment(api, unique("paging")))
    points = [((i * 7919) % TOTAL, 1_000_000 + i // 100, float("nan") if i % 5000 == 1 else i / 4)
              for i in range(TOTAL)]
    log_points(api, run, "loss", points)
    return run, points


def key_of(m):
    value = float(m["value"])
    return (int(m.get("step", 0)), int(m["timestamp"]), "NaN" if math.isnan(value) else value)


def expected(points):
    return [(s, t, "NaN" if math.isnan(v) else v) for s, t, v in history_points(points)]


def read_pages(api, run_id, key, page_size, during=None):
    """All pages; `during(page_number)` runs after each page. Returns (points, page sizes)."""
    seen, sizes, token = [], [], None
    for page_number in range(10_000):
        body = history_page(api, run_id, key, max_results=page_size, page_token=token)
        metrics = body.get("metrics", [])
        assert all(m["key"] == key for m in metrics)
        seen.extend(key_of(m) for m in metrics)
        sizes.append(len(metrics))
        token = body.get("next_page_token")
        if during:
            during(page_number)
        if not token:
            return seen, sizes
    raise AssertionError("paging does not end")


@pytest.mark.parametrize("page_size", [997, 5000, 25000])
def test_pages_return_every_point_once_in_order(api, long_run, page_size):
    run, points = long_run
    seen, sizes = read_pages(api, run, "loss", page_size)
    assert len(seen) == TOTAL
    assert seen == expected(points)
    # full pages until the last, no empty page at the end
    pages = math.ceil(TOTAL / page_size)
    assert sizes == [page_size] * (pages - 1) + [TOTAL - page_size * (pages - 1)]


def test_unpaged_request_returns_everything(api, long_run):
    run, points = long_run
    body = history_page(api, run, "loss")
    assert [key_of(m) for m in body["metrics"]] == expected(points)
    assert not body.get("next_page_token")


def test_client_reads_the_whole_history(client, long_run):
    """MlflowClient.get_metric_history pages with max_results=25000 under the hood."""
    run, points = long_run
    got = client.get_metric_history(run, "loss")
    assert [(m.step, m.timestamp, "NaN" if math.isnan(m.value) else m.value) for m in got] == expected(points)


def test_points_logged_while_paging_do_not_repeat_earlier_points(api):
    """A live run: while a reader pages through the history, the trainer keeps logging newer
    points. Every point that existed at the start comes exactly once and in order; new points
    appear at most once, after them."""
    run = raw_run(api, raw_experiment(api, unique("paging-live")))
    old = [(i, 2_000_000 + i // 10, float(i)) for i in range(30_000)]
    log_points(api, run, "acc", old)
    new_step = [30_000]
    lock = threading.Lock()

    def log_more(page_number):
        with lock:
            fresh = [(new_step[0] + j, 3_000_000 + new_step[0] + j, -1.0) for j in range(50)]
            new_step[0] += 50
        log_points(api, run, "acc", fresh)

    seen, _ = read_pages(api, run, "acc", 1000, during=log_more)
    assert len(seen) == len(set(seen)), "a point came twice"
    assert seen[:len(old)] == expected(old)
    extra = seen[len(old):]
    assert all(s >= 30_000 and v == -1.0 for s, _, v in extra)
    assert extra == sorted(extra, key=lambda p: (p[1], p[0]))
    assert len(extra) >= 50  # at least the first page's additions were still ahead of the reader


def test_points_logged_behind_the_reader_do_not_repeat_points(api):
    """Points that sort before the reader's position (older timestamps, as when several
    writers with skewed clocks or a backfill log to one run) must not shift the pages: no
    point comes twice and none of the original points is skipped. (The official server pages
    by offset, so each such point makes the previous page's last point come again.)"""
    run = raw_run(api, raw_experiment(api, unique("paging-behind")))
    old = [(i, 5_000_000 + i // 3, float(i)) for i in range(30_000)]
    log_points(api, run, "m", old)
    backfilled = []

    def log_behind(page_number):
        # before the first point, and between points already read
        fresh = [(-1 - page_number, 1_000 + page_number, 0.25),
                 (100_000 + page_number, 5_000_000 + page_number, 0.75)]
        backfilled.extend(fresh)
        log_points(api, run, "m", fresh)

    seen, _ = read_pages(api, run, "m", 1000, during=log_behind)
    assert len(seen) == len(set(seen)), "a point came twice"
    old_keys = set(expected(old))
    assert [p for p in seen if p in old_keys] == expected(old)
    assert set(seen) - old_keys <= set(expected(backfilled))


def test_concurrent_writer_thread_while_paging(server, api):
    """Same story with a writer running in another thread for the whole read."""
    run = raw_run(api, raw_experiment(api, unique("paging-thread")))
    old = [(i, 4_000_000 + i // 7, float(i) / 3) for i in range(30_000)]
    log_points(api, run, "m", old)
    stop = threading.Event()
    errors = []

    def writer():
        writer_api = Api(server)
        step = 30_000
        while not stop.is_set():
            try:
                log_points(writer_api, run, "m", [(step + j, 9_000_000 + step + j, 0.5) for j in range(100)])
            except AssertionError as error:
                errors.append(error)
                return
            step += 100

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen, _ = read_pages(api, run, "m", 2500)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert len(seen) == len(set(seen)), "a point came twice"
    assert seen[:len(old)] == expected(old)
    assert all(s >= 30_000 for s, _, _ in seen[len(old):])


def test_max_results_zero_or_negative_is_400(api, long_run):
    run, _ = long_run
    for bad in (0, -1):
        resp = api.get("metrics/get-history", params={"run_id": run, "metric_key": "loss", "max_results": bad})
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_page_token_of_another_size_continues_at_its_offset(api, long_run):
    """A token marks a position: reading on with another page size neither skips nor repeats."""
    run, points = long_run
    first = history_page(api, run, "loss", max_results=1234)
    second = history_page(api, run, "loss", max_results=777, page_token=first["next_page_token"])
    seen = [key_of(m) for m in first["metrics"] + second["metrics"]]
    assert seen == expected(points)[:1234 + 777]
