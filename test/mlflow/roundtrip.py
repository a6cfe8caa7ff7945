"""Drives the real `mlflow` client against an mloop tracking endpoint and prints what it saw as JSON.

The mocha test (test/unit/tracking.mlflow.test.ts) starts the endpoint, runs this script with
MLFLOW_TRACKING_URI / MLFLOW_TRACKING_TOKEN set, and compares the printed values with the store.
"""

import json
import math
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


def main() -> None:
    client = MlflowClient()
    out: dict = {"mlflow_version": mlflow.__version__}

    mlflow.set_experiment("weather-compat")
    with mlflow.start_run(run_name="compat-run") as run:
        run_id = run.info.run_id
        out["run_id"] = run_id
        out["experiment_id"] = run.info.experiment_id
        out["artifact_uri"] = run.info.artifact_uri

        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"solver": "lbfgs", "max_iter": 200, "unicode_ключ": "значение"})
        for step, loss in enumerate([0.9, 0.5, 0.25]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_metrics({"accuracy": 0.875, "f1": 0.8125}, step=3)
        mlflow.log_metric("weird", float("nan"), step=0)
        mlflow.log_metric("weird", float("inf"), step=1)
        client.log_batch(
            run_id,
            metrics=[Metric("batch_metric", float(i) / 4, 1_700_000_000_000 + i, i) for i in range(5)],
            params=[Param("batch_param", "b")],
            tags=[RunTag("batch_tag", "t")],
        )
        mlflow.set_tags({"team": "forecast", "stage": "dev"})

        frame = pd.DataFrame({"temp_max": [12.8, 10.6, 11.7], "weather": ["rain", "sun", "fog"]})
        dataset = mlflow.data.from_pandas(frame, source="data/seattle-weather.csv", name="seattle-weather")
        mlflow.log_input(dataset, context="training")
        out["dataset_digest"] = dataset.digest

        with tempfile.TemporaryDirectory() as tmp:
            single = os.path.join(tmp, "notes.txt")
            with open(single, "w", encoding="utf-8") as f:
                f.write("hello artifacts\n")
            mlflow.log_artifact(single)
            folder = os.path.join(tmp, "plots")
            os.makedirs(os.path.join(folder, "nested"))
            with open(os.path.join(folder, "a.csv"), "w", encoding="utf-8") as f:
                f.write("x,y\n1,2\n")
            with open(os.path.join(folder, "nested", "b.json"), "w", encoding="utf-8") as f:
                f.write('{"b": 1}')
            mlflow.log_artifacts(folder, artifact_path="plots")

        x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.2, 0.8]])
        y = np.array([0, 1, 0, 1, 0, 0])
        fitted = LogisticRegression(max_iter=200).fit(x, y)
        # pip_requirements given: skips the slow inference subprocess that imports the model again
        info = mlflow.sklearn.log_model(
            fitted, name="model", registered_model_name="weather-clf", input_example=x[:2], pip_requirements=["scikit-learn"]
        )
        out["model_id"] = info.model_id
        out["model_uri"] = info.model_uri
        out["registered_version"] = str(info.registered_model_version)
        out["expected_predictions"] = fitted.predict(x).tolist()

    # After the run: read everything back through the client.
    fetched = client.get_run(run_id)
    out["status"] = fetched.info.status
    out["params"] = fetched.data.params
    out["tags"] = {k: v for k, v in fetched.data.tags.items()}

    def enc(v: float):
        return str(v) if math.isnan(v) or math.isinf(v) else v

    out["metrics"] = {k: enc(v) for k, v in fetched.data.metrics.items()}
    out["inputs"] = [[d.dataset.name, d.dataset.digest, d.dataset.source_type, [t.value for t in d.tags]] for d in fetched.inputs.dataset_inputs]
    out["loss_history"] = [[m.step, m.value] for m in client.get_metric_history(run_id, "loss")]
    out["weird_history"] = [[m.step, enc(m.value)] for m in client.get_metric_history(run_id, "weird")]
    out["batch_history"] = [[m.step, m.timestamp, m.value] for m in client.get_metric_history(run_id, "batch_metric")]
    out["artifacts_root"] = sorted((a.path, a.is_dir) for a in client.list_artifacts(run_id))
    out["artifacts_plots"] = sorted((a.path, a.is_dir, a.file_size) for a in client.list_artifacts(run_id, "plots"))
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, "notes.txt", tmp)
        with open(local, encoding="utf-8") as f:
            out["downloaded_notes"] = f.read()

    # A second run so that the filter has something to exclude.
    with mlflow.start_run(run_name="other-run"):
        mlflow.log_param("alpha", 0.1)
        mlflow.log_metric("accuracy", 0.5)

    experiment_id = out["experiment_id"]
    found = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string="metrics.accuracy > 0.8 and params.solver = 'lbfgs' and tags.team = 'forecast' and attributes.status = 'FINISHED'",
        output_format="list",
    )
    out["search_filtered"] = [r.info.run_id for r in found]
    ordered = client.search_runs([experiment_id], order_by=["metrics.accuracy ASC"], max_results=1)
    out["search_ordered_first"] = ordered[0].info.run_name
    out["search_ordered_has_next_page"] = bool(ordered.token)
    page2 = client.search_runs([experiment_id], order_by=["metrics.accuracy ASC"], max_results=1, page_token=ordered.token)
    out["search_ordered_second"] = page2[0].info.run_name
    out["search_like"] = [r.info.run_name for r in client.search_runs([experiment_id], filter_string="attributes.run_name LIKE 'compat%'")]

    # Registry: alias round trip.
    client.set_registered_model_alias("weather-clf", "champion", out["registered_version"])
    by_alias = client.get_model_version_by_alias("weather-clf", "champion")
    out["alias_version"] = by_alias.version
    out["alias_run_id"] = by_alias.run_id
    out["alias_source"] = by_alias.source
    latest = client.get_latest_versions("weather-clf")
    out["latest_versions"] = [v.version for v in latest]
    out["registered_aliases"] = dict(client.get_registered_model("weather-clf").aliases)

    # The registered model loads back through the artifact proxy and predicts the same.
    loaded = mlflow.sklearn.load_model("models:/weather-clf@champion")
    out["loaded_predictions"] = loaded.predict(np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.2, 0.8]])).tolist()

    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # report the failure as JSON so the test shows the client's message
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        sys.exit(1)
