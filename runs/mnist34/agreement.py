"""Do a trained model's agents agree? python agreement.py RUN: per test graph, the fraction of
agents predicting the majority class, and the error of the majority vote against the node error."""
import sys

import numpy as np

from hogwild.train import TrainConfig, load_run
from hogwild.train._batch import make_batches
from hogwild.train._step import eval_step

config, data, model = load_run(sys.argv[1])
tc = config.train
tc.enable_precision(model.family)
from hogwild.train._fit import sized_solver  # noqa: E402

batches = make_batches(data.test, data.level, None, tc.dtype)
solver = sized_solver(model, data, tc, batches, evaluation=True)
b = batches[0]
import jax.numpy as jnp  # noqa: E402
from hogwild.solve import embed  # noqa: E402

h = embed(model, b.graph, jnp.zeros((b.graph.num_nodes, model.hidden), b.graph.nodes.dtype), solver, None).value
pred = np.asarray(model.readout(b.graph, h))[:, 0] > 0
y = np.concatenate([np.asarray(g.node_targets)[:, 0] for g in data.test]) > 0.5
n = len(data.test[0].node_targets)
pred, y = pred[: len(y)].reshape(-1, n), y.reshape(-1, n)
agree = np.maximum(pred.mean(1), 1 - pred.mean(1))
vote = pred.mean(1) > 0.5
print(f"node error {100*np.mean(pred != y):.1f}  majority-vote error {100*np.mean(vote != y[:, 0]):.1f}  "
      f"mean agreement {agree.mean():.2f}  graphs with all agents agreeing {np.mean(agree == 1):.2f}")
