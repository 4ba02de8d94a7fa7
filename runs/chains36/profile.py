"""H* and class probability along the validation chains of trained chains runs (issue 10:
why parameter seeds 0 and 4 plateau near 30 %): python profile.py RUN...
Prints, per class chain, h at nodes 0, 10, ..., 99 and the predicted probability of the
true class, and where the prediction first goes wrong."""
import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
from hogwild.graph import batch_graphs  # noqa: E402
from hogwild.solve import embed  # noqa: E402
from hogwild.train._run import load_run  # noqa: E402

for run in sys.argv[1:]:
    config, data, model = load_run(run)
    graphs = data.validation
    graph = batch_graphs(graphs, pad=False)
    sol = embed(model, graph)
    h = np.asarray(sol.value)
    logits = np.asarray(model.readout(graph, sol.value))
    print(run)
    for c in range(len(graphs)):
        idx = np.where(np.asarray(graph.node_graph) == c)[0]
        print("  target", graphs[c].node_targets[0], "wrong nodes:", int(((logits[idx, -1] > 0) != (graphs[c].node_targets[:, -1] > 0.5)).sum()))
        print(" chain", c, "h:", " ".join(f"{h[i,0]:+.2f},{h[i,1]:+.2f}" for i in idx[::10]))
        print("   logits:", " ".join(f"{float(logits[i].ravel()[-1]):+.2f}" for i in idx[::10]))
    # geometric decay of the class difference along the chain: |h(class 0) - h(class 1)| at
    # distance d from the head ~ r^d; fitted on d = 5..60 where it is above rounding.
    a, b = (np.where(np.asarray(graph.node_graph) == c)[0] for c in range(2))
    gap = np.linalg.norm(h[a] - h[b], axis=1)
    d = np.arange(5, 61)
    keep = gap[d] > 1e-5
    rate = float(np.exp(np.polyfit(d[keep], np.log(gap[d][keep]), 1)[0]))
    print(f"  class gap at d=1,10,50,99: {gap[1]:.3g} {gap[10]:.3g} {gap[50]:.3g} {gap[99]:.3g}; "
          f"decay per hop r = {rate:.4f}")
