"""MLflow's side of the metric-history benchmark (bench/metrics/historyBench.ts runs it).

Creates a run with the real MLflow client on a sqlite tracking store, writes the same 1M `loss`
points the mloop side holds straight into MLflow's own `metrics` table (logging them through the
client would take minutes and is not what is measured here), prints {"ready": ...}, then answers one
line per request on stdin, so the caller can interleave MLflow's calls with mloop's run by run:
    bulk   -> time the store's get_metric_history_bulk_interval(max_results=2000): what MLflow's UI
              charts call (REST get-history-bulk-interval), minus the HTTP hop
    full   -> time the real client's get_metric_history (every point as an object)
Each answer is one JSON line: wall and CPU milliseconds of the call, points returned, spike kept.

usage: python mlflowHistory.py <dir> <points> <spike_step> <t0>
"""

import json
import math
import os
import sqlite3
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from mlflow.tracking._tracking_service.utils import _get_store  # noqa: E402


def main() -> None:
    directory, points, spike, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    db_path = os.path.join(directory, "mlflow.db")
    uri = f"sqlite:///{db_path}"
    client = MlflowClient(tracking_uri=uri)
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
    store = _get_store(uri)  # the SqlAlchemyStore the tracking server's handler calls
    spike_value = 50 + math.exp(-spike / points)
    print(json.dumps({"ready": True, "mlflow": mlflow.__version__}), flush=True)

    for line in sys.stdin:
        what = line.strip()
        wall, cpu = time.perf_counter(), time.process_time()
        if what == "bulk":
            got = [m.value for m in store.get_metric_history_bulk_interval(run_ids=[run_id], metric_key="loss", max_results=2000, start_step=None, end_step=None)]
        elif what == "full":
            got = [m.value for m in client.get_metric_history(run_id, "loss")]
        else:
            raise SystemExit(f"unknown request {what!r}")
        wall, cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
        if what == "full" and len(got) != points:
            raise SystemExit(f"mlflow returned {len(got)} points of {points}")
        print(json.dumps({"wallMs": wall, "cpuMs": cpu, "points": len(got), "spikeKept": max(got) == spike_value}), flush=True)


if __name__ == "__main__":
    main()
