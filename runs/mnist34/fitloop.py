"""The training loop oracle.py and deepsets.py share: full-batch AdamW on binary cross-entropy,
validation error every 50 epochs, the (validation, test, train) errors of the best."""
import jax
import jax.numpy as jnp
import optax


def fit_selected(params, logits, splits, lr, weight_decay, epochs, every=50):
    """``logits(p, x)`` against targets ``y`` broadcast to its shape, for each split (x, y)."""

    def loss(p, x, y):
        out = logits(p, x)
        return optax.sigmoid_binary_cross_entropy(out, jnp.broadcast_to(y, out.shape)).mean()

    opt = optax.adamw(lr, weight_decay=weight_decay)
    state = opt.init(params)

    @jax.jit
    def step(p, s):
        g = jax.grad(loss)(p, *splits["train"])
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    def err(p, split):
        x, y = splits[split]
        return float(jnp.mean((logits(p, x) > 0) != (y > 0.5)))

    best = (9, None, None)
    for e in range(epochs):
        params, state = step(params, state)
        if e % every == 0:
            v = err(params, "validation")
            if v < best[0]:
                best = (v, err(params, "test"), err(params, "train"))
    return best
