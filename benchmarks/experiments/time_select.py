"""Times one `MetaModelSelector` search of `keras-meta bench select` alone, per policy, in fresh processes.

Used to tell a slower policy from a slower host when the benchmark's wall times move
(docs/benchmarks.md, "Results with the default policy `meta-v19`"): the search is
breast cancer, seed 3, the benchmark's budget, on one TensorFlow thread.

Usage:
    python benchmarks/experiments/time_select.py meta-v18 default meta-v18 default
"""

import subprocess
import sys

SEARCH = """
import json, sys
from keras_meta.bench._environment import use_one_thread
use_one_thread()
from keras_meta.bench.selection import run_search
job = {"task": "breast_cancer", "method": "meta", "seed": 3, "max_epochs": 15, "pool_size": 16, "policy": sys.argv[1]}
record = run_search(job)
print(json.dumps({"policy": sys.argv[1], "seconds": record["seconds"], "trials": len(record["trials"]),
                  "epochs": record["epochs"]}))
"""

if __name__ == "__main__":
    for policy in sys.argv[1:]:
        finished = subprocess.run([sys.executable, "-c", SEARCH, policy], capture_output=True, text=True)
        lines = finished.stdout.strip().splitlines()
        print(lines[-1] if lines else finished.stderr[-2000:], flush=True)
