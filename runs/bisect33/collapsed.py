"""Inspect a collapsed chains run's saved state: python collapsed.py STATE.eqx [fold seed].
Prints Adam's moment sizes against the current gradient, per parameter leaf, and the
spread of the train states H* along the chain (issue 10: why a loss spike's collapse to
the constant predictor is absorbing)."""
import dataclasses
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from hogwild.experiments._table1 import PROTOCOLS
from hogwild.tasks import make_task
from hogwild.train import RunConfig, initial_state
from hogwild.train._run import build_model, load_state, model_spec

path, fold, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
train = dataclasses.replace(PROTOCOLS["reduced"].train_config("chains", seed), epochs=5000)
config = RunConfig("chains", "energy-edge", {"seed": fold}, train)
data = make_task("chains", config.task_config())
spec = model_spec(config, data)
model = build_model(spec, seed)
state, meta = load_state(Path(path), initial_state(model, data, train), spec)
print("epoch", state.epoch, "best", state.best_epoch, "loss", state.history[-1]["train_loss"])
adam = [s for s in jax.tree_util.tree_leaves(state.opt_state, is_leaf=lambda x: hasattr(x, "nu"))
        if hasattr(s, "nu")][0]
print("count", adam.count)
mu_leaves = jax.tree_util.tree_leaves_with_path(adam.mu)
nu_leaves = jax.tree_util.tree_leaves(adam.nu)
for (p, m), v in zip(mu_leaves, nu_leaves, strict=True):
    if m is None or m.size == 0:
        continue
    ratio = float((jnp.abs(m) / (jnp.sqrt(v) + 1e-8)).max())
    print(f"{jax.tree_util.keystr(p)[-48:]:48s} sqrt(nu) {float(jnp.sqrt(v).max()):9.3g} "
          f"|mu| {float(jnp.abs(m).max()):9.3g} |mu|/sqrt(nu) {ratio:7.3g}")
h = np.asarray(state.train_states[0])
print("train H* shape", h.shape, "node 0", h[0], "node 50", h[50], "node 99", h[99])
print("H* spread along chain 0 (max-min per dim):", h[:100].max(0) - h[:100].min(0))
