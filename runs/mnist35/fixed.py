"""Issue 10, MNIST gap: if the paper's 10 agents sat at the SAME pixels in every image (placed once
in the environment), how well could a classifier of their 10 pixel values do? Logistic regression /
small MLP on the task's own images and splits, validation-selected: python fixed.py PLACEMENT_SEED...
Compare: agents redrawn per image (the task as built), logistic regression 12.0 % (oracle.py)."""
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, "runs/mnist34")
from fitloop import fit_selected  # noqa: E402

from hogwild.data import load_mnist  # noqa: E402
from hogwild.tasks._base import split_indices  # noqa: E402
from hogwild.tasks.mnist_terrain import (  # noqa: E402
    MnistTerrainConfig, place_agents, resize_area, select_images)

config = MnistTerrainConfig()
images, labels = load_mnist("train")
sources = select_images(np.asarray(labels), config)
small = resize_area(np.asarray(images)[sources], config.size) / 255.0
y = jnp.asarray((np.asarray(labels)[sources] == config.digits[1]).astype(np.float32))
idx = split_indices(len(sources), config.fractions, config.seed)
print("split sizes", [len(i) for i in idx])

for placement in map(int, sys.argv[1:]):
    coords, _ = place_agents(np.random.default_rng(placement), config)
    x = jnp.asarray(small[:, coords[:, 0], coords[:, 1]])
    splits = {k: (x[i], y[i]) for k, i in zip(("train", "validation", "test"), idx)}
    for hidden in (0, 16):
        key = jax.random.PRNGKey(0)
        if hidden == 0:
            p = {"w": jnp.zeros((10,)), "b": jnp.zeros(())}
            def logits(p, x): return x @ p["w"] + p["b"]
        else:
            k1, k2 = jax.random.split(key)
            p = {"w1": jax.random.normal(k1, (10, hidden)) * 0.1, "b1": jnp.zeros(hidden),
                 "w2": jax.random.normal(k2, (hidden,)) * 0.1, "b2": jnp.zeros(())}
            def logits(p, x): return jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        v, t, tr = fit_selected(p, logits, splits, 0.01, 1e-3, 3000)
        print(f"placement {placement} hidden {hidden}: train {100*tr:.1f} validation {100*v:.1f} test {100*t:.1f}")
