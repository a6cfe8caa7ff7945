import { pythonJson } from '../support/python';

/**
 * Independently of mloop: each row explained by the pickle given with it, with shap's TreeExplainer against the 100
 * background rows the helper draws (RandomState(0), sorted) of the training data, for the predicted class; or the
 * occlusion fallback's definition when shap is absent. The inputs are what the project's features.py derives, or
 * without one the four measurements as they are.
 */
const SCRIPT = `
import json, pickle, sys
import numpy as np, pandas as pd
if sys.argv[2]:
    sys.path.insert(0, sys.argv[2])
    from features import FEATURES, add_month
else:
    FEATURES, add_month = ["precipitation", "temp_max", "temp_min", "wind"], lambda frame: frame
frame = add_month(pd.read_csv(sys.argv[1]))[FEATURES]
sample = frame.iloc[sorted(np.random.RandomState(0).choice(len(frame), size=100, replace=False).tolist())]
out = []
for item in json.load(sys.stdin):
    model = pickle.load(open(item["pickle"], "rb"))
    x = add_month(pd.DataFrame([item["row"]]))[FEATURES].astype("float64")
    predicted = str(model.predict(x)[0])
    k = [str(c) for c in model.classes_].index(predicted)
    try:
        import shap
        e = shap.TreeExplainer(model, sample)(x)
        values, base = np.asarray(e.values)[0, :, k].tolist(), float(np.asarray(e.base_values).reshape(1, -1)[0, k])
    except ImportError:
        values, base = None, None
    # the fallback's definition: the output minus the output with that feature at its mean over the training data
    full = model.predict_proba(x)[0, k]
    means = x.copy()
    occlusion = []
    for f in FEATURES:
        changed = x.copy()
        changed[f] = frame[f].mean()
        means[f] = frame[f].mean()
        occlusion.append(float(full - model.predict_proba(changed)[0, k]))
    out.append({"predicted": predicted, "probability": float(full), "shap": values, "base": base, "occlusion": occlusion,
                "occlusion_base": float(model.predict_proba(means)[0, k])})
print(json.dumps(out))
`;

/** What the reference computed for one row: shap and base are null when shap is not installed. */
export interface ExplanationReference {
  readonly predicted: string;
  /** The predicted class's probability: the output explained. */
  readonly probability: number;
  readonly shap: number[] | null;
  readonly base: number | null;
  readonly occlusion: number[];
  /** The output with every feature at its training mean: occlusion's base value. */
  readonly occlusion_base: number;
}

export interface ExplanationReferenceOptions {
  /** The training data the background rows and the occlusion means come from. */
  readonly trainingCsv: string;
  /** The folder of the project's features.py (FEATURES, add_month); without it, the four measurements as they are. */
  readonly featuresDir?: string;
  /** Each row (a predictions-log line, extra fields ignored) with the pickle of the version that answered it. */
  readonly rows: readonly { readonly pickle: string; readonly row: Record<string, unknown> }[];
}

/** The reference explanations of the rows, in their order (one interpreter start for all of them). */
export function explanationReference(options: ExplanationReferenceOptions): Promise<ExplanationReference[]> {
  return pythonJson<ExplanationReference[]>({ args: ['-c', SCRIPT, options.trainingCsv, options.featuresDir ?? ''], input: JSON.stringify(options.rows) });
}
