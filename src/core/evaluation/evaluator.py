"""mloop-evaluator 1: evaluates or explains a registered model in the project's Python (run by mloop as `python - <request json>`).

mloop sends this file on stdin and one JSON request as the only argument. Lines on stdout:
  ::mloop-progress {"done": n, "total": n, "message": "..."}
  ::mloop-result {...}                      the answer (last line)
  ::mloop-error {"kind": "...", "message": "..."}   then exit 2
Mode explain_server (the gateway's warm explainer, started through a bootstrap that reads this file's bytes from stdin
first) stays up after `::mloop-ready {...}` and answers one JSON line of stdin at a time: see explain_server().
Supported models: scikit-learn estimators saved with pickle/joblib (.pkl, .pickle, .joblib), skops (.skops), and MLflow
model folders (an MLmodel file) with the sklearn flavour (loaded as the estimator) or the python_function flavour.
"""
import json
import os
import sys

SUPPORTED = (
    "scikit-learn estimators saved with pickle or joblib (.pkl, .pickle, .joblib) or skops (.skops), "
    "and MLflow model folders with the sklearn or python_function flavour"
)


class Failure(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def emit(tag, payload):
    sys.stdout.write(f"::mloop-{tag} {json.dumps(payload, allow_nan=False)}\n")
    sys.stdout.flush()


def progress(done, total, message):
    emit("progress", {"done": done, "total": total, "message": message})


def need(module, install):
    try:
        return __import__(module)
    except ImportError as error:
        raise Failure("missing_package", f"{module} is not installed in {sys.executable} ({error}): install it with `{sys.executable} -m pip install {install}`")


# ---------------------------------------------------------------- model loading


class PyfuncModel:
    """An MLflow pyfunc model: predict only (no probabilities, no trees for SHAP)."""

    def __init__(self, model):
        self.model = model

    def predict(self, frame):
        import numpy as np

        out = self.model.predict(frame)
        return np.asarray(out.iloc[:, 0] if hasattr(out, "iloc") and getattr(out, "ndim", 1) == 2 else out).ravel()

    def fit(self, *_args):
        return self


def read_mlmodel(folder):
    path = os.path.join(folder, "MLmodel")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        import yaml

        doc = yaml.safe_load(text) or {}
    except ImportError:
        doc = {"flavors": {}}
        section = None
        for line in text.splitlines():
            if line.startswith("flavors:"):
                section = "flavors"
            elif section == "flavors" and line.startswith("  ") and not line.startswith("    ") and line.strip().endswith(":"):
                doc["flavors"][line.strip()[:-1]] = {}
            elif line and not line.startswith(" "):
                section = None
    return doc


def load_model(path):
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "MLmodel")):
            raise Failure("unsupported_flavour", f"{path} is a folder without an MLmodel file: an unknown model format. mloop evaluates {SUPPORTED}")
        flavours = sorted((read_mlmodel(path).get("flavors") or {}).keys())
        if "sklearn" in flavours:
            need("mlflow", "mlflow")
            import mlflow.sklearn

            return mlflow.sklearn.load_model(path), "mlflow.sklearn"
        if "python_function" in flavours:
            need("mlflow", "mlflow")
            import mlflow.pyfunc

            return PyfuncModel(mlflow.pyfunc.load_model(path)), "mlflow.pyfunc"
        raise Failure("unsupported_flavour", f"the MLflow model {path} has the flavour(s) {', '.join(flavours) or '(none)'}: mloop evaluates {SUPPORTED}")
    lower = path.lower()
    if lower.endswith((".pkl", ".pickle")):
        import pickle

        with open(path, "rb") as f:
            return pickle.load(f), "sklearn.pickle"
    if lower.endswith(".joblib"):
        import joblib

        return joblib.load(path), "sklearn.joblib"
    if lower.endswith(".skops"):
        sio = need("skops.io", "skops")
        import skops.io as sio

        return sio.load(path, trusted=sio.get_untrusted_types(file=path)), "sklearn.skops"
    extension = os.path.splitext(path)[1] or "(no extension)"
    raise Failure("unsupported_flavour", f"{os.path.basename(path)}: a model file of type {extension} is not supported: mloop evaluates {SUPPORTED}")


