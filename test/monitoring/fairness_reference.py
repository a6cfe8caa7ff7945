"""Independent reference for mloop's group metrics: fairlearn on the same predictions.

Usage: python3 fairness_reference.py <penguins.json> <out_dir>
Trains a shallow DecisionTreeClassifier of the species on half of penguins (vega-datasets), predicts every
penguin with measurements, writes predictions.csv (id, predicted, sex, island) and labels.csv (id, label) into
out_dir, and prints fairlearn's MetricFrame per group and its disparities for each sensitive column on its own,
with "Adelie" as the selected (positive) class. An empty sex is the group "(missing)", as mloop names it.
"""
import json
import sys
import warnings

import fairlearn
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


def main() -> None:
    warnings.filterwarnings("ignore")
    penguins = pd.DataFrame(json.load(open(sys.argv[1]))).dropna(subset=FEATURES).reset_index(drop=True)
    out = sys.argv[2]
    penguins["id"] = [f"p{i}" for i in range(len(penguins))]
    train = penguins.iloc[::2]
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(train[FEATURES], train["Species"])
    penguins["predicted"] = model.predict(penguins[FEATURES])
    penguins.rename(columns={"Sex": "sex", "Island": "island"})[["id", "predicted", "sex", "island"]].to_csv(f"{out}/predictions.csv", index=False)
    pd.DataFrame({"id": penguins["id"], "label": penguins["Species"]}).to_csv(f"{out}/labels.csv", index=False)

    y, yp = penguins["Species"], penguins["predicted"]
    yb, ypb = (y == POSITIVE).astype(int), (yp == POSITIVE).astype(int)
    columns = {}
    for name, column in (("sex", "Sex"), ("island", "Island")):
        sf = penguins[column].fillna("(missing)")
        rates = MetricFrame(
            metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate},
            y_true=yb,
            y_pred=ypb,
            sensitive_features=sf,
        )
        accuracy = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=yp, sensitive_features=sf)
        groups = {
            str(g): {**{k: float(v) for k, v in rates.by_group.loc[g].items()}, "accuracy": float(accuracy.by_group.loc[g]), "n": int((sf == g).sum())}
            for g in rates.by_group.index
        }
        columns[name] = {
            "groups": groups,
            "demographic_parity_difference": demographic_parity_difference(yb, ypb, sensitive_features=sf),
            "demographic_parity_ratio": demographic_parity_ratio(yb, ypb, sensitive_features=sf),
            "equalized_odds_difference": equalized_odds_difference(yb, ypb, sensitive_features=sf),
        }
    json.dump({"fairlearn": fairlearn.__version__, "n": len(penguins), "columns": columns}, sys.stdout)


if __name__ == "__main__":
    main()
