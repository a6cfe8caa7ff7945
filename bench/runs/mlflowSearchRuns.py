"""MLflow's side of the Runs tree benchmark (bench/runs/runsTreeBench.ts runs it).

Creates EXPERIMENTS experiments with the real MLflow client on a sqlite tracking store, then the same
10,000 runs the mloop side holds (RUNS_PER_EXPERIMENT each: 5 params, a `loss` and an `acc` metric of
POINTS points) by copying a run the client created into MLflow's own tables (creating 10,000 runs
through the client would take many minutes and is not what is measured). Then times what opening an
experiment costs in MLflow: the real client's `search_runs` for one experiment, newest first, one page
of PAGE runs (MLflow's UI asks the same of the same store). Median of RUNS calls after one warm-up.

usage: python mlflowSearchRuns.py <dir> <experiments> <runs_per_experiment> <points> <page> <runs>
prints one JSON object on stdout.
"""

import json
import os
import sqlite3
import statistics
import sys
import time
import uuid

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow.tracking import MlflowClient  # noqa: E402


def main() -> None:
    directory = sys.argv[1]
    experiments, per_experiment, points, page, runs = (int(a) for a in sys.argv[2:7])
    db_path = os.path.join(directory, "mlflow.db")
    client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
    experiment_ids = [client.create_experiment(f"exp-{e:03d}", artifact_location=os.path.join(directory, "artifacts")) for e in range(experiments)]
    template = client.create_run(experiment_ids[0]).info.run_id

    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    row = dict(db.execute("SELECT * FROM runs WHERE run_uuid = ?", (template,)).fetchone())
    db.execute("DELETE FROM tags WHERE run_uuid = ?", (template,))
    db.execute("DELETE FROM runs WHERE run_uuid = ?", (template,))
    columns = list(row)
    t0 = 1_700_000_000_000
    with db:
        n = 0
        for e, experiment_id in enumerate(experiment_ids):
            for r in range(per_experiment):
                run_id = uuid.uuid4().hex
                start = t0 + n * 1000
                values = dict(row, run_uuid=run_id, name=f"run-{n:05d}", experiment_id=int(experiment_id), start_time=start, end_time=start + 500, status="FINISHED")
                db.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", [values[c] for c in columns])
                db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", [(f"p{k}", str(n * k), run_id) for k in range(5)])
                db.execute("INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?)", (f"run-{n:05d}", run_id))
                for key in ("loss", "acc"):
                    rows = [(key, 1.0 / (s + 1) if key == "loss" else s / points, start + s, run_id, s, 0) for s in range(points)]
                    db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", rows)
                    last = rows[-1]
                    db.execute("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, 0, ?)", (key, last[1], last[2], last[4], run_id))
                n += 1
    db.close()

    def open_experiment(experiment_id: str) -> int:
        found = client.search_runs([experiment_id], max_results=page, order_by=["attributes.start_time DESC"])
        return len(found)

    expected = min(page, per_experiment)
    open_experiment(experiment_ids[0])
    timings = []
    for i in range(runs):
        experiment_id = experiment_ids[(i * 37) % len(experiment_ids)]
        started = time.perf_counter()
        count = open_experiment(experiment_id)
        timings.append((time.perf_counter() - started) * 1000)
        if count != expected:
            raise SystemExit(f"search_runs returned {count} runs of {expected}")
    import mlflow

    print(json.dumps({"mlflow": mlflow.__version__, "medianMs": statistics.median(timings), "allMs": timings}))


if __name__ == "__main__":
    main()
