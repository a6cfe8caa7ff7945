"""The peers of the monitoring benchmark (bench/monitoring/monitorBench.ts runs it), on the project make_data.py wrote.

Imports are done before it prints {"ready": ...}; then it answers one line per request on stdin, so the caller can
interleave the peers' work with mloop's run by run. Each answer is one JSON line: wall and CPU milliseconds
(time.process_time) of the work, and what it computed (to check the two sides did the same work).
    cbpe   -> read reference.csv and logs/predictions.csv with pandas (the columns CBPE needs), NannyML's CBPE
              fitted on the reference and estimating accuracy, precision, recall and F1 per calendar month
    cbpeCompute -> the same CBPE fit and estimate on frames read (with the time parsed) before the clock starts, with
              the fit's and the estimate's times apart ("parts"; the fit also estimates the reference's own chunks)
    groups -> read logs/predictions.csv (id, time, predicted, sex, island) and logs/labels.csv with pandas, join
              them on id, and for each of sex and island fairlearn's MetricFrame of selection rate, TPR, FPR and
              accuracy per group — per calendar month in one frame (control_features=month) and overall — with
              its between-group difference (demographic parity difference, equalized odds difference)

usage: python peers.py <project folder>
"""
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import nannyml as nml  # noqa: E402
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402

folder = sys.argv[1]


def cbpe():
    columns = ["time", "predicted", "proba_1"]
    reference = pd.read_csv(os.path.join(folder, "reference.csv"), usecols=columns + ["label"])
    analysis = pd.read_csv(os.path.join(folder, "logs", "predictions.csv"), usecols=columns)
    reference["time"] = pd.to_datetime(reference["time"])
    analysis["time"] = pd.to_datetime(analysis["time"])
    estimator = nml.CBPE(
        problem_type="classification_binary",
        y_pred_proba="proba_1",
        y_pred="predicted",
        y_true="label",
        timestamp_column_name="time",
        metrics=["accuracy", "precision", "recall", "f1"],
        chunk_period="M",
    )
    estimator.fit(reference)
    frame = estimator.estimate(analysis).filter(period="analysis").to_df()
    return {"windows": len(frame), "accuracy": [float(v) for v in frame[("accuracy", "value")]]}


_read = {}


def cbpe_compute():
    """NannyML's CBPE fit on the reference and estimate per month, on frames read before the clock starts (once)."""
    if not _read:
        columns = ["time", "predicted", "proba_1"]
        _read["reference"] = pd.read_csv(os.path.join(folder, "reference.csv"), usecols=columns + ["label"], parse_dates=["time"])
        _read["analysis"] = pd.read_csv(os.path.join(folder, "logs", "predictions.csv"), usecols=columns, parse_dates=["time"])
    wall, cpu = time.perf_counter(), time.process_time()
    estimator = nml.CBPE(
        problem_type="classification_binary",
        y_pred_proba="proba_1",
        y_pred="predicted",
        y_true="label",
        timestamp_column_name="time",
        metrics=["accuracy", "precision", "recall", "f1"],
        chunk_period="M",
    )
    estimator.fit(_read["reference"])
    fit_wall, fit_cpu = time.perf_counter(), time.process_time()
    frame = estimator.estimate(_read["analysis"]).filter(period="analysis").to_df()
    end_wall, end_cpu = time.perf_counter(), time.process_time()
    parts = {
        "fit": {"wallMs": (fit_wall - wall) * 1000, "cpuMs": (fit_cpu - cpu) * 1000},
        "estimate": {"wallMs": (end_wall - fit_wall) * 1000, "cpuMs": (end_cpu - fit_cpu) * 1000},
    }
    timing = {"wallMs": (end_wall - wall) * 1000, "cpuMs": (end_cpu - cpu) * 1000, "parts": parts}
    return {**timing, "windows": len(frame), "accuracy": [float(v) for v in frame[("accuracy", "value")]]}


def groups():
    predictions = pd.read_csv(os.path.join(folder, "logs", "predictions.csv"), usecols=["id", "time", "predicted", "sex", "island"])
    labels = pd.read_csv(os.path.join(folder, "logs", "labels.csv"))
    joined = predictions.merge(labels, on="id", how="inner")
    joined["month"] = joined["time"].str.slice(0, 7)
    metrics = {"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate, "accuracy": accuracy_score}
    out = {}
    for column in ["sex", "island"]:
        # per month in one frame (control_features: fairlearn's way to compute within each window), and overall
        by_month = MetricFrame(
            metrics=metrics, y_true=joined["label"], y_pred=joined["predicted"], sensitive_features=joined[column], control_features=joined["month"]
        )
        monthly = by_month.difference()
        for month in monthly.index:
            out[f"{month}/{column}"] = {
                "demographic_parity_difference": float(monthly.loc[month, "selection_rate"]),
                "equalized_odds_difference": float(max(monthly.loc[month, "tpr"], monthly.loc[month, "fpr"])),
            }
        overall = MetricFrame(metrics=metrics, y_true=joined["label"], y_pred=joined["predicted"], sensitive_features=joined[column]).difference()
        out[f"overall/{column}"] = {
            "demographic_parity_difference": float(overall["selection_rate"]),
            "equalized_odds_difference": float(max(overall["tpr"], overall["fpr"])),
        }
    return {"windows": len(out), "overall_sex": out["overall/sex"]}


def main():
    print(json.dumps({"ready": True, "nannyml": nml.__version__, "pandas": pd.__version__}), flush=True)
    for line in sys.stdin:
        what = line.strip()
        wall, cpu = time.perf_counter(), time.process_time()
        if what == "cbpeCompute":
            print(json.dumps(cbpe_compute()), flush=True)  # timed inside: the reads are not
            continue
        result = cbpe() if what == "cbpe" else groups()
        print(json.dumps({"wallMs": (time.perf_counter() - wall) * 1000, "cpuMs": (time.process_time() - cpu) * 1000, **result}), flush=True)


if __name__ == "__main__":
    main()
