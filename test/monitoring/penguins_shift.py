"""The penguins fixture with a shift that degrades one group only, and fairlearn's metrics per window on it.

Usage: python3 penguins_shift.py <penguins.json> <out_dir>
Trains a shallow DecisionTreeClassifier of the species on half of penguins (vega-datasets), spreads every penguin with
measurements over four monthly windows (seeded shuffle), and in the last window the beaks of the FEMALE penguins
are measured 8 mm longer (a calliper that drifted at the station measuring them) before
the model predicts. Writes predictions.csv (id, date, predicted, proba_<species>, sex, island) and labels.csv
(id, label) into out_dir, and prints fairlearn's MetricFrame per group and its disparities for each sensitive
column on its own, per window, with "Adelie" as the selected (positive) class. An empty sex is "(missing)".
"""
import json
import sys
import warnings

import fairlearn
import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score
from sklearn.tree import DecisionTreeClassifier

FEATURES = ["Beak Length (mm)", "Beak Depth (mm)", "Flipper Length (mm)", "Body Mass (g)"]
POSITIVE = "Adelie"
WINDOWS = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]


def group_metrics(y, yp, sf):
    yb, ypb = (y == POSITIVE).astype(int), (yp == POSITIVE).astype(int)
    rates = MetricFrame(
        metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate},
        y_true=yb,
        y_pred=ypb,
        sensitive_features=sf,
    )
    accuracy = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=yp, sensitive_features=sf)
    return {
        "groups": {
            str(g): {**{k: float(v) for k, v in rates.by_group.loc[g].items()}, "accuracy": float(accuracy.by_group.loc[g]), "n": int((sf == g).sum())}
            for g in rates.by_group.index
        },
        "demographic_parity_difference": float(demographic_parity_difference(yb, ypb, sensitive_features=sf)),
        "demographic_parity_ratio": float(demographic_parity_ratio(yb, ypb, sensitive_features=sf)),
        "equalized_odds_difference": float(equalized_odds_difference(yb, ypb, sensitive_features=sf)),
    }


def main() -> None:
    warnings.filterwarnings("ignore")
    penguins = pd.DataFrame(json.load(open(sys.argv[1]))).dropna(subset=FEATURES).reset_index(drop=True)
    out = sys.argv[2]
    penguins["id"] = [f"p{i}" for i in range(len(penguins))]
    train = penguins.iloc[::2]
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(train[FEATURES], train["Species"])
    order = np.random.RandomState(7).permutation(len(penguins))
    penguins["window"] = [WINDOWS[k * len(WINDOWS) // len(penguins)] for k in np.argsort(order)]
    penguins["date"] = penguins["window"].str.slice(0, 8) + "15"
    served = penguins[FEATURES].copy()
    shifted = (penguins["window"] == WINDOWS[-1]) & (penguins["Sex"] == "FEMALE")
    served.loc[shifted, "Beak Length (mm)"] += 8
    penguins["predicted"] = model.predict(served)
    proba = model.predict_proba(served)
    log = penguins.rename(columns={"Sex": "sex", "Island": "island"})[["id", "date", "predicted", "sex", "island"]].copy()
    for k, c in enumerate(model.classes_):
        log[f"proba_{c}"] = proba[:, k]
    log.to_csv(f"{out}/predictions.csv", index=False)
    pd.DataFrame({"id": penguins["id"], "label": penguins["Species"]}).to_csv(f"{out}/labels.csv", index=False)

    windows = {}
    for w in WINDOWS:
        rows = penguins[penguins["window"] == w]
        windows[w] = {
            "n": len(rows),
            "columns": {
                name: group_metrics(rows["Species"], rows["predicted"], rows[column].fillna("(missing)"))
                for name, column in (("sex", "Sex"), ("island", "Island"))
            },
        }
    json.dump({"fairlearn": fairlearn.__version__, "n": len(penguins), "shifted": int(shifted.sum()), "windows": windows}, sys.stdout)


if __name__ == "__main__":
    main()
