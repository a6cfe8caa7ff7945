"""mloop: uploads a version's artifact to the team's MLflow server as an MLflow model (run as `python -c <this> run_id path`).

A folder with an MLmodel file is uploaded as it is. A scikit-learn estimator file (pickle/joblib .pkl .pickle .joblib,
or skops .skops) is wrapped into an MLflow model with the sklearn flavour by MLflow itself (`mlflow.sklearn.save_model`),
so `mlflow.pyfunc.load_model("models:/<name>/<version>")` and `mlflow.sklearn.load_model` work on any teammate's
machine; a pickle keeps the very bytes the pipeline wrote as the model's model.pkl. The folder goes into the run's
artifact path "model". An unsupported artifact fails before anything is sent, with the line `mloop-unsupported: ...`.
"""
import os
import shutil
import sys
import tempfile

SUPPORTED = (
    "a scikit-learn estimator saved with pickle or joblib (.pkl, .pickle, .joblib) or skops (.skops), "
    "or an MLflow model folder (with an MLmodel file)"
)


def unsupported(message):
    sys.stderr.write(f"mloop-unsupported: {message}\n")
    sys.exit(3)


def load_estimator(path):
    lower = path.lower()
    if lower.endswith((".pkl", ".pickle")):
        import pickle

        with open(path, "rb") as f:
            return pickle.load(f), "pickle"
    if lower.endswith(".joblib"):
        import joblib

        return joblib.load(path), "pickle"
    if lower.endswith(".skops"):
        try:
            import skops.io as sio
        except ImportError:
            unsupported(f"{os.path.basename(path)} is a skops file and skops is not installed in {sys.executable}: {sys.executable} -m pip install skops")
        untrusted = sio.get_untrusted_types(file=path)
        return sio.load(path, trusted=untrusted), ("skops", untrusted)
    extension = os.path.splitext(path)[1] or "(no extension)"
    unsupported(f"{os.path.basename(path)}: a model file of type {extension} cannot be uploaded as an MLflow model; mloop uploads {SUPPORTED}")


def main():
    run_id, path = sys.argv[1], sys.argv[2]
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "MLmodel")):
            unsupported(f"{path} is a folder without an MLmodel file; mloop uploads {SUPPORTED}")
        import mlflow

        mlflow.MlflowClient().log_artifacts(run_id, path, "model")
        return
    model, serialization = load_estimator(path)
    if not hasattr(model, "predict"):
        unsupported(f"{os.path.basename(path)} holds a {type(model).__module__}.{type(model).__name__}, which has no predict(); mloop uploads {SUPPORTED}")
    import mlflow
    import mlflow.sklearn
    import sklearn

    options = {"serialization_format": "pickle"}
    if isinstance(serialization, tuple):
        options = {"serialization_format": "skops", "skops_trusted_types": serialization[1]}
    with tempfile.TemporaryDirectory(prefix="mloop-mlflow-model-") as tmp:
        folder = os.path.join(tmp, "model")
        # the requirements named here: MLflow would otherwise load the model in another process to infer them
        mlflow.sklearn.save_model(model, folder, pip_requirements=[f"scikit-learn=={sklearn.__version__}"], **options)
        if serialization == "pickle" and path.lower().endswith((".pkl", ".pickle")):
            shutil.copyfile(path, os.path.join(folder, "model.pkl"))
        mlflow.MlflowClient().log_artifacts(run_id, folder, "model")


main()
