"""Drift benchmark on flights-3m.parquet: mloop drift against two peers computing the same four statistics,
  - pandas + scipy (pandas_scipy_peer.py): the minimal script, the strong peer;
  - Evidently 0.7 DataDriftPreset (evidently_peer.py): the tool whose defaults `auto` follows.
Also mloop against a stored reference profile (`mloop-profile`: the reference profiled once by `mloop datasets add`
in a scratch project before any clock, its file then deleted, so only the current file is read; histogram
distances, so its values are not Evidently's).

The file's first half is the reference and the second half the current data (written once as two
Parquet files with pyarrow before any clock starts). Each tool runs in its own child process, whole
process timed (start, imports, reads, statistics, output; the same rule for all three), wall and CPU
time and peak RSS from wait4. The three run interleaved, run by run, with the load average after each.
Prints a table, wall and CPU ratios, the per-column values and verdicts, and exits 1 when a verdict
differs or the script's values are not Evidently's.

    source scripts/node-env.sh && node scripts/build.mjs
    python3 -m venv --system-site-packages .venv && .venv/bin/pip install evidently==0.7.23 "pandas<3"
    python3 bench/drift/driftBench.py [--evidently-python .venv/bin/python] [--runs 5]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FLIGHTS = os.path.join(ROOT, "node_modules", "vega-datasets", "data", "flights-3m.parquet")
EVIDENTLY_METHOD = {"Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon", "K-S p_value": "ks", "chi-square p_value": "chisquare", "PSI": "psi"}


def run_with_rusage(args, env=None):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        out_fd = os.open(args_out_path(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out_fd, 1)
        err_fd = os.open(args_out_path() + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(err_fd, 2)
        try:
            os.execvpe(args[0], args, env or os.environ)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(args_out_path()) as f:
        out = f.read()
    with open(args_out_path() + ".err") as f:
        err = f.read()
    return seconds, usage.ru_maxrss / 1024, out, err, code, usage.ru_utime + usage.ru_stime


_OUT = None


def args_out_path():
    return _OUT


def main():
    global _OUT
    parser = argparse.ArgumentParser()
    parser.add_argument("--evidently-python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    parser.add_argument("--node", default=shutil.which("node"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--cache-rows", action="store_true", help="also time the stored-profile check with a cold compile cache (a new NODE_COMPILE_CACHE folder each run) and with the cache off (NODE_DISABLE_COMPILE_CACHE=1)")
    a = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mloop-bench-drift-")
    _OUT = os.path.join(work, "child.out")
    table = pq.read_table(FLIGHTS)
    half = table.num_rows // 2
    ref, cur = os.path.join(work, "reference.parquet"), os.path.join(work, "current.parquet")
    pq.write_table(table.slice(0, half), ref)
    pq.write_table(table.slice(half), cur)
    del table
    print(f"flights-3m.parquet: {half:,} reference rows, {half:,} current rows; node {subprocess.check_output([a.node, '-v'], text=True).strip()}", flush=True)
    mloop_cmd = [a.node, os.path.join(ROOT, "dist", "cli.js"), "drift", "--reference", ref, "--current", cur, "--json", "--no-store"]
    # a stored reference profile: `mloop datasets add` profiles a copy of the reference in a scratch project, then the
    # copy is deleted, so `mloop drift --reference reference` compares against the stored histograms without reading it
    project = os.path.join(work, "project")
    os.makedirs(os.path.join(project, "data"))
    cli = [a.node, os.path.join(ROOT, "dist", "cli.js"), "-C", project]
    subprocess.run(cli[:2] + ["init", project], check=True, capture_output=True)
    shutil.copy(ref, os.path.join(project, "data", "reference.parquet"))
    subprocess.run(cli + ["datasets", "add", "reference", "data/reference.parquet"], check=True, capture_output=True, cwd=project)
    os.remove(os.path.join(project, "data", "reference.parquet"))
    profile_cmd = cli + ["drift", "--reference", "reference", "--current", cur, "--json", "--no-store"]
    script_cmd = [sys.executable, os.path.join(ROOT, "bench", "drift", "pandas_scipy_peer.py"), ref, cur]
    peer_cmd = [a.evidently_python, os.path.join(ROOT, "bench", "drift", "evidently_peer.py"), ref, cur]
    # mloop's CLI keeps Node's compile cache (V8 code of its modules) in NODE_COMPILE_CACHE, here a folder of its own,
    # warmed by one untimed run of each command first: the timed "mloop" rows are what a user sees from the second run
    # on (the Python peers run with their .pyc files compiled, as pip leaves them). --cache-rows adds the cold and
    # cache-off variants of the stored-profile check.
    cache = os.path.join(work, "node-compile-cache")
    base_env = {**os.environ, "MLOOP_STORE": "", "NODE_COMPILE_CACHE": cache}
    base_env.pop("NODE_DISABLE_COMPILE_CACHE", None)
    for cmd in (mloop_cmd, profile_cmd):
        subprocess.run(cmd, check=False, capture_output=True, env=base_env)
    results = {"mloop": [], "mloop-profile": [], "pandas+scipy": [], "evidently": []}
    runs = [("mloop", mloop_cmd), ("mloop-profile", profile_cmd), ("pandas+scipy", script_cmd), ("evidently", peer_cmd)]
    if a.cache_rows:
        results.update({"mloop-profile-cold": [], "mloop-profile-nocache": []})
        runs[2:2] = [("mloop-profile-cold", profile_cmd), ("mloop-profile-nocache", profile_cmd)]
    outputs = {}
    for i in range(a.runs):
        for name, cmd in runs:
            if name == "evidently" and a.skip_evidently:
                continue
            env = base_env
            if name == "mloop-profile-cold":
                env = {**base_env, "NODE_COMPILE_CACHE": os.path.join(work, f"cold-cache-{i}")}
            elif name == "mloop-profile-nocache":
                env = {**base_env, "NODE_DISABLE_COMPILE_CACHE": "1"}
            seconds, rss, out, err, code, cpu = run_with_rusage(cmd, env)
            if code not in (0, 3):
                print(f"{name} failed (exit {code}):\n{err}", file=sys.stderr)
                sys.exit(1)
            load = os.getloadavg()[0]
            results[name].append((seconds, rss, cpu, load))
            outputs[name] = json.loads(out)
            print(f"run {i + 1} {name:12s} {seconds:8.2f} s  CPU {cpu:8.2f} s  peak RSS {rss:8.0f} MB  (load {load:.1f})", flush=True)
    print()
    print("| tool | median wall time | runs (s) | median CPU time (user+sys) | runs (s) | median peak RSS | load after each run |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        if not rows:
            continue
        print(f"| {name} | {statistics.median(r[0] for r in rows):.2f} s | {' · '.join(f'{r[0]:.2f}' for r in rows)} | {statistics.median(r[2] for r in rows):.2f} s | {' · '.join(f'{r[2]:.2f}' for r in rows)} | {statistics.median(r[1] for r in rows):.0f} MB | {' · '.join(f'{r[3]:.1f}' for r in rows)} |")
    print()
    for name, base in (("pandas+scipy", "mloop"), ("evidently", "mloop"), ("pandas+scipy", "mloop-profile"), ("pandas+scipy", "mloop-profile-cold"), ("pandas+scipy", "mloop-profile-nocache"), ("mloop-profile-nocache", "mloop-profile")):
        if results.get(name) and results.get(base):
            ratio = statistics.median(r[0] for r in results[name]) / statistics.median(r[0] for r in results[base])
            cpu_ratio = statistics.median(r[2] for r in results[name]) / statistics.median(r[2] for r in results[base])
            print(f"{name} / {base}: {ratio:.1f}x wall, {cpu_ratio:.1f}x CPU (medians); per run: " + " · ".join(f"{p[0] / m[0]:.1f}x/{p[2] / m[2]:.1f}x" for p, m in zip(results[name], results[base])))
    stored = outputs["mloop-profile"]
    if stored["reference"]["kind"] != "dataset-profile":
        print(f"the stored-profile check read {stored['reference']['kind']}", file=sys.stderr)
        sys.exit(1)
    for name in ("mloop-profile-cold", "mloop-profile-nocache"):
        if name in outputs and outputs[name]["columns"] != stored["columns"]:
            print(f"{name}'s columns differ from the warm run's", file=sys.stderr)
            sys.exit(1)
    print("mloop against the stored profile (histogram distances): " + ", ".join(f"{c['column']} {c['method']} {c['statistic']:.4g} drift={c['drifted']}" for c in stored["columns"] if c["status"] == "ok"))
    print(f"pandas+scipy after its imports: {outputs['pandas+scipy']['seconds_after_imports']:.2f} s (last run)")
    mloop = {c["column"]: c for c in outputs["mloop"]["columns"]}
    same = True
    print("\n| column | mloop method | mloop statistic | mloop drift | Evidently method | Evidently value | Evidently drift |")
    print("|---|---|---|---|---|---|---|")
    peer = outputs.get("evidently", {"columns": {}})["columns"]
    for column in sorted(set(mloop) | set(peer)):
        m = mloop.get(column)
        e = peer.get(column)
        m_drift = None if not m or m["status"] != "ok" else m["drifted"]
        e_method = EVIDENTLY_METHOD.get(e["method"], e["method"]) if e else None
        e_drift = None
        if e:
            e_drift = e["value"] < e["threshold"] if e_method in ("ks", "chisquare") else e["value"] >= e["threshold"]
        if e and m_drift != e_drift:
            same = False
        m_stat = f"{m['statistic']:.6g}" if m and m.get("statistic") is not None else (m.get("reason", "—") if m else "—")
        print(f"| {column} | {m['method'] if m else '—'} | {m_stat} | {m_drift} | {e_method or '—'} | {e['value']:.6g} | {e_drift} |" if e else f"| {column} | {m['method'] if m else '—'} | {m_stat} | {m_drift} | — | — | — |")
    print(f"\ndataset drift share: mloop {outputs['mloop']['drift_share']:.3f}" + (f", Evidently {outputs['evidently']['drift_share']:.3f}" if "evidently" in outputs else ""))
    shutil.rmtree(work, ignore_errors=True)
    script = outputs["pandas+scipy"]["columns"]
    print("\n| column | pandas+scipy method | value | drift |")
    print("|---|---|---|---|")
    for column, s in sorted(script.items()):
        s_drift = s["value"] >= s["threshold"]
        print(f"| {column} | {EVIDENTLY_METHOD[s['method']]} | {s['value']:.6g} | {s_drift} |")
        m = mloop.get(column)
        if not m or m["status"] != "ok" or m["drifted"] != s_drift or m["method"] != EVIDENTLY_METHOD[s["method"]]:
            same = False
        elif abs(m["statistic"] - s["value"]) > 1e-9 * abs(s["value"]):
            print(f"mloop's {column} {m['statistic']} is not pandas+scipy's {s['value']}", file=sys.stderr)
            sys.exit(1)
        e = peer.get(column)
        if e and (e["method"] != s["method"] or abs(e["value"] - s["value"]) > 1e-9 * abs(e["value"])):
            print(f"pandas+scipy's {column} is not Evidently's: {s} vs {e}", file=sys.stderr)
            sys.exit(1)
    if "evidently" in outputs and set(script) != set(peer):
        print(f"pandas+scipy scores {sorted(script)}, Evidently {sorted(peer)}", file=sys.stderr)
        sys.exit(1)
    if not same:
        print("verdicts differ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
