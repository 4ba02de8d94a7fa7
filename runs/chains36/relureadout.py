"""Study (issue 10): the readout MLP (4, 4, 1) with ReLU between layers instead of the
library's tanh (the paper does not state it). Paper protocol, chains energy-edge, fold F,
parameter seed S, same initial parameters: python relureadout.py OUT EPOCHS SEED [FOLD]."""
import dataclasses
import sys

import jax

import hogwild.nn as nn
from hogwild.experiments._table1 import PROTOCOLS
from hogwild.train import RunConfig, train_run

out, epochs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fold = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def call(self, x):
    for layer in self.layers[:-1]:
        x = jax.nn.relu(layer(x))
    return self.layers[-1](x)


nn.MLP.__call__ = call
train = dataclasses.replace(PROTOCOLS["paper"].train_config("chains", seed), epochs=epochs)
print(train, flush=True)
train_run(RunConfig("chains", "energy-edge", {"seed": fold}, train), out)
