"""Train the same weather classifier as train.py, reporting only through mloop's line protocol.

No tracking library: every param, metric, artifact and the model are `::mloop ...` lines on
stdout (see src/core/runs/LINE_PROTOCOL.md in the mloop repository). Any language can do this.
"""
import argparse
import json
import pickle

import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

FEATURES = ["precipitation", "temp_max", "temp_min", "wind", "month"]


def quote(value: object) -> str:
    """A protocol value: bare when it has no spaces or quotes, else "..." with \\ and " escaped."""
    text = str(value)
    if text and not any(c in text for c in ' \t"\\\n'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def report(kind: str, **fields: object) -> None:
    print("::mloop " + kind + "".join(f" {key}={quote(value)}" for key, value in fields.items()), flush=True)


def load(path: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(path, parse_dates=["date"])
    frame["month"] = frame["date"].dt.month
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

    for name, value in {"n_estimators": args.n_estimators, "max_depth": args.max_depth, "folds": args.folds, "seed": args.seed}.items():
        report("param", name=name, value=value)
    report("tag", name="model.family", value="random forest")

    x, y = load(args.data)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=args.seed, stratify=y)

    def forest() -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed)

    # cross-validation on the training part: one point per fold, so the chart shows the spread
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    for step, (fit_rows, check_rows) in enumerate(folds.split(x_train, y_train), start=1):
        model = forest().fit(x_train.iloc[fit_rows], y_train.iloc[fit_rows])
        predicted = model.predict(x_train.iloc[check_rows])
        report("metric", name="cv_accuracy", value=accuracy_score(y_train.iloc[check_rows], predicted), step=step)
        report("metric", name="cv_f1_macro", value=f1_score(y_train.iloc[check_rows], predicted, average="macro"), step=step)
        print(f"fold {step}/{args.folds} done")

    model = forest().fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
    }
    for name, value in metrics.items():
        report("metric", name=name, value=value)
    with open(args.out, "wb") as f:
        pickle.dump(model, f)
    with open("metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    report("artifact", path="metrics.json")
    report("model", name="weather-clf", path=args.out)
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
