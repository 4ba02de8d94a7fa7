"""The XLA flag `import hogwild` adds: only where the user has not set them, never twice,
and none with ``HOGWILD_XLA_DEFAULTS=0``."""

import os
import subprocess
import sys

from hogwild._xla import DEFAULTS, with_defaults, xla_flags


def _names(flags: str) -> list[str]:
    return [word.lstrip("-").split("=")[0] for word in flags.split()]


def test_default_flags_are_added_once_and_the_users_own_kept():
    flags = with_defaults("--xla_cpu_multi_thread_eigen=false")
    assert flags.startswith("--xla_cpu_multi_thread_eigen=false ")
    assert sorted(_names(flags)) == sorted(["xla_cpu_multi_thread_eigen", *DEFAULTS])
    assert with_defaults(flags) == flags  # applied twice: unchanged
    split = with_defaults("", {"xla_cpu_parallel_codegen_split_count": "1"})
    assert split == "--xla_cpu_parallel_codegen_split_count=1"
    mine = "--xla_cpu_use_fusion_emitters=true"
    assert "--xla_cpu_use_fusion_emitters=true" in with_defaults(mine)
    assert _names(with_defaults(mine)).count("xla_cpu_use_fusion_emitters") == 1


def test_the_defaults_can_be_switched_off():
    environ = {"HOGWILD_XLA_DEFAULTS": "0", "XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    assert xla_flags(environ) == "--xla_dump_to=/tmp/x"
    assert sorted(_names(xla_flags({}))) == sorted(DEFAULTS)


def test_importing_hogwild_sets_the_flags_before_jax_starts():
    """In a fresh interpreter: the flags are in the environment JAX's backend reads, and a
    computation runs under them (XLA aborts on a flag it does not know: a flag renamed in
    a later jaxlib fails here)."""
    code = "import hogwild, jax.numpy as jnp, os; print(float(jnp.ones(3).sum())); "
    code += "print(os.environ['XLA_FLAGS'])"
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "HOGWILD_XLA_DEFAULTS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    total, flags = out.stdout.splitlines()
    assert float(total) == 3.0 and sorted(_names(flags)) == sorted(DEFAULTS)