def check_estimator(model, flavour):
    if not hasattr(model, "predict"):
        raise Failure("unsupported_flavour", f"the {flavour} artifact holds a {type(model).__name__}, which has no predict(): mloop evaluates {SUPPORTED}")


# ---------------------------------------------------------------- data


def read_frame(path, fmt):
    pd = need("pandas", "pandas")
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")


def prepare(frame, request):
    """The project's `prepare: module:function` (mloop.yaml): a dataset frame → the model's inputs."""
    spec = request.get("prepare")
    if not spec:
        return frame
    import importlib

    module_name, function_name = spec.split(":")
    sys.path.insert(0, request["project_root"])
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise Failure("bad_request", f"prepare: {spec}: cannot import {module_name} from {request['project_root']} ({error})")
    finally:
        sys.path.pop(0)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise Failure("bad_request", f"prepare: {spec}: {module_name} has no function {function_name}")
    try:
        prepared = function(frame)
    except Exception as error:  # the project's own code: its failure is reported with its name
        raise Failure("bad_request", f"prepare: {spec} failed: {type(error).__name__}: {error}")
    if prepared is None or not hasattr(prepared, "columns"):
        raise Failure("bad_request", f"prepare: {spec} returned {type(prepared).__name__}, not a data frame")
    return prepared


def feature_names(model, frame, request):
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if request.get("features"):
        return list(request["features"])
    excluded = {request.get("label")} | set(request.get("groups") or [])
    return [c for c in frame.columns if c not in excluded]


def require_columns(frame, features, where):
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise Failure("missing_features", f"{where} lacks the model's feature(s) {', '.join(missing)} (the model reads {', '.join(features)})")


def detect_label(model, frame, features, request):
    if request.get("label"):
        if request["label"] not in frame.columns:
            raise Failure("bad_request", f"the dataset has no label column {request['label']} (columns: {', '.join(map(str, frame.columns))})")
        return request["label"]
    classes = getattr(model, "classes_", None)
    candidates = [c for c in frame.columns if c not in features]
    if len(candidates) == 1:
        return candidates[0]
    if classes is not None:
        known = {str(c) for c in classes}
        matching = [c for c in candidates if {str(v) for v in frame[c].dropna().unique()} <= known]
        if len(matching) == 1:
            return matching[0]
    raise Failure("bad_request", f"which column holds the truth? pass --label (columns that are not features: {', '.join(map(str, candidates)) or 'none'})")


def is_classifier(model):
    return hasattr(model, "classes_") or getattr(model, "_estimator_type", None) == "classifier"


def to_json_value(v):
    import numpy as np

    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


def thin(points, limit=200):
    """At most `limit` points of a curve, evenly spaced, its ends kept."""
    n = len(points[0])
    if n <= limit:
        return [list(map(float, p)) for p in points]
    step = (n - 1) / (limit - 1)
    idx = sorted({round(i * step) for i in range(limit)})
    return [[float(p[i]) for i in idx] for p in points]


# ---------------------------------------------------------------- SHAP and its fallback


def shap_explainer(shap, model, background):
    """TreeExplainer for tree models (exact, interventional on the background), LinearExplainer for linear ones, else
    the model-agnostic permutation explainer on predict_proba / predict."""
    name = type(model).__module__
    if "ensemble" in name or "tree" in name or "xgboost" in name or "lightgbm" in name:
        return shap.TreeExplainer(model, background), "tree"
    if "linear_model" in name or "svm" in name and hasattr(model, "coef_"):
        return shap.LinearExplainer(model, background), "linear"
    fn = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    return shap.explainers.Permutation(fn, background), "permutation"


