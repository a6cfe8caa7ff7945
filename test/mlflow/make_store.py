"""Writes an MLflow store with the REAL mlflow client, then reports what the client reads back from it.

usage: make_store.py <tracking-uri> [--more <run-id>]
  <tracking-uri>  sqlite:////abs/mlflow.db or file:///abs/mlruns
  --more RUN      only append 3 points of metric "loss" to RUN (to test re-import of a changed run)

Prints one JSON line: counts read back through MlflowClient (the independent side of the import tests)
and a few histories and values to compare point by point.
"""
import json
import math
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: E402


def enc(v):
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def build(client):
    exp_a = client.create_experiment("weather-a", tags={"team": "forecast", "note": "ä ünïcode"})
    exp_b = client.create_experiment("weather-b")
    run_ids = []
    for i, (exp, status) in enumerate([(exp_a, "FINISHED"), (exp_a, "FAILED"), (exp_b, "FINISHED"), (exp_b, "KILLED")]):
        run = client.create_run(exp, run_name=f"run-{i}", tags={"fold": str(i)})
        rid = run.info.run_id
        client.log_batch(
            rid,
            params=[Param("lr", str(0.1 * (i + 1))), Param("layers", str(i + 2)), Param("nested/key", "v")],
            tags=[RunTag("mlflow.source.git.commit", "abc123" + str(i))],
        )
        base = 1_795_000_000_000 + i * 10_000
        points = [Metric("loss", 1.0 / (s + 1) + i, base + s, s) for s in range(300 + i)]
        points += [Metric("acc", 0.5 + s / 1000, base + s, s) for s in range(50)]
        points += [Metric("eval/auc", 0.8, base, 0)]
        for k in range(0, len(points), 1000):
            client.log_batch(rid, metrics=points[k : k + 1000])
        client.log_metric(rid, "weird", float("nan"), timestamp=base, step=0)
        client.log_metric(rid, "weird", float("inf"), timestamp=base + 1, step=1)
        client.log_metric(rid, "weird", -1e-300, timestamp=base + 2, step=2)
        client.set_terminated(rid, status=status, end_time=base + 5000)
        run_ids.append(rid)
    # a deleted run is still part of the store
    deleted = client.create_run(exp_b, run_name="deleted-run")
    client.log_param(deleted.info.run_id, "p", "1")
    client.set_terminated(deleted.info.run_id)
    client.delete_run(deleted.info.run_id)
    run_ids.append(deleted.info.run_id)

    client.create_registered_model("weather-clf", tags={"owner": "ml"}, description="rain or not")
    for rid in run_ids[:3]:
        client.create_model_version("weather-clf", f"runs:/{rid}/model", run_id=rid, tags={"src": rid[:6]})
    client.set_registered_model_alias("weather-clf", "champion", "2")
    client.set_registered_model_alias("weather-clf", "challenger", "3")
    client.create_registered_model("empty-model")
    return run_ids


def report(client):
    counts = dict(experiments=0, runs=0, params=0, tags=0, metricPoints=0, models=0, modelVersions=0, aliases=0)
    runs = {}
    for exp in client.search_experiments(view_type=ViewType.ALL):
        counts["experiments"] += 1
        for run in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=10000):
            counts["runs"] += 1
            counts["params"] += len(run.data.params)
            counts["tags"] += len(run.data.tags)
            n = 0
            for key in run.data.metrics:
                n += len(client.get_metric_history(run.info.run_id, key))
            counts["metricPoints"] += n
            runs[run.info.run_id] = dict(
                name=run.info.run_name,
                status=run.info.status,
                experiment=exp.name,
                lifecycle=run.info.lifecycle_stage,
                params=run.data.params,
                latest={k: enc(v) for k, v in run.data.metrics.items()},
                points=n,
            )
    models = {}
    for m in client.search_registered_models():
        counts["models"] += 1
        versions = client.search_model_versions(f"name='{m.name}'")
        counts["modelVersions"] += len(versions)
        counts["aliases"] += len(m.aliases)
        models[m.name] = dict(aliases={a: int(v) for a, v in m.aliases.items()}, versions={int(v.version): v.run_id for v in versions})
    first = next(r for r in runs if runs[r]["name"] == "run-0")
    history = {
        key: [[p.step, p.timestamp, enc(p.value)] for p in client.get_metric_history(first, key)]
        for key in ("loss", "weird")
    }
    return dict(mlflow_version=mlflow.__version__, counts=counts, runs=runs, models=models, history_run=first, history=history)


def main():
    uri = sys.argv[1]
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    if len(sys.argv) > 3 and sys.argv[2] == "--more":
        rid = sys.argv[3]
        client.log_batch(rid, metrics=[Metric("loss", 0.01 * s, 1_796_000_000_000 + s, 1000 + s) for s in range(3)])
    else:
        build(client)
    print(json.dumps(report(client)))


if __name__ == "__main__":
    main()
