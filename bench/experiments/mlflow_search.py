"""MLflow's side of the Experiments Table benchmark (bench/experiments/tableBench.ts runs it).

`make <db> <runs>`: an MLflow sqlite store made by the real client (schema, one experiment), then <runs>
runs of 20 params and 40 metrics written into MLflow's own tables (runs, params, tags, latest_metrics — what
search_runs reads; no metric history): creating 100,000 runs through the client would take hours and is not what is
measured. Values are a pure function of (run, key), so the mloop side can hold the same runs.

`growth <dir> <runs> [<runs> …]`: for each size, a store made as by `make` (kept in <dir> and reused), then one
search_runs of each of the table bench's searches, printed as JSON lines with wall and CPU time and the load: how
MLflow's time grows with the number of runs (at 100,000 its metric-ordered search did not return in 57 minutes).

`serve <db>`: reads one JSON search per stdin line ({"filter", "order_by", "max_results"}), answers with
the real client's `search_runs` wall and CPU time and the first run names, one JSON line each.
"""

import json
import os
import sqlite3
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow.tracking import MlflowClient  # noqa: E402

PARAMS = 20
METRICS = 40
T0 = 1_700_000_000_000


def param_value(n: int, k: int) -> str:
    return f"v{(n * (k + 3) + k) % 10}"


def metric_value(n: int, k: int) -> float:
    # a deterministic spread in [0, 1) with few ties
    return ((n * 7919 + k * 104729) % 100_003) / 100_003


def make(db_path: str, runs: int) -> None:
    client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
    experiment_id = client.create_experiment("bench", artifact_location=os.path.join(os.path.dirname(db_path), "artifacts"))
    template = client.create_run(experiment_id).info.run_id
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    row = dict(db.execute("SELECT * FROM runs WHERE run_uuid = ?", (template,)).fetchone())
    db.execute("DELETE FROM tags WHERE run_uuid = ?", (template,))
    db.execute("DELETE FROM runs WHERE run_uuid = ?", (template,))
    db.commit()
    columns = list(row)
    insert_run = f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA journal_mode = MEMORY")
    run_id = lambda n: f"{n:032x}"  # noqa: E731

    def run_rows():
        for n in range(runs):
            start = T0 + n * 1000
            values = dict(row, run_uuid=run_id(n), name=f"run-{n:06d}", experiment_id=int(experiment_id), start_time=start, end_time=start + 500, status="FINISHED")
            yield [values[c] for c in columns]

    with db:
        db.executemany(insert_run, run_rows())
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", ((f"p{k}", param_value(n, k), run_id(n)) for n in range(runs) for k in range(PARAMS)))
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?)", ((f"run-{n:06d}", run_id(n)) for n in range(runs)))
        # latest values only: search_runs filters, orders and returns metrics from latest_metrics
        db.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, 0, 0)",
            ((f"m{k}", metric_value(n, k), T0 + n * 1000, run_id(n)) for n in range(runs) for k in range(METRICS)),
        )
    db.close()
    print(json.dumps({"experiment_id": experiment_id}))


def serve(db_path: str) -> None:
    import mlflow

    client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
    experiment_id = client.get_experiment_by_name("bench").experiment_id
    print(json.dumps({"ready": True, "mlflow": mlflow.__version__}), flush=True)
    for line in sys.stdin:
        search = json.loads(line)
        wall = time.perf_counter()
        cpu = time.process_time()
        runs = client.search_runs([experiment_id], filter_string=search["filter"], order_by=search["order_by"] or None, max_results=search["max_results"])
        cpu_ms = (time.process_time() - cpu) * 1000
        wall_ms = (time.perf_counter() - wall) * 1000
        print(json.dumps({"wallMs": wall_ms, "cpuMs": cpu_ms, "count": len(runs), "first": [r.info.run_name for r in runs[:5]]}), flush=True)


SEARCHES = [
    ("", ["metrics.m3 DESC"]),
    ("metrics.m0 > 0.5 and params.p1 = 'v3'", ["metrics.m1 DESC"]),
    ("params.p3 LIKE 'v1%'", None),
    ("", ["params.p4", "metrics.m7 DESC"]),
]


def growth(folder: str, sizes: list[int]) -> None:
    os.makedirs(folder, exist_ok=True)
    for runs in sizes:
        db_path = os.path.join(folder, f"mlflow-{runs}.db")
        if not os.path.exists(db_path):
            make(db_path, runs)
        client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
        experiment_id = client.get_experiment_by_name("bench").experiment_id
        # MLOOP_BENCH_SEARCHES=1,2: only those searches (0-based, in that order), e.g. the quick ones first and the
        # quadratic metric order alone under a time limit of its own
        only = os.environ.get("MLOOP_BENCH_SEARCHES")
        chosen = [SEARCHES[int(i)] for i in only.split(",")] if only else SEARCHES
        for filter_string, order_by in chosen:
            wall = time.perf_counter()
            cpu = time.process_time()
            found = client.search_runs([experiment_id], filter_string=filter_string, order_by=order_by, max_results=100)
            print(json.dumps({
                "runs": runs, "filter": filter_string, "order_by": order_by, "count": len(found),
                "wallMs": round((time.perf_counter() - wall) * 1000), "cpuMs": round((time.process_time() - cpu) * 1000),
                "load": round(os.getloadavg()[0], 1),
            }), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "growth":
        growth(sys.argv[2], [int(n) for n in sys.argv[3:]])
    else:
        serve(sys.argv[2])