def shap_values(shap, model, background, rows, on_chunk=None, explainer=None):
    """values[row][feature][output] and base[output]; `explainer`: one shap_explainer made before, reused."""
    import numpy as np

    explainer, kind = explainer or shap_explainer(shap, model, background)
    values, base = [], None
    chunk = 20
    for start in range(0, len(rows), chunk):
        part = explainer(rows.iloc[start : start + chunk])
        v = np.asarray(part.values, dtype=float)
        if v.ndim == 2:
            v = v[:, :, None]
        b = np.asarray(part.base_values, dtype=float)
        base = (b.reshape(len(v), -1)[0]).tolist() if b.size else [0.0]
        values.extend(v.tolist())
        if on_chunk:
            on_chunk(min(start + chunk, len(rows)), len(rows))
    return values, base, kind


def model_outputs(model, frame):
    """The explained outputs: class probabilities (one per class) or the prediction."""
    import numpy as np

    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(frame), dtype=float)
    return np.asarray(model.predict(frame), dtype=float).reshape(-1, 1)


def occlusion(model, background, row, features):
    """Occlusion against the background means: each feature's contribution is the output with the row's value minus the
    output with that feature set to the background mean (mode for non-numbers). Not additive: the rest is `interaction`."""
    import pandas as pd

    reference = {}
    for f in features:
        col = background[f]
        reference[f] = col.mean() if pd.api.types.is_numeric_dtype(col) else col.mode(dropna=True).iloc[0]
    full = model_outputs(model, row)[0]
    frames = []
    for f in features:
        changed = row.copy()
        changed[f] = reference[f]
        frames.append(changed)
    baseline_row = row.copy()
    for f in features:
        baseline_row[f] = reference[f]
    outs = model_outputs(model, pd.concat(frames + [baseline_row], ignore_index=True))
    contributions = [(full - outs[i]).tolist() for i in range(len(features))]
    return contributions, outs[-1].tolist(), full.tolist(), {f: to_json_value(reference[f]) for f in features}


# ---------------------------------------------------------------- modes


def evaluate(request):
    progress(0, 4, "loading the model")
    # the model first: an unsupported file is refused before the heavy imports
    model, flavour = load_model(request["model_path"])
    check_estimator(model, flavour)
    np = need("numpy", "numpy")
    need("sklearn", "scikit-learn")
    from sklearn.inspection import permutation_importance

    frame = prepare(read_frame(request["data_path"], request["format"]), request)
    features = feature_names(model, frame, request)
    require_columns(frame, features, f"the dataset {request['data_name']}")
    label = detect_label(model, frame, features, request)
    groups = [g for g in request.get("groups") or [] if g in frame.columns]
    missing_groups = [g for g in request.get("groups") or [] if g not in frame.columns]
    frame = frame[frame[label].notna()].reset_index(drop=True)
    x, y = frame[features], frame[label]
    classifier = is_classifier(model)
    notes = []
    if missing_groups:
        notes.append(f"group column(s) {', '.join(missing_groups)} are not in the dataset: no group metrics for them")
    progress(1, 4, f"predicting {len(x)} rows")
    predicted = model.predict(x)
    result = {
        "flavour": flavour,
        "model_class": type(model).__name__,
        "task": "classification" if classifier else "regression",
        "label": label,
        "features": features,
        "rows": int(len(x)),
        "truth": [to_json_value(v) for v in y.tolist()],
        "predicted": [to_json_value(v) for v in np.asarray(predicted).ravel().tolist()],
        "groups": {g: ["(missing)" if v is None or v != v else str(v) for v in frame[g].tolist()] for g in groups},
        "notes": notes,
    }
    if classifier and hasattr(model, "predict_proba"):
        from sklearn.calibration import calibration_curve
        from sklearn.metrics import precision_recall_curve, roc_curve

        proba = np.asarray(model.predict_proba(x), dtype=float)
        classes = [str(c) for c in model.classes_]
        result["classes"] = classes
        result["proba"] = {c: proba[:, i].tolist() for i, c in enumerate(classes)}
        truth = np.asarray([str(v) for v in y.tolist()])
        # binary: the curves of the second class (scikit-learn's positive label); multiclass: one-vs-rest per class
        curve_classes = classes[1:] if len(classes) == 2 else classes
        curves = []
        for c in curve_classes:
            i = classes.index(c)
            positive = truth == c
            if positive.all() or not positive.any():
                notes.append(f"class {c}: {'every' if positive.all() else 'no'} row has it, no ROC/PR/calibration curve")
                continue
            fpr, tpr, _ = roc_curve(positive, proba[:, i])
            precision, recall, _ = precision_recall_curve(positive, proba[:, i])
            prob_true, prob_pred = calibration_curve(positive, proba[:, i], n_bins=10, strategy="uniform")
            roc = thin([fpr, tpr])
            pr = thin([recall, precision])
            curves.append(
                {
                    "class": c,
                    "roc": {"fpr": roc[0], "tpr": roc[1]},
                    "pr": {"recall": pr[0], "precision": pr[1]},
                    "calibration": {"mean_predicted": prob_pred.tolist(), "fraction_positive": prob_true.tolist()},
                }
            )
        result["curves"] = curves
    elif classifier:
        notes.append("the model has no predict_proba: no log loss, ROC AUC or curves")

    progress(2, 4, "permutation importance")
    seed, repeats = int(request.get("seed", 0)), int(request.get("n_repeats", 5))
    kwargs = {} if hasattr(model, "score") else {"scoring": "accuracy" if classifier else "r2"}
    importance = permutation_importance(model, x, y, n_repeats=repeats, random_state=seed, **kwargs)
    result["permutation_importance"] = {
        "seed": seed,
        "n_repeats": repeats,
        "scoring": kwargs.get("scoring", "accuracy (the estimator's score)" if classifier else "r2 (the estimator's score)"),
        "features": features,
        "mean": importance.importances_mean.tolist(),
        "std": importance.importances_std.tolist(),
    }

    progress(3, 4, "SHAP values")
    result["shap"] = shap_summary(model, x, request, notes)
    progress(4, 4, "done")
    return result


