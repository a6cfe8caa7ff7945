"""Builds a large MLflow SQLite store for the import benchmark, then times MLflow's own store reading it.

usage: make_big_store.py <db-path> <runs> <points-per-run>  |  make_big_store.py --read <db-path>
The schema and a first run come from the real MLflow client; the remaining runs' metric rows are copied in
bulk with sqlite3 (the client would take hours to log millions of points). Prints one JSON line with the
counts and the seconds MLflow's SqlAlchemyStore took to read every run and every metric history (the peer).
"""
import json, sqlite3, sys, time, uuid, os
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

def read_all(uri):
    """The peer: MLflow's own store layer reading every run and every metric history."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    store = SqlAlchemyStore(uri, "/tmp")
    t0 = time.perf_counter()
    points = 0
    exps = [e.experiment_id for e in store.search_experiments(view_type=mlflow.entities.ViewType.ALL)]
    for run in store.search_runs(exps, "", mlflow.entities.ViewType.ALL, max_results=50000):
        for key in run.data.metrics:
            points += len(store.get_metric_history(run.info.run_id, key))
    return points, time.perf_counter() - t0


if sys.argv[1] == "--read":
    points, seconds = read_all(f"sqlite:///{sys.argv[2]}")
    print(json.dumps({"points": points, "mlflow_read_s": seconds}))
    sys.exit(0)

path, runs, per_run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
uri = f"sqlite:///{path}"
client = MlflowClient(uri)
exp = client.create_experiment("bench")
first = client.create_run(exp, run_name="seed")
client.log_batch(first.info.run_id, metrics=[Metric("loss", 1.0, 0, 0)], params=[mlflow.entities.Param("lr", "0.1")])
client.set_terminated(first.info.run_id)

db = sqlite3.connect(path)
for r in range(runs):
    rid = uuid.uuid4().hex
    db.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', '', ?)", (rid, f"run-{r}", 1_700_000_000_000 + r, 1_700_000_000_500 + r, int(exp)))
    db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", [(f"p{i}", str(i), rid) for i in range(10)])
    db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", [(f"t{i}", str(i), rid) for i in range(5)])
    half = per_run // 2
    rows = [("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, rid, s, 0) for s in range(half)]
    rows += [("acc", s / per_run, 1_700_000_000_000 + s, rid, s, 0) for s in range(per_run - half)]
    db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)", [rows[half - 1][:3] + (rows[half - 1][4], 0, rid), rows[-1][:3] + (rows[-1][4], 0, rid)])
db.commit()
db.close()

points, peer = read_all(uri)
print(json.dumps({"runs": runs + 1, "points": points, "mlflow_read_s": peer}))
