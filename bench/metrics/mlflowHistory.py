"""MLflow's side of the metric-history benchmark (bench/metrics/historyBench.ts runs it).

Creates a run with the real MLflow client on a sqlite tracking store, writes the same 1M `loss`
points the mloop side holds straight into MLflow's own `metrics` table (logging them through the
client would take minutes and is not what is measured here), then times the real client's
`get_metric_history` for that key: median of RUNS calls (each checked: every point, the spike).

usage: python mlflowHistory.py <dir> <points> <spike_step> <t0> <runs>
prints one JSON object on stdout.
"""

import json
import math
import os
import sqlite3
import statistics
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow.tracking import MlflowClient  # noqa: E402


def main() -> None:
    directory, points, spike, t0, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    db_path = os.path.join(directory, "mlflow.db")
    client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
    experiment_id = client.create_experiment("bench", artifact_location=os.path.join(directory, "artifacts"))
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "loss", 1.0, timestamp=t0, step=0)  # creates latest_metrics through MLflow itself

    def values():
        for i in range(1, points):
            value = math.exp(-i / points) + (50 if i == spike else math.sin(i) * 0.01)
            yield ("loss", value, t0 + i, run_id, i, 0)

    db = sqlite3.connect(db_path)
    with db:
        db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", values())
    db.close()

    timings = []
    for _ in range(runs):  # no warm-up call: one call takes minutes, and every call is checked
        started = time.perf_counter()
        history = client.get_metric_history(run_id, "loss")
        timings.append((time.perf_counter() - started) * 1000)
        if len(history) != points or max(m.value for m in history) != 50 + math.exp(-spike / points):
            raise SystemExit(f"mlflow returned {len(history)} points of {points}, or lost the spike")
    import mlflow

    print(json.dumps({"mlflow": mlflow.__version__, "points": points, "medianMs": statistics.median(timings), "allMs": timings}))


if __name__ == "__main__":
    main()