def shap_summary(model, x, request, notes):
    import numpy as np

    if request.get("no_shap"):
        return {"status": "skipped", "message": "SHAP values were not asked for (--no-shap)"}
    try:
        import shap
    except ImportError:
        message = f"shap is not installed in {sys.executable}: no SHAP values. Install it with `{sys.executable} -m pip install shap`"
        notes.append(message)
        return {"status": "unavailable", "message": message}
    if isinstance(model, PyfuncModel):
        return {"status": "unavailable", "message": "SHAP values need the estimator; this MLflow model has only the python_function flavour"}
    n = min(int(request.get("shap_rows", 100)), len(x))
    rng = np.random.RandomState(int(request.get("seed", 0)))
    rows = sorted(rng.choice(len(x), size=n, replace=False).tolist())
    background = x.iloc[sorted(rng.choice(len(x), size=min(100, len(x)), replace=False).tolist())]
    try:
        values, base, kind = shap_values(shap, model, background, x.iloc[rows], lambda d, t: progress(3 + d / t * 0.99, 4, f"SHAP values: {d}/{t} rows"))
    except Exception as error:  # e.g. shap's own additivity check: report it, keep the rest of the evaluation
        message = f"shap {shap.__version__} failed on this model: {type(error).__name__}: {str(error).splitlines()[0][:300]}"
        notes.append(message)
        return {"status": "failed", "message": message}
    outputs = [str(c) for c in model.classes_] if hasattr(model, "predict_proba") and len(values[0][0]) > 1 else ["prediction"]
    v = np.asarray(values)
    return {
        "status": "computed",
        "explainer": kind,
        "version": shap.__version__,
        "rows": rows,
        "outputs": outputs,
        "base_values": base,
        "values": values,
        "mean_abs": {f: np.abs(v[:, j, :]).mean(axis=0).tolist() for j, f in enumerate(x.columns)},
    }


