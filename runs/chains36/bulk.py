"""The linearised energy in the bulk of a trained chains model's validation chain (issue 10):
python bulk.py RUN [NODE].  At H* and a node far from the head, the 2x2 on-site block D and
coupling block C of the Hessian of E; a perturbation decays per hop by the largest root r < 1
of det(C r^2 + D r + C) = 0 (transfer-matrix of a uniform chain), and the uniform mode's
curvature D + 2C (its smallest eigenvalue is at least beta = 0.04) against the coupling -C."""
import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
from hogwild.graph import batch_graphs  # noqa: E402
from hogwild.solve import embed  # noqa: E402
from hogwild.train._run import load_run  # noqa: E402

run = sys.argv[1]
node = int(sys.argv[2]) if len(sys.argv) > 2 else 70
config, data, model = load_run(run)
graph = batch_graphs(data.validation[:1], pad=False)
h = embed(model, graph).value
hess = np.asarray(jax.hessian(lambda z: model.energy(graph, z))(h))
D, C = hess[node, :, node, :], hess[node, :, node + 1, :]
# roots of det(C r^2 + D r + C): companion of the quadratic eigenvalue problem
Ci = np.linalg.inv(C)
comp = np.block([[np.zeros((2, 2)), np.eye(2)], [-np.eye(2), -Ci @ D]])
roots = np.linalg.eigvals(comp)
print(np.round(np.abs(roots), 4)); r = max((abs(x) for x in roots if abs(x) < 1 - 1e-9), default=float("nan"))
print(run.split("/")[-1], "h", np.round(np.asarray(h[node]), 2),
      "eig(D+2C)", np.round(np.linalg.eigvalsh((D + 2 * C + (D + 2 * C).T) / 2), 4),
      "eig(-C sym)", np.round(np.linalg.eigvalsh(-(C + C.T) / 2), 4),
      f"r {r:.4f}", "K1", round(float(np.linalg.eigvalsh(hess.reshape(2 * len(h), 2 * len(h))).max()), 1))
