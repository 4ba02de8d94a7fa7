"""MNIST terrain (phi: 3 -> 16 -> HIDDEN, the bottleneck every agent shares): what each agent can tell alone, and what a perfect consensus of agents can
(DeepSets: logit = rho(mean_i phi(x_i)) over the graph's 10 agents; every agent then predicts
that). python deepsets.py NUM_GRAPHS SEED. Validation-selected test error, node-level."""
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hogwild.tasks.mnist_terrain import MnistTerrainConfig, make_mnist_terrain

n, seed = int(sys.argv[1]), int(sys.argv[2])
data = make_mnist_terrain(MnistTerrainConfig(num_graphs=n, seed=seed))
splits = {
    k: (jnp.asarray(np.stack([np.asarray(g.nodes) for g in v])),
        jnp.asarray([float(np.asarray(g.node_targets)[0, 0]) for g in v]))
    for k, v in data.splits().items()
}


def run(pool, hidden=16, lr=0.01, epochs=3000):
    ks = jax.random.split(jax.random.PRNGKey(0), 3)
    p = {"w1": jax.random.normal(ks[0], (3, 16)), "b1": jnp.zeros(16),
         "w2": jax.random.normal(ks[1], (16, hidden)) * 0.3, "b2": jnp.zeros(hidden),
         "w3": jax.random.normal(ks[2], (hidden, 1)) * 0.3, "b3": jnp.zeros(1)}

    def logits(p, x):  # (graphs, agents)
        h = jnp.tanh(jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])
        if pool:
            h = jnp.broadcast_to(h.mean(1, keepdims=True), h.shape)
        return (h @ p["w3"] + p["b3"])[..., 0]

    def loss(p, x, y):
        return optax.sigmoid_binary_cross_entropy(logits(p, x), y[:, None]).mean()

    opt = optax.adamw(lr, weight_decay=1e-4)
    s = opt.init(p)

    @jax.jit
    def step(p, s):
        g = jax.grad(loss)(p, *splits["train"])
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    def err(p, split):
        x, y = splits[split]
        return float(jnp.mean((logits(p, x) > 0) != (y[:, None] > 0.5)))

    best = (9, None, None)
    for e in range(epochs):
        p, s = step(p, s)
        if e % 50 == 0:
            v = err(p, "validation")
            if v < best[0]:
                best = (v, err(p, "test"), err(p, "train"))
    return best


hidden = int(sys.argv[3]) if len(sys.argv) > 3 else 16
for pool in (False, True):
    v, t, tr = run(pool, hidden)
    print(f"hidden {hidden}, {'consensus (mean over agents)' if pool else 'each agent alone'}: "
          f"train {100*tr:.1f}  validation {100*v:.1f}  test {100*t:.1f}")
