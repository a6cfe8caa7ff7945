"""Independent reference for mloop's performance from late labels: scikit-learn on the same joined data.

Usage: python3 performance_reference.py <seattle-weather.csv> <out_dir>
Trains a LogisticRegression on 2012-2013 (classification) and a LinearRegression of temp_max (regression),
writes their 2014-2015 predictions (with class probabilities) and late labels into out_dir, joins them the
way the monitoring spec says (by id, the labels that arrived), and prints scikit-learn's metrics per month
and Wilson intervals from the closed form (statsmodels' proportion_confint(method='wilson') is the same formula).
"""
import json
import math
import sys
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]


def wilson(successes, n):
    z = norm.ppf(0.975)
    p = successes / n
    centre = 2 * n * p + z * z
    spread = z * math.sqrt(z * z + 4 * n * p * (1 - p))
    return (centre - spread) / (2 * (n + z * z)), (centre + spread) / (2 * (n + z * z))


def metrics(w, classes):
    y, yp, p = w["label"], w["predicted"], w[["proba_" + c for c in classes]].to_numpy()
    auc = roc_auc_score(y, p, multi_class="ovr", labels=classes) if y.nunique() == len(classes) else None
    correct = int((y == yp).sum())
    return {
        "n": len(w),
        "accuracy": accuracy_score(y, yp),
        "wilson": wilson(correct, len(w)),
        "precision_macro": precision_score(y, yp, average="macro", zero_division=0),
        "recall_macro": recall_score(y, yp, average="macro", zero_division=0),
        "f1_macro": f1_score(y, yp, average="macro", zero_division=0),
        "roc_auc": auc,
        "log_loss": log_loss(y, p, labels=classes),
    }


def main() -> None:
    warnings.filterwarnings("ignore")  # zero division and one-class windows are part of the cases
    source, out = sys.argv[1], sys.argv[2]
    data = pd.read_csv(source)
    data["id"] = ["w" + str(1000 + i) for i in range(len(data))]
    train = data[data["date"] < "2014-01-01"]
    live = data[data["date"] >= "2014-01-01"].reset_index(drop=True)

    clf = LogisticRegression(max_iter=2000).fit(train[FEATURES], train["weather"])
    classes = [str(c) for c in clf.classes_]
    proba = clf.predict_proba(live[FEATURES])
    predictions = pd.DataFrame({"id": live["id"], "date": live["date"], "predicted": clf.predict(live[FEATURES])})
    for k, c in enumerate(classes):
        predictions["proba_" + c] = proba[:, k]
    predictions.to_csv(f"{out}/predictions.csv", index=False)
    # late labels: none yet for December 2015 (an empty window), three ids that were never predicted
    arrived = live[live["date"] < "2015-12-01"]
    labels = pd.DataFrame({"id": list(arrived["id"]) + ["x1", "x2", "x3"], "label": list(arrived["weather"]) + ["sun", "rain", "sun"]})
    labels.to_csv(f"{out}/labels.csv", index=False)

    joined = predictions.merge(labels, on="id")
    windows = {}
    for month, w in joined.groupby(joined["date"].str.slice(0, 7)):
        windows[month + "-01"] = metrics(w, classes)

    reg = LinearRegression().fit(train[["precipitation", "temp_min", "wind"]], train["temp_max"])
    regression = pd.DataFrame({"id": live["id"], "date": live["date"], "predicted": reg.predict(live[["precipitation", "temp_min", "wind"]])})
    regression.to_csv(f"{out}/regression.csv", index=False)
    pd.DataFrame({"id": live["id"], "label": live["temp_max"]}).to_csv(f"{out}/regression_labels.csv", index=False)
    truth, predicted = live["temp_max"], regression["predicted"]
    json.dump(
        {
            "classes": classes,
            "windows": windows,
            "overall": metrics(joined, classes),
            "regression": {
                "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
                "mae": mean_absolute_error(truth, predicted),
                "r2": r2_score(truth, predicted),
            },
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
