"""Logs the same runs into several tracking URIs with the real `mlflow` client, then asks each for the
same searches with `mlflow.search_runs`, printing the run names found (or the error) as JSON.

test/unit/experiments.search.test.ts gives it an MLflow sqlite store (the reference) and mloop's tracking
endpoint, then compares both, and mloop's in-memory search, with the reference.
stdin: {"uris": [...], "base_time": ms, "runs": n, "searches": [{"filter": str, "order_by": [str]}]}
"""

import json
import math
import random
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402


def log_runs(client: MlflowClient, experiment_id: str, base_time: int, count: int) -> None:
    rng = random.Random(19)
    statuses = ["FINISHED", "FINISHED", "FAILED", "KILLED", "RUNNING"]
    for i in range(count):
        start = base_time + i * 1000
        tags = {"team": ["a", "ab", "Bc"][i % 3]} if i % 4 != 3 else {}
        if i % 2 == 0:
            tags["data.version"] = f"v{i % 3}"
        run = client.create_run(experiment_id, start_time=start, run_name=f"run-{i:02d}", tags=tags)
        run_id = run.info.run_id
        accuracy = round(rng.uniform(0.5, 1.0), 4)
        metrics = [Metric("accuracy", accuracy - 0.2, start, 0), Metric("accuracy", accuracy, start + 1, 1)]
        if i == 7:
            metrics.append(Metric("accuracy", math.nan, start + 2, 2))
        if i % 5 != 4:
            metrics.append(Metric("f1", round(rng.uniform(0.2, 0.9), 4), start, 0))
        metrics.append(Metric("loss", round(rng.uniform(0.1, 2.0), 4), start, 0))
        if i == 11:
            metrics = [m for m in metrics if m.key != "accuracy"]
        params = [
            Param("max_depth", ["4", "8", "16"][i % 3]),
            Param("model", ["tree", "Forest", "forest_big"][(i // 3) % 3]),
            Param("batch size", ["32", "64"][i % 2]),
        ]
        if i % 6 == 0:
            params.append(Param("opt", "adam"))
        client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("kind", "sweep")])
        status = statuses[i % len(statuses)]
        if status != "RUNNING":
            client.set_terminated(run_id, status=status, end_time=start + 500 + (i * 37) % 400)


def search(experiment_id: str, spec: dict) -> dict:
    try:
        runs = mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=spec.get("filter", ""),
            order_by=spec.get("order_by") or None,
            output_format="list",
            max_results=1000,
        )
        return {"names": [r.info.run_name for r in runs]}
    except Exception as error:  # noqa: BLE001 -- the test compares refusals too
        return {"error": str(error).splitlines()[0][:300]}


def main() -> None:
    request = json.load(sys.stdin)
    out: dict = {"mlflow_version": mlflow.__version__, "results": {}}
    out["seconds"] = {}
    for target in request["uris"]:
        started = time.perf_counter()
        mlflow.set_tracking_uri(target["uri"])
        client = MlflowClient()
        experiment_id = client.create_experiment("search")
        log_runs(client, experiment_id, request["base_time"], request["runs"])
        logged = time.perf_counter()
        out["results"][target["name"]] = [search(experiment_id, s) for s in request["searches"]]
        out["seconds"][target["name"]] = {"log": round(logged - started, 2), "search": round(time.perf_counter() - logged, 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
