#!/usr/bin/env python3
"""The query plans of scale.py's searches on a seeded database, as our store runs them.

    .venv/bin/python bench/plans.py postgresql://postgres@127.0.0.1:5432/bench_ours_1234abcd
    .venv/bin/python bench/plans.py sqlite:////tmp/mlflow-bench-ours-x/mlflow.db [--max-results 1000]

It runs the filtered search of scale.py (and the page after it) in-process through the
server's store, on the experiment with the most runs, and prints each SELECT it sends with the
database's plan for it, taken in the same transaction (so with the same SET LOCAL settings):
EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite, EXPLAIN on MySQL. Use the server's
venv (.venv): it imports the app.
"""

import argparse
import os
import sys

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app.config import database_url  # noqa: E402
from app.services.search import parse_filter, parse_order_by  # noqa: E402
from app.store.db import Database, make_engine  # noqa: E402
from app.store.tracking import TrackingStore  # noqa: E402
from scale import FILTER, ORDER_BY  # noqa: E402

WIDTH = 160  # plan lines are cut there: PostgreSQL prints a page's run ids in full
EXPLAIN = {"postgresql": "EXPLAIN (ANALYZE, BUFFERS) ", "sqlite": "EXPLAIN QUERY PLAN ", "mysql": "EXPLAIN "}


def explain_selects(engine) -> list:
    """Collects (statement, plan rows) of every SELECT the engine runs."""
    seen = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def explain(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("SELECT"):
            return
        plan_cursor = conn.connection.dbapi_connection.cursor()  # same transaction, same settings
        plan_cursor.execute(EXPLAIN[engine.dialect.name] + statement, parameters)
        seen.append((statement, plan_cursor.fetchall()))
        plan_cursor.close()
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("uri", help="a database seeded by scale.py (kept with --keep-data)")
    parser.add_argument("--max-results", type=int, default=100)
    args = parser.parse_args()
    engine = make_engine(database_url(args.uri, "uri"))
    with engine.connect() as conn:
        experiment = conn.execute(sa.text(
            "SELECT experiment_id FROM runs GROUP BY experiment_id ORDER BY count(*) DESC LIMIT 1")).scalar()
    store = TrackingStore(Database(engine))
    seen = explain_selects(engine)
    token = None
    for page in ("first page", "next page"):
        seen.clear()
        runs, token = store.search_runs([experiment], parse_filter(FILTER), "ACTIVE_ONLY", args.max_results,
                                        parse_order_by(ORDER_BY), token)
        print(f"=== {page}: {len(runs)} runs, filter {FILTER!r}, order_by {ORDER_BY}, "
              f"max_results {args.max_results}, experiment {experiment} ({engine.dialect.name})\n")
        for statement, plan in seen:
            print(statement.strip(), "\n")
            lines = (" | ".join(str(column) for column in row) for row in plan)
            print("\n".join(line if len(line) <= WIDTH else line[:WIDTH] + " ..." for line in lines), "\n")
        if not token:
            break


if __name__ == "__main__":
    main()
