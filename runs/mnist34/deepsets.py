"""MNIST terrain: what each agent can tell alone, and what a perfect consensus of agents can
(DeepSets: logit = rho(mean_i phi(x_i)) over the graph's 10 agents, phi: 3 -> 16 -> HIDDEN, the
state every agent shares; every agent then predicts that). python deepsets.py NUM_GRAPHS SEED
[HIDDEN (16)]. Validation-selected test error, node-level."""
import sys

import jax
import jax.numpy as jnp
import numpy as np

from fitloop import fit_selected

from hogwild.tasks.mnist_terrain import MnistTerrainConfig, make_mnist_terrain

n, seed = int(sys.argv[1]), int(sys.argv[2])
data = make_mnist_terrain(MnistTerrainConfig(num_graphs=n, seed=seed))
splits = {
    k: (jnp.asarray(np.stack([np.asarray(g.nodes) for g in v])),
        jnp.asarray([[float(np.asarray(g.node_targets)[0, 0])] for g in v]))
    for k, v in data.splits().items()
}


def run(pool, hidden, lr=0.01, epochs=3000):
    ks = jax.random.split(jax.random.PRNGKey(0), 3)
    p = {"w1": jax.random.normal(ks[0], (3, 16)), "b1": jnp.zeros(16),
         "w2": jax.random.normal(ks[1], (16, hidden)) * 0.3, "b2": jnp.zeros(hidden),
         "w3": jax.random.normal(ks[2], (hidden, 1)) * 0.3, "b3": jnp.zeros(1)}

    def logits(p, x):  # (graphs, agents)
        h = jnp.tanh(jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])
        if pool:
            h = jnp.broadcast_to(h.mean(1, keepdims=True), h.shape)
        return (h @ p["w3"] + p["b3"])[..., 0]

    return fit_selected(p, logits, splits, lr, 1e-4, epochs)


hidden = int(sys.argv[3]) if len(sys.argv) > 3 else 16
for pool in (False, True):
    v, t, tr = run(pool, hidden)
    print(f"hidden {hidden}, {'consensus (mean over agents)' if pool else 'each agent alone'}: "
          f"train {100*tr:.1f}  validation {100*v:.1f}  test {100*t:.1f}")
