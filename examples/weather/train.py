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
from sklearn.model_selection import StratifiedKFold, train_test_split

FEATURES = ["precipitation", "temp_max", "temp_min", "wind", "month"]


def load(path: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(path, parse_dates=["date"])
    # float, like every other input: an integer column makes MLflow's schema refuse a missing value at serving time
    frame["month"] = frame["date"].dt.month.astype("float64")
    return frame[FEATURES], frame["weather"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/seattle-weather.csv")
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--max-depth", type=int, default=8)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="model.pkl")
    args = parser.parse_args()

    x, y = load(args.data)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=args.seed, stratify=y)

    def forest() -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed)

    tracking = bool(os.environ.get("MLFLOW_TRACKING_URI"))
    if tracking:
        import mlflow
        import mlflow.sklearn

        mlflow.start_run()
        mlflow.log_params({"n_estimators": args.n_estimators, "max_depth": args.max_depth, "folds": args.folds, "seed": args.seed})

    # cross-validation on the training part: one point per fold (step), so the chart shows the spread
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    for step, (fit_rows, check_rows) in enumerate(folds.split(x_train, y_train), start=1):
        fold_model = forest().fit(x_train.iloc[fit_rows], y_train.iloc[fit_rows])
        fold_predicted = fold_model.predict(x_train.iloc[check_rows])
        fold_metrics = {
            "cv_accuracy": float(accuracy_score(y_train.iloc[check_rows], fold_predicted)),
            "cv_f1_macro": float(f1_score(y_train.iloc[check_rows], fold_predicted, average="macro")),
        }
        if tracking:
            mlflow.log_metrics(fold_metrics, step=step)
        print(f"fold {step}/{args.folds}: {json.dumps(fold_metrics)}")

    model = forest().fit(x_train, y_train)
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
        # skops, MLflow's recommended safe format (no pickle warning); a forest's trees are its one type to trust.
        # The signature and input example are given, so MLflow infers nothing and prints nothing.
        from mlflow.models import infer_signature

        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_test, predicted),
            input_example=x_test.head(5),
            serialization_format="skops",
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        mlflow.end_run()


if __name__ == "__main__":
    main()
