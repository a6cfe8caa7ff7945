/** The commented mloop.yaml that `mloop init` writes: a working starting point, every key explained. */
export const MLOOP_YAML_TEMPLATE = `# mloop.yaml — how this project's data becomes a model, and where the model goes.
# mloop reads this file; the Problems panel points at any mistake by line and column.
version: 1

# Data your pipelines read. mloop versions each by content (a new version only when bytes change),
# profiles it, and pins the exact version every run used.
datasets:
  weather:
    path: data/seattle-weather.csv   # a file, a glob or a directory (CSV, TSV, JSONL, Parquet)
    # rules:                          # validation before a run may start
    #   columns:
    #     temp_max: { type: number, min: -30, max: 50 }
    #     weather: { allowed: [drizzle, rain, sun, snow, fog] }

# How to train. "mloop: Train…" (or the ▶ Train lens above a pipeline) runs one;
# \${params.x} is replaced by the value of x, which you can override per run.
pipelines:
  train:
    command: python train.py --n-estimators \${params.n_estimators}
    params:
      n_estimators: 200
    inputs: [weather]
    experiment: weather
    # model:                          # register the trained artifact as a model version
    #   name: weather-clf
    #   path: model.pkl

# models:                             # release gate per model, checked before promotion
#   weather-clf:
#     gate:
#       - accuracy >= 0.8
`;
