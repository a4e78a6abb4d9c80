"""oO-bench: the stationary (S1) and simulator (S2) tracks.

BLAS is pinned to one thread here, before any track imports numpy: OpenBLAS reads the variable once,
when it loads, so setting it inside a track's main() came too late, and the protocol measures
decisions/s on one core.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
