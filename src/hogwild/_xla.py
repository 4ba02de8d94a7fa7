"""The XLA flag `import hogwild` adds to ``XLA_FLAGS``: XLA's older CPU fusion emitters.

With XLA's own CPU defaults (jaxlib 0.10.2), `hogwild.asynchrony.certify` of a fresh
edge-wise energy GNN on 64 chains of 100 nodes in float32 never returned in a process free
to use both CPUs of a 2-core machine: every XLA thread waiting, no CPU used, reproduced
three times out of three (it took 16–24 s pinned to one CPU, or with the flag below).
``--xla_cpu_use_fusion_emitters=false`` compiles fusions with XLA's older emitters instead
of its MLIR ones, and the same program returns. Measured side by side, with the rest of
what the flag changes (compile time, training and simulator steps), by ``python
bench/xla_flags.py`` (README, "Benchmarks").

The flag is added only where the user's ``XLA_FLAGS`` does not set it already, before JAX
starts its backend; ``HOGWILD_XLA_DEFAULTS=0`` leaves ``XLA_FLAGS`` alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULTS = {"xla_cpu_use_fusion_emitters": "false"}
#: One part of LLVM code per program instead of parts compiled in parallel: for processes
#: pinned to one CPU, where the parts only queue (the test workers, `tests/conftest.py`).
SERIAL_CODEGEN = {"xla_cpu_parallel_codegen_split_count": "1"}


def with_defaults(flags: str, defaults: Mapping[str, str] = DEFAULTS) -> str:
    """``flags`` (an ``XLA_FLAGS`` value) plus each of ``defaults`` it does not set."""
    present = {word.lstrip("-").split("=")[0] for word in flags.split()}
    extra = [f"--{name}={value}" for name, value in defaults.items() if name not in present]
    return " ".join([flags.strip(), *extra]).strip()


def xla_flags(environ: Mapping[str, str] = os.environ) -> str:
    """The ``XLA_FLAGS`` to run with: ``environ``'s plus `DEFAULTS`, or ``environ``'s
    alone when ``HOGWILD_XLA_DEFAULTS=0``."""
    flags = environ.get("XLA_FLAGS", "")
    if environ.get("HOGWILD_XLA_DEFAULTS", "1").strip().lower() in ("0", "false", "no"):
        return flags
    return with_defaults(flags)
