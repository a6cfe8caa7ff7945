"""Writes the monitoring benchmark's project: N predictions x 20 features with two group columns, the late labels,
and a labelled reference period (for drift and CBPE), plus mloop.yaml. Synthetic and seeded: a logistic model of
the 20 features gives each row's true class probability; the logged probability is that model's (slightly
miscalibrated) estimate, so CBPE has something to estimate and the accuracy drifts with the feature shift.

usage: python make_data.py <folder> [rows=1000000] [reference_rows=100000]
"""
import os
import sys

import numpy as np
import pandas as pd

folder = sys.argv[1]
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
reference_rows = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
rng = np.random.default_rng(20261205)
weights = rng.normal(0, 0.6, 16)


def frame(n, shift, start, end, with_label_column):
    numeric = rng.normal(0, 1, (n, 16))
    # the feature shift grows over the period: later rows drift more
    numeric[:, :4] += shift * np.linspace(0, 1, n)[:, None]
    logit = numeric @ weights
    p_true = 1 / (1 + np.exp(-logit))
    truth = (rng.random(n) < p_true).astype(int)
    # the model's estimate: right on the reference, off once the first features shift
    p_model = 1 / (1 + np.exp(-(logit - numeric[:, :4].sum(axis=1) * shift * 0.3)))
    predicted = (p_model >= 0.5).astype(int)
    times = pd.to_datetime(np.sort(rng.integers(start, end, n)), unit="s").strftime("%Y-%m-%dT%H:%M:%S")
    df = pd.DataFrame({"id": np.arange(n) + (0 if with_label_column else 10_000_000), "time": times})
    for k in range(16):
        df[f"x{k}"] = numeric[:, k].round(5)
    df["channel"] = rng.choice(["web", "app", "store", "phone"], n)
    df["plan"] = rng.choice(["free", "basic", "pro"], n, p=[0.6, 0.3, 0.1])
    df["age"] = rng.integers(18, 90, n)
    df["tenure"] = rng.exponential(3, n).round(3)
    df["sex"] = rng.choice(["female", "male"], n)
    df["island"] = rng.choice(["Biscoe", "Dream", "Torgersen"], n, p=[0.5, 0.35, 0.15])
    df["predicted"] = predicted
    df["proba_0"] = (1 - p_model).round(6)
    df["proba_1"] = 1 - df["proba_0"]
    if with_label_column:
        df["label"] = truth
    return df, truth


os.makedirs(os.path.join(folder, "logs"), exist_ok=True)
reference, _ = frame(reference_rows, 0.0, 1704067200, 1735689600, True)  # 2024
reference.to_csv(os.path.join(folder, "reference.csv"), index=False)
current, truth = frame(rows, 1.0, 1735689600, 1767225600, False)  # 2025
current.to_csv(os.path.join(folder, "logs", "predictions.csv"), index=False)
labelled = rng.random(rows) < 0.8  # 80% of the labels have arrived
pd.DataFrame({"id": current["id"][labelled], "label": truth[labelled]}).to_csv(os.path.join(folder, "logs", "labels.csv"), index=False)
features = [f"x{k}" for k in range(16)] + ["channel", "plan", "age", "tenure"]
with open(os.path.join(folder, "mloop.yaml"), "w") as f:
    f.write(
        f"""version: 1
project: monitor-bench
monitoring:
  bench-clf:
    reference: reference.csv
    current: logs/predictions.csv
    columns: [{", ".join(features)}]
    time_column: time
    window: monthly
    labels: logs/labels.csv
    prediction: predicted
    groups: [sex, island]
    performance:
      accuracy: {{ min: 0.7 }}
    fairness:
      demographic_parity_difference: {{ max: 0.1 }}
    estimated_performance:
      reference: reference.csv
"""
    )
print(f"{rows} predictions, {int(labelled.sum())} labels, {reference_rows} reference rows in {folder}")
