"""Independent reference for mloop's drift statistics: scipy / numpy on the same samples.

Reads one JSON document on stdin: {"cases": [{"kind": ..., ...}, ...]} and prints
{"results": [...]} with one entry per case. Used by test/unit/drift.*.test.ts; rerun by hand with
    python3 test/drift/scipy_peer.py < cases.json
"""
import json
import math
import sys

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon


def num(x):
    x = float(x)
    return x if math.isfinite(x) else str(x)


def binned(ref, cur, binning):
    kind = binning["kind"]
    if kind == "quantiles":
        q = np.quantile(ref, np.linspace(0, 1, binning["count"] + 1))
        edges = [q[0]]
        for v in q[1:]:
            if v > edges[-1]:
                edges.append(v)
        if len(edges) == 1:
            edges.append(edges[0])
        edges = np.array(edges)
    elif kind == "sturges":
        edges = np.histogram_bin_edges(ref, bins="sturges")
    elif kind == "width":
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=binning["count"])
    else:
        edges = np.array(binning["edges"], dtype=float)
    nbins = max(1, len(edges) - 1)
    inner = edges[1:-1]

    def counts(a):
        if kind == "width":
            return np.histogram(a, bins=edges)[0]
        idx = np.searchsorted(inner, a, side="right")
        return np.bincount(idx, minlength=nbins)[:nbins]

    return edges, counts(ref).astype(float), counts(cur).astype(float)


def psi(r, c):
    r = r / r.sum()
    c = c / c.sum()
    r = np.where(r == 0, 1e-4, r)
    c = np.where(c == 0, 1e-4, c)
    return float(np.sum((c - r) * np.log(c / r)))


def run(case):
    kind = case["kind"]
    if kind == "numeric":
        a = np.asarray(case["reference"], dtype=float)
        b = np.asarray(case["current"], dtype=float)
        ks = stats.ks_2samp(a, b, method="auto")
        std = float(np.std(a))
        w = stats.wasserstein_distance(a, b)
        out = {"ks_statistic": num(ks.statistic), "ks_p": num(ks.pvalue), "wasserstein": num(w), "std": num(std)}
        for name, binning in case.get("binnings", {}).items():
            edges, r, c = binned(a, b, binning)
            out["psi_" + name] = psi(r, c)
            out["js_" + name] = float(jensenshannon(r, c))
            out["edges_" + name] = [float(e) for e in edges]
        return out
    if kind == "categorical":
        ref, cur = case["reference"], case["current"]
        keys = sorted(set(ref) | set(cur))
        table = np.array([[ref.get(k, 0) for k in keys], [cur.get(k, 0) for k in keys]], dtype=float)
        if len(keys) > 1:
            chi = stats.chi2_contingency(table, correction=False)
            chi_stat, chi_p = float(chi.statistic), float(chi.pvalue)
        else:
            chi_stat, chi_p = 0.0, 1.0
        return {
            "chi_statistic": chi_stat,
            "chi_p": chi_p,
            "js": float(jensenshannon(table[0], table[1])),
            "psi": psi(table[0], table[1]),
        }
    if kind == "kstwo_sf":
        return {"sf": [float(stats.kstwo.sf(x, n)) for n, x in case["points"]]}
    if kind == "smirnov":
        from scipy import special
        return {"sf": [float(special.smirnov(n, x)) for n, x in case["points"]]}
    if kind == "chi2_sf":
        return {"sf": [float(stats.chi2.sf(x, k)) for k, x in case["points"]]}
    raise ValueError("unknown case kind " + kind)


def main():
    cases = json.load(sys.stdin)["cases"]
    json.dump({"results": [run(c) for c in cases]}, sys.stdout)


if __name__ == "__main__":
    main()
