"""The real `mlflow` client's registry calls against an mloop endpoint (test/unit/registry.mlflow.test.ts).

`python registry_client.py register` trains a small model on seattle-weather, logs it, registers it
with mlflow.register_model and sets the alias "challenger"; `python registry_client.py champion <name>
<version>` tries to make a version champion and reports whether the server refused. Prints JSON.
"""

import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402


def register() -> dict:
    frame = pd.read_csv(sys.argv[2])
    x = frame[["precipitation", "temp_max", "temp_min", "wind"]]
    y = frame["weather"]
    mlflow.set_experiment("registry-compat")
    with mlflow.start_run(run_name="registry-run") as run:
        model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
        mlflow.log_metric("accuracy", float((model.predict(x) == y).mean()))
        info = mlflow.sklearn.log_model(model, name="model", input_example=x.head(3), pip_requirements=["scikit-learn"], serialization_format="cloudpickle")
    version = mlflow.register_model(info.model_uri, "weather-rm")
    client = MlflowClient()
    client.set_registered_model_alias("weather-rm", "challenger", version.version)
    return {
        "run_id": run.info.run_id,
        "model_id": info.model_id,
        "version": version.version,
        "aliases": dict(client.get_registered_model("weather-rm").aliases),
        "by_alias": client.get_model_version_by_alias("weather-rm", "challenger").version,
    }


def champion() -> dict:
    try:
        MlflowClient().set_registered_model_alias(sys.argv[2], "champion", sys.argv[3])
        return {"refused": False}
    except MlflowException as error:
        return {"refused": True, "code": error.error_code, "message": error.message}


if __name__ == "__main__":
    try:
        print(json.dumps(register() if sys.argv[1] == "register" else champion()))
    except Exception as error:  # the test prints the reason
        print(json.dumps({"error": repr(error)}))
        sys.exit(1)
