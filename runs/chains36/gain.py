"""Is the chains plateau a local minimum along the coupling's strength? (issue 10)
python gain.py RUN...: scales the neighbour-message PICNNs' output by c (their last layer:
z and y weights through their logs, the free part's weights and bias linearly; convexity and
monotonicity kept), re-solves H* on the training chains and prints the training loss and
error against c, and K1 of one chain."""
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
from hogwild.graph import batch_graphs  # noqa: E402
from hogwild.solve import embed  # noqa: E402
from hogwild.train._run import load_run  # noqa: E402


def scaled(model, c):
    def one(net):
        last = net.z_layers[-1]
        mono = jnp.asarray(last.monotone, bool)[None, :]
        last = eqx.tree_at(lambda l: (l.z_raw, l.y_raw, l.u_lin.weight, l.u_lin.bias), last,
                           tuple(x.astype(last.z_raw.dtype) for x in (
                               last.z_raw + np.log(c),
                               jnp.where(mono, last.y_raw + np.log(c), last.y_raw * c),
                               last.u_lin.weight * c, last.u_lin.bias * c)))
        return eqx.tree_at(lambda n: n.z_layers[-1], net, last)
    return eqx.tree_at(lambda m: m.message, model, tuple(one(n) for n in model.message))


for run in sys.argv[1:]:
    config, data, model = load_run(run)
    graph = batch_graphs(data.train, pad=False)
    y = np.concatenate([g.node_targets[:, -1] for g in data.train])
    out = []
    for c in (0.5, 0.8, 1.0, 1.25, 1.6, 2.0, 3.0):
        m = scaled(model, c)
        h = embed(m, graph).value
        z = np.asarray(m.readout(graph, h))[: len(y), -1]
        loss = float(np.mean(np.logaddexp(0, z) - y * z))
        one = batch_graphs(data.train[:1], pad=False)
        hess = jax.hessian(lambda q: m.energy(one, q))(embed(m, one).value)
        n = hess.shape[0]
        k1 = float(np.linalg.eigvalsh(np.asarray(hess).reshape(2 * n, 2 * n)).max())
        out.append(f"c {c}: loss {loss:.4f} error {np.mean((z > 0) != (y > 0.5)):.3f} K1 {k1:.1f}")
    print(run.split("/")[-1], " | ".join(out))