def occlusion_note(request, model, shap_failure):
    how = f"occlusion against the means of {request['data_name']} (each contribution = output − output with that feature at its mean)"
    rest = "Not additive: the difference to the sum is the features' interaction."
    if shap_failure:
        return f"{shap_failure}: {how} instead. {rest}"
    if request.get("no_shap") or isinstance(model, PyfuncModel):
        return f"{how}. {rest}"
    return f"shap is not installed: {how}. {rest} For SHAP values: `{sys.executable} -m pip install shap`"


class RowExplainer:
    """The model, its background data and (with shap) its explainer, loaded once; `explain(row)` per row. `mloop explain`
    makes one for one row; the gateway's `/explain` keeps one per deployed version warm (explain_server)."""

    def __init__(self, request):
        self.np = need("numpy", "numpy")
        self.pd = need("pandas", "pandas")
        self.request = request
        self.model, self.flavour = load_model(request["model_path"])
        check_estimator(self.model, self.flavour)
        self.background_in = prepare(read_frame(request["data_path"], request["format"]), request)
        self.features = feature_names(self.model, self.background_in, request)
        self.shap = None
        if not request.get("no_shap") and not isinstance(self.model, PyfuncModel):
            try:
                import shap

                self.shap = shap
            except ImportError:
                self.shap = None
        self.explainer = None

    def explain(self, row_values):
        np, pd, request, model, features = self.np, self.pd, self.request, self.model, self.features
        row_in = prepare(pd.DataFrame([row_values]), request)
        missing = [f for f in features if f not in row_in.columns]
        if missing:
            raise Failure("missing_features", f"the row lacks the model's feature(s) {', '.join(missing)} (the model reads {', '.join(features)})")
        require_columns(self.background_in, features, f"the background dataset {request['data_name']}")
        background = self.background_in[features]
        try:
            row = row_in[features].astype({f: background[f].dtype for f in features if pd.api.types.is_numeric_dtype(background[f])})
        except (TypeError, ValueError) as error:
            raise Failure("bad_request", f"the row has a value of the wrong type: {error} (the numeric features: {', '.join(f for f in features if pd.api.types.is_numeric_dtype(background[f]))})")
        predicted = to_json_value(np.asarray(model.predict(row)).ravel()[0])
        outputs = [str(c) for c in model.classes_] if hasattr(model, "predict_proba") else ["prediction"]
        output_index = outputs.index(str(predicted)) if str(predicted) in outputs else 0
        answer = {"flavour": self.flavour, "features": features, "row": {f: to_json_value(row.iloc[0][f]) for f in features}, "predicted": predicted}
        answer["outputs"] = outputs
        answer["output"] = outputs[output_index]
        shap = self.shap
        shap_failure = None
        if shap is not None:
            rng = np.random.RandomState(int(request.get("seed", 0)))
            sample = background.iloc[sorted(rng.choice(len(background), size=min(100, len(background)), replace=False).tolist())]
            try:
                # built once per loaded model (the same explainer over the same sample: the same values for every row)
                if self.explainer is None:
                    self.explainer = shap_explainer(shap, model, sample)
                values, base, kind = shap_values(shap, model, sample, row, explainer=self.explainer)
            except Exception as error:  # e.g. shap's own additivity check: explain by occlusion instead, and say why
                shap_failure = f"shap {shap.__version__} failed on this model ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
                shap = None
        if shap is not None:
            answer.update(
                method="shap",
                explainer=kind,
                base_value=base[output_index],
                contributions=[values[0][j][output_index] for j in range(len(features))],
                value=float(model_outputs(model, row)[0][output_index]),
                note=f"SHAP values ({kind} explainer, shap {shap.__version__}) against {len(sample)} background rows of {request['data_name']}: they add up to the output",
            )
        else:
            contributions, base, full, reference = occlusion(model, background, row, features)
            answer.update(
                method="occlusion",
                base_value=base[output_index],
                contributions=[c[output_index] for c in contributions],
                value=full[output_index],
                reference=reference,
                note=occlusion_note(request, model, shap_failure),
            )
        answer["interaction"] = answer["value"] - answer["base_value"] - sum(answer["contributions"])
        return answer


