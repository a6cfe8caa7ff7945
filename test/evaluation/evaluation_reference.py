"""Fixtures and independent reference values for test/unit/evaluation.test.ts.

`<weather.csv> <penguins.jsonl> <out dir> <request json>`: trains the models the test registers, writes their data,
then prints what scikit-learn (and shap, when installed) compute for them, independently of mloop (one interpreter start).
"""
import json
import os
import pickle
import sys

import numpy as np
import pandas as pd

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]


def train(weather_csv, penguins_jsonl, out):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression

    frame = pd.read_csv(weather_csv, parse_dates=["date"])
    frame["season"] = np.where(frame["date"].dt.month.isin([4, 5, 6, 7, 8, 9]), "summer", "winter")
    frame = frame.drop(columns=["date"])
    frame.to_csv(os.path.join(out, "weather.csv"), index=False)
    frame.sample(n=80, random_state=1).to_csv(os.path.join(out, "background.csv"), index=False)
    for version, depth in ((1, 6), (2, 3)):
        model = RandomForestClassifier(n_estimators=25, max_depth=depth, random_state=0).fit(frame[FEATURES], frame["weather"])
        with open(os.path.join(out, f"weather-v{version}.pkl"), "wb") as f:
            pickle.dump(model, f)
    penguins = pd.read_json(penguins_jsonl, lines=True).dropna(subset=["Beak Length (mm)", "Flipper Length (mm)", "Body Mass (g)"])
    penguins = penguins[["Beak Length (mm)", "Flipper Length (mm)", "Body Mass (g)"]]
    penguins.to_csv(os.path.join(out, "penguins.csv"), index=False)
    regressor = LinearRegression().fit(penguins[["Beak Length (mm)", "Flipper Length (mm)"]], penguins["Body Mass (g)"])
    import joblib

    joblib.dump(regressor, os.path.join(out, "penguins.joblib"))


def reference(request):
    from sklearn.calibration import calibration_curve
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, mean_absolute_error, precision_score, r2_score, recall_score, roc_auc_score, roc_curve, root_mean_squared_error

    out = {}
    with open(request["classifier"], "rb") as f:
        clf = pickle.load(f)
    data = pd.read_csv(request["weather"])
    x, y = data[FEATURES], data["weather"]
    proba = clf.predict_proba(x)
    predicted = clf.predict(x)
    classes = [str(c) for c in clf.classes_]
    pi = permutation_importance(clf, x, y, n_repeats=request["repeats"], random_state=request["seed"])
    rain = list(clf.classes_).index("rain")
    fpr, tpr, _ = roc_curve(y == "rain", proba[:, rain])
    prob_true, prob_pred = calibration_curve(y == "rain", proba[:, rain], n_bins=10)
    out["classifier"] = {
        "classes": classes,
        "accuracy": accuracy_score(y, predicted),
        "precision_macro": precision_score(y, predicted, average="macro", zero_division=0),
        "recall_macro": recall_score(y, predicted, average="macro", zero_division=0),
        "f1_macro": f1_score(y, predicted, average="macro", zero_division=0),
        "log_loss": log_loss(y, proba, labels=clf.classes_),
        "roc_auc": roc_auc_score(y, proba, multi_class="ovr", average="macro"),
        "confusion": confusion_matrix(y, predicted, labels=clf.classes_).tolist(),
        "permutation_mean": pi.importances_mean.tolist(),
        "permutation_std": pi.importances_std.tolist(),
        "roc_rain_points": len(fpr),
        "roc_rain_auc_trapezoid": float(np.trapezoid(tpr, fpr)),
        "calibration_rain": {"mean_predicted": prob_pred.tolist(), "fraction_positive": prob_true.tolist()},
        "proba": proba.tolist(),
        # group metrics with fairlearn's definitions, the selected class = rain
        "selection_rate_by_season": {s: float((predicted[data["season"] == s] == "rain").mean()) for s in ("summer", "winter")},
    }
    import joblib

    reg = joblib.load(request["regressor"])
    penguins = pd.read_csv(request["penguins"])
    px, py = penguins[["Beak Length (mm)", "Flipper Length (mm)"]], penguins["Body Mass (g)"]
    p = reg.predict(px)
    rpi = permutation_importance(reg, px, py, n_repeats=request["repeats"], random_state=request["seed"])
    out["regressor"] = {
        "rmse": root_mean_squared_error(py, p),
        "mae": mean_absolute_error(py, p),
        "r2": r2_score(py, p),
        "permutation_mean": rpi.importances_mean.tolist(),
    }
    # one row explained: occlusion against the background means, computed here from its definition
    background = pd.read_csv(request["background"])[FEATURES]
    row = pd.DataFrame([request["row"]])[FEATURES].astype(float)
    full = clf.predict_proba(row)[0]
    k = list(clf.classes_).index(clf.predict(row)[0])
    occlusion = []
    for f in FEATURES:
        changed = row.copy()
        changed[f] = background[f].mean()
        occlusion.append(float(full[k] - clf.predict_proba(changed)[0][k]))
    out["explain"] = {"predicted": str(clf.predict(row)[0]), "probability": float(full[k]), "occlusion": occlusion}
    try:
        import shap
    except ImportError:
        out["shap"] = None
    else:
        # interventional TreeExplainer on the whole (80-row) background: no sampling left to chance
        values = shap.TreeExplainer(clf, background)(row)
        out["shap"] = {"values": np.asarray(values.values)[0, :, k].tolist(), "base": float(np.asarray(values.base_values)[0, k])}
    print(json.dumps(out))


if __name__ == "__main__":
    train(sys.argv[1], sys.argv[2], sys.argv[3])
    reference(json.loads(sys.argv[4]))
