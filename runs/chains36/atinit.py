"""K1 and class gap along the chain at initialisation, paper chains energy-edge, seeds 0-4
(issue 10: do the plateau seeds 0 and 4 start differently?): python atinit.py"""
import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
from hogwild.experiments._table1 import PROTOCOLS  # noqa: E402
from hogwild.graph import batch_graphs  # noqa: E402
from hogwild.solve import embed  # noqa: E402
from hogwild.tasks import make_task  # noqa: E402
from hogwild.train import RunConfig  # noqa: E402
from hogwild.train._run import build_model, model_spec  # noqa: E402

for seed in range(5):
    config = RunConfig("chains", "energy-edge", {"seed": 0}, PROTOCOLS["paper"].train_config("chains", seed))
    data = make_task("chains", config.task_config())
    model = build_model(model_spec(config, data), seed)
    graph = batch_graphs(data.validation, pad=False)
    h = np.asarray(embed(model, graph).value)
    a, b = (np.where(np.asarray(graph.node_graph) == c)[0] for c in range(2))
    gap = np.linalg.norm(h[a] - h[b], axis=1)
    one = batch_graphs(data.validation[:1], pad=False)
    hess = np.asarray(jax.hessian(lambda z: model.energy(one, z))(embed(model, one).value))
    n = hess.shape[0]
    k1 = np.linalg.eigvalsh(hess.reshape(2 * n, 2 * n)).max()
    logits = np.asarray(model.readout(graph, h))[:, -1]
    print(f"seed {seed}: K1 {k1:.3f} gap d=0,1,2,5: {gap[0]:.3g} {gap[1]:.3g} {gap[2]:.3g} {gap[5]:.3g} "
          f"r {gap[2] / gap[1]:.3f}  |h| {np.abs(h).max():.2f} logit spread {np.ptp(logits):.3f}")