def explain(request):
    return RowExplainer(request).explain(request["row"])


def explain_server(request):
    """The gateway's warm explainer of one version: loads once, prints `::mloop-ready {}`, then answers each line of
    stdin ({"id": n, "row": {...}}) with `::mloop-result {"id": n, "answer": {...}}` or `::mloop-error {"id": n, ...}`,
    one at a time, until stdin closes."""
    explainer = RowExplainer(request)
    emit("ready", {"features": explainer.features, "flavour": explainer.flavour})
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        message_id = None
        try:
            message = json.loads(line)
            message_id = message.get("id")
            row = message.get("row")
            if not isinstance(row, dict):
                raise Failure("bad_request", "the row must be a JSON object of feature → value")
            emit("result", {"id": message_id, "answer": explainer.explain(row)})
        except Failure as failure:
            emit("error", {"id": message_id, "kind": failure.kind, "message": str(failure)})
        except Exception as error:  # one bad row must not end the explainer of every other request
            emit("error", {"id": message_id, "kind": "crashed", "message": f"{type(error).__name__}: {error}"})


def window_importance(request):
    """Permutation importance of one model on each labelled monitoring window, with the same seed and scoring as
    evaluate: the predictions log is read once, each window is the log's rows the caller names with their labels."""
    progress(0, 1, "loading the model")
    model, flavour = load_model(request["model_path"])
    check_estimator(model, flavour)
    need("numpy", "numpy")
    pd = need("pandas", "pandas")
    need("sklearn", "scikit-learn")
    from sklearn.inspection import permutation_importance

    frames = [read_frame(path, request["format"]) for path in request["data_paths"]]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    rows = len(frame)
    frame = prepare(frame, request)
    if len(frame) != rows:
        raise Failure("bad_request", f"prepare: {request.get('prepare')} changed the number of rows ({rows} → {len(frame)}): windows name rows of the log")
    frame = frame.reset_index(drop=True)
    features = feature_names(model, frame, request)
    require_columns(frame, features, f"the predictions log {request['data_name']}")
    with open(request["windows_path"], encoding="utf-8") as f:
        windows = json.load(f)
    classifier = is_classifier(model)
    seed, repeats = int(request.get("seed", 0)), int(request.get("n_repeats", 5))
    kwargs = {} if hasattr(model, "score") else {"scoring": "accuracy" if classifier else "r2"}
    out = []
    for i, window in enumerate(windows):
        progress(i, len(windows), f"window {window['window']}: {len(window['rows'])} labelled rows")
        x = frame.iloc[window["rows"]][features].reset_index(drop=True)
        y = pd.Series(window["labels"])
        importance = permutation_importance(model, x, y, n_repeats=repeats, random_state=seed, **kwargs)
        score = model.score(x, y) if hasattr(model, "score") else None
        out.append(
            {
                "window": window["window"],
                "rows": len(x),
                "score": None if score is None else float(score),
                "mean": importance.importances_mean.tolist(),
                "std": importance.importances_std.tolist(),
            }
        )
    progress(len(windows), len(windows), "done")
    return {
        "flavour": flavour,
        "model_class": type(model).__name__,
        "features": features,
        "seed": seed,
        "n_repeats": repeats,
        "scoring": kwargs.get("scoring", "accuracy (the estimator's score)" if classifier else "r2 (the estimator's score)"),
        "windows": out,
    }


def main():
    try:
        request = json.loads(sys.argv[1])
        mode = request.get("mode")
        if mode == "evaluate":
            result = evaluate(request)
        elif mode == "explain":
            result = explain(request)
        elif mode == "window_importance":
            result = window_importance(request)
        elif mode == "explain_server":
            explain_server(request)
            return
        else:
            raise Failure("bad_request", f"unknown mode {mode!r}")
        emit("result", result)
    except Failure as failure:
        emit("error", {"kind": failure.kind, "message": str(failure)})
        sys.exit(2)


if __name__ == "__main__":
    main()
