"""How much of the MNIST terrain label do 10 random agents carry? A global classifier that sees
every agent at once (its 10x10 'sparse image': pixel value and a mask where agents sit) trained
by logistic regression / a small MLP on the task's own splits: python oracle.py NUM_GRAPHS SEED.
Its validation-selected test error bounds from below what a GNN whose nodes must agree can hope
for from the same data (issue 10, MNIST gap)."""
import sys

import jax
import jax.numpy as jnp
import numpy as np

from fitloop import fit_selected

from hogwild.tasks.mnist_terrain import MnistTerrainConfig, make_mnist_terrain

n, seed = int(sys.argv[1]), int(sys.argv[2])
data = make_mnist_terrain(MnistTerrainConfig(num_graphs=n, seed=seed))


def features(graphs):
    out = []
    for g in graphs:
        x = np.asarray(g.nodes)
        img, mask = np.zeros((10, 10)), np.zeros((10, 10))
        r, c = np.rint(x[:, 0] * 9).astype(int), np.rint(x[:, 1] * 9).astype(int)
        img[r, c], mask[r, c] = x[:, 2], 1.0
        out.append(np.concatenate([img.ravel(), mask.ravel()]))
    return jnp.asarray(np.array(out)), jnp.asarray([float(np.asarray(g.node_targets)[0, 0]) for g in graphs])


splits = {k: features(v) for k, v in data.splits().items()}
print({k: int(v[0].shape[0]) for k, v in splits.items()})


def run(hidden, lr=0.01, epochs=3000, wd=1e-3):
    key = jax.random.PRNGKey(0)
    k1, k2 = jax.random.split(key)
    p = {"w1": jax.random.normal(k1, (200, hidden)) * 0.1, "b1": jnp.zeros(hidden),
         "w2": jax.random.normal(k2, (hidden, 1)) * 0.1, "b2": jnp.zeros(1)}

    def logits(p, x):
        return (jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])[:, 0]

    return fit_selected(p, logits, splits, lr, wd, epochs)[:2]


for hidden in (1, 16, 64):
    v, t = run(hidden)
    print(f"hidden {hidden}: validation {100*v:.1f}  test {100*t:.1f}")
