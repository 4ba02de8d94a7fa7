"""Study (issue 10): does the PICNN's last-layer y initialisation decide whether a chains
energy-edge run leaves the ~30 % plateau?  Paper protocol, chains fold F, parameter seed S,
with the last layer's y weights of the message PICNNs (WHICH=message) or of every PICNN
(WHICH=all) initialised at scale Y instead of the library's 1e-3:
python init.py OUT EPOCHS SEED Y WHICH [FOLD]."""
import dataclasses
import sys

import equinox as eqx
import jax.numpy as jnp

import hogwild.models._energy as energy
import hogwild.nn as nn
from hogwild.experiments._table1 import PROTOCOLS
from hogwild.train import RunConfig, train_run

out, epochs, seed, scale, which = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
fold = int(sys.argv[6]) if len(sys.argv) > 6 else 0


def picnn(*args, monotone=False, **kwargs):
    net = nn.PICNN(*args, monotone=monotone, **kwargs)
    if which == "all" or monotone is True:  # message and self-message PICNNs: monotone=True
        last = net.z_layers[-1]
        mask = jnp.asarray(last.monotone, bool)[None, :]
        raw = jnp.where(mask, last.y_raw + jnp.log(scale / 1e-3), last.y_raw * scale / 1e-3)
        net = eqx.tree_at(lambda n: n.z_layers[-1].y_raw, net, raw)
    return net


energy.PICNN = picnn
train = dataclasses.replace(PROTOCOLS["paper"].train_config("chains", seed), epochs=epochs)
print(train, flush=True)
train_run(RunConfig("chains", "energy-edge", {"seed": fold}, train), out)
