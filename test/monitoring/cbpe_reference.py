"""Independent reference for mloop's estimated performance: NannyML's CBPE on the same predictions.

Usage: python3 cbpe_reference.py <seattle-weather.csv> <out_dir>
Two real scikit-learn models on seattle-weather, trained on 2012:
- multiclass: LogisticRegression of `weather` (five classes);
- binary: GaussianNB of "does it rain" (0/1), whose probabilities are over-confident, so calibration matters.
Each writes a labelled reference (2013) and an unlabelled predictions log (2014-2015) into out_dir; NannyML's CBPE
(fitted on the reference, chunked by month) estimates accuracy, precision, recall and F1 on the log. Prints the
estimates with their sampling errors and NannyML's calibrate-or-not decision per class, as JSON.
"""
import json
import os
import sys
import warnings

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]


def write(out, name, frame, model, classes, y_true):
    proba = model.predict_proba(frame[FEATURES])
    table = pd.DataFrame({"id": ["r" + str(i) for i in range(len(frame))], "date": frame["date"].to_numpy(), "predicted": model.predict(frame[FEATURES])})
    for k, c in enumerate(classes):
        table["proba_" + str(c)] = proba[:, k]
    if y_true is not None:
        table["label"] = y_true.to_numpy()
    table.to_csv(f"{out}/{name}.csv", index=False)
    table["date"] = pd.to_datetime(table["date"])
    return table


def number(value):
    """NaN (a class without terms) as JSON null."""
    return None if pd.isna(value) else float(value)


def chunks(result, metrics):
    frame = result.filter(period="analysis").to_df()
    rows = []
    for _, r in frame.iterrows():
        rows.append(
            {
                "start": r[("chunk", "start_date")].strftime("%Y-%m-%d"),
                "n": int(r[("chunk", "end_index")] - r[("chunk", "start_index")] + 1),
                **{
                    m: {k: number(r[(m, column)]) for k, column in [("value", "value"), ("sampling_error", "sampling_error"), ("lower", "lower_confidence_boundary"), ("upper", "upper_confidence_boundary")]}
                    for m in metrics
                },
            }
        )
    return rows


def main() -> None:
    warnings.filterwarnings("ignore")
    os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"  # NannyML reports usage to a web service unless told not to
    import nannyml as nml
    from nannyml.calibration import NoopCalibrator

    source, out = sys.argv[1], sys.argv[2]
    data = pd.read_csv(source)
    train = data[data["date"] < "2013-01-01"]
    reference_rows = data[(data["date"] >= "2013-01-01") & (data["date"] < "2014-01-01")]
    live = data[data["date"] >= "2014-01-01"]
    metrics = ["accuracy", "precision", "recall", "f1"]
    result = {}

    clf = LogisticRegression(max_iter=2000).fit(train[FEATURES], train["weather"])
    classes = [str(c) for c in clf.classes_]
    reference = write(out, "multiclass_reference", reference_rows, clf, classes, reference_rows["weather"])
    analysis = write(out, "multiclass_predictions", live, clf, classes, None)
    cbpe = nml.CBPE(
        problem_type="classification_multiclass",
        y_pred_proba={c: "proba_" + c for c in classes},
        y_pred="predicted",
        y_true="label",
        timestamp_column_name="date",
        metrics=metrics,
        chunk_period="M",
    )
    cbpe.fit(reference)
    result["multiclass"] = {
        "classes": classes,
        "calibrated": {c: not isinstance(cbpe._calibrators[c], NoopCalibrator) for c in classes},
        "windows": chunks(cbpe.estimate(analysis), metrics),
    }

    rains = lambda frame: (frame["weather"] == "rain").astype(int)  # noqa: E731
    nb = GaussianNB().fit(train[FEATURES], rains(train))
    reference = write(out, "binary_reference", reference_rows, nb, [0, 1], rains(reference_rows))
    analysis = write(out, "binary_predictions", live, nb, [0, 1], None)
    cbpe = nml.CBPE(
        problem_type="classification_binary",
        y_pred_proba="proba_1",
        y_pred="predicted",
        y_true="label",
        timestamp_column_name="date",
        metrics=metrics,
        chunk_period="M",
    )
    cbpe.fit(reference)
    result["binary"] = {"calibrated": bool(cbpe.needs_calibration), "windows": chunks(cbpe.estimate(analysis), metrics)}
    print(json.dumps(result, allow_nan=False))


if __name__ == "__main__":
    main()
