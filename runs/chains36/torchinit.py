"""Study (issue 10): nonnegative PICNN weights as max(w, 0) (`projected.py`) *and* initialised
as PyTorch would (uniform in ±1/sqrt(fan_in), so about half start clamped at 0) instead of
the library's exp(log(1/sqrt(fan_in)) + 0.5 N(0, 1)) (and 1e-3 on the last layer's y path).
Paper protocol, chains energy-edge, fold F, parameter seed S:
python torchinit.py OUT EPOCHS SEED [FOLD]."""
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

sys.argv, args = sys.argv[:1] + ["unused", "1", "0"], sys.argv[1:]
exec(open("projected.py").read().split("run_module.build_model = build_projected")[0])
out, epochs, seed = args[0], int(args[1]), int(args[2])
fold = int(args[3]) if len(args) > 3 else 0


def build_torch(spec, seed):
    """The library's model with every nonnegative weight redrawn uniform in ±1/sqrt(fan_in)."""
    model = build(spec, seed)
    is_layer = lambda x: isinstance(x, nn.PICNNLayer)  # noqa: E731
    layers = lambda m: [x for x in jax.tree_util.tree_leaves(m, is_leaf=is_layer) if is_layer(x)]  # noqa: E731
    keys = iter(jr.split(jr.PRNGKey(10_000 + seed), 2 * len(layers(model))))

    def redraw(layer):
        mask = jnp.asarray(layer.monotone, bool)[None, :]
        uni = lambda shape: jr.uniform(next(keys), shape, minval=-1, maxval=1) / jnp.sqrt(max(shape[1], 1))  # noqa: E731
        y = jnp.where(mask, uni(layer.y_raw.shape), layer.y_raw)
        return eqx.tree_at(lambda l: (l.z_raw, l.y_raw), layer, (uni(layer.z_raw.shape), y))

    return eqx.tree_at(layers, model, replace_fn=redraw)


run_module.build_model = build_torch
train = dataclasses.replace(PROTOCOLS["paper"].train_config("chains", seed), epochs=epochs)
print(train, flush=True)
train_run(RunConfig("chains", "energy-edge", {"seed": fold}, train), out)
