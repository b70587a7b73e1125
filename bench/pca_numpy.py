"""numpy baseline for bench/pca.bench.ts: float64 centred Gram + eigh, timed inside Python.

usage: pca_numpy.py FILE n layers d dtype(float32|bfloat16) runs warmups
FILE holds n x layers x d values (row-major, little-endian). Prints one JSON line:
{"times_ms": [...per run, all layers...], "blas": "...", "threads": ...}
"""
import json, os, sys, time
import numpy as np

path, n, L, d, dtype, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
warmups = int(sys.argv[7]) if len(sys.argv) > 7 else 1
raw = np.fromfile(path, dtype=np.uint16 if dtype == "bfloat16" else np.float32).reshape(n, L, d)


def layer(l):
    x = raw[:, l, :]
    if dtype == "bfloat16":
        x = (x.astype(np.uint32) << 16).view(np.float32)
    x = x.astype(np.float64)
    xc = x - x.mean(axis=0)
    g = xc @ xc.T
    w, v = np.linalg.eigh(g)
    return w[-1]


def once():
    t = time.perf_counter()
    for l in range(L):
        layer(l)
    return (time.perf_counter() - t) * 1000


for _ in range(warmups):
    once()
times = [once() for _ in range(runs)]
blas = ""
try:
    cfg = np.show_config(mode="dicts")
    b = cfg.get("Build Dependencies", {}).get("blas", {})
    blas = f"{b.get('name', '')} {b.get('version', '')} {b.get('openblas configuration', '')}".strip()
except Exception as e:  # older numpy
    blas = repr(e)
print(json.dumps({"times_ms": times, "blas": blas, "numpy": np.__version__,
                  "threads": os.environ.get("OPENBLAS_NUM_THREADS")}))
