"""Study (issue 10): the PICNNs' nonnegative weights parameterised as max(w, 0) (a weight
that moves by ~lr per Adam step, as in ICNNs with clipped weights) instead of exp(raw)
(moves by ~lr relative), from the same initial weights. Paper protocol, chains energy-edge,
fold F, parameter seed S: python projected.py OUT EPOCHS SEED [FOLD]."""
import dataclasses
import sys

import equinox as eqx
import jax
import jax.numpy as jnp

import hogwild.nn as nn
import hogwild.train._run as run_module
from hogwild.experiments._table1 import PROTOCOLS
from hogwild.train import RunConfig, train_run

out, epochs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fold = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def apply(self, gates, z, y):
    gate_z, gate_y, u_term = gates
    mask = jnp.asarray(self.monotone, bool)
    w_y = jnp.where(mask[None, :], jnp.maximum(self.y_raw, 0.0), self.y_raw)
    out = w_y @ (y * gate_y) + u_term
    if z.shape[0]:
        out = out + jnp.maximum(self.z_raw, 0.0) @ (z * gate_z)
    return out


nn.PICNNLayer.apply = apply
build = run_module.build_model


def _weights(layer):
    """``layer`` with its log-weights replaced by the weights they stand for."""
    mask = jnp.asarray(layer.monotone, bool)[None, :]
    y = jnp.where(mask, jnp.exp(layer.y_raw), layer.y_raw)
    return eqx.tree_at(lambda l: (l.z_raw, l.y_raw), layer, (jnp.exp(layer.z_raw), y))


def build_projected(spec, seed):
    """The library's initial model with every log-weight replaced by its weight."""
    model = build(spec, seed)
    is_layer = lambda x: isinstance(x, nn.PICNNLayer)  # noqa: E731
    layers = lambda m: [x for x in jax.tree_util.tree_leaves(m, is_leaf=is_layer) if is_layer(x)]  # noqa: E731
    return eqx.tree_at(layers, model, replace_fn=_weights)


run_module.build_model = build_projected
train = dataclasses.replace(PROTOCOLS["paper"].train_config("chains", seed), epochs=epochs)
print(train, flush=True)
train_run(RunConfig("chains", "energy-edge", {"seed": fold}, train), out)
