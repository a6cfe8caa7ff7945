"""Train a weather classifier on Seattle's daily weather (vega-datasets) with scikit-learn.

Logs with the unchanged `mlflow` client: when mloop launches this script it points
MLFLOW_TRACKING_URI at its own store, so nothing here is mloop-specific.
"""
import argparse
import json
import os
import pickle

import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

FEATURES = ["precipitation", "temp_max", "temp_min", "wind", "month"]


def load(path: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(path, parse_dates=["date"])
    frame["month"] = frame["date"].dt.month
    return frame[FEATURES], frame["weather"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/seattle-weather.csv")
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--max-depth", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="model.pkl")
    args = parser.parse_args()

    x, y = load(args.data)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=args.seed, stratify=y)
    model = RandomForestClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed)

    tracking = bool(os.environ.get("MLFLOW_TRACKING_URI"))
    if tracking:
        import mlflow

        mlflow.start_run()
        mlflow.log_params({"n_estimators": args.n_estimators, "max_depth": args.max_depth, "seed": args.seed})

    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
    }
    with open(args.out, "wb") as f:
        pickle.dump(model, f)
    with open("metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    print(json.dumps(metrics))

    if tracking:
        mlflow.log_metrics(metrics)
        mlflow.end_run()


if __name__ == "__main__":
    main()
