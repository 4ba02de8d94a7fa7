"""Study (issue 10): the paper's z gate (Appendix B: z ∘ [W_zu u + b_z]_+, a ReLU) instead of
the library's softplus, in every PICNN layer; paper protocol, chains energy-edge, fold F,
parameter seed S, same initial parameters: python relugate.py OUT EPOCHS SEED [FOLD]."""
import dataclasses
import sys

import jax
import jax.numpy as jnp

import hogwild.nn as nn
from hogwild.experiments._table1 import PROTOCOLS
from hogwild.train import RunConfig, train_run

out, epochs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fold = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def gates(self, u):
    mask = jnp.asarray(self.monotone, bool)
    gate_y = self.y_gate(u)
    gate_y = jnp.where(mask, jax.nn.softplus(gate_y), gate_y)
    return jax.nn.relu(self.z_gate(u)), gate_y, self.u_lin(u)


nn.PICNNLayer.gates = gates
train = dataclasses.replace(PROTOCOLS["paper"].train_config("chains", seed), epochs=epochs)
print(train, flush=True)
train_run(RunConfig("chains", "energy-edge", {"seed": fold}, train), out)
