"""Small networks: an MLP and the partially input-convex network (PICNN) of Appendix B."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray


def _uniform(key: PRNGKeyArray, shape: tuple[int, ...], fan_in: int) -> Array:
    bound = 1.0 / jnp.sqrt(max(fan_in, 1))
    return jr.uniform(key, shape, minval=-bound, maxval=bound)


def _positive_raw(key: PRNGKeyArray, shape: tuple[int, ...], fan_in: int) -> Array:
    """Log-weights: exp(raw) is about 1/sqrt(fan_in), with spread (for nonnegative weights)."""
    target = 1.0 / jnp.sqrt(max(fan_in, 1))
    return jnp.log(target) + 0.5 * jr.normal(key, shape)


class Linear(eqx.Module):
    """y = W x + b, initialised uniformly in ±1/sqrt(fan_in); accepts fan_in = 0."""

    weight: Float[Array, "out inp"]
    bias: Float[Array, " out"]

    def __init__(self, in_size: int, out_size: int, *, key: PRNGKeyArray):
        wkey, bkey = jr.split(key)
        self.weight = _uniform(wkey, (out_size, in_size), in_size)
        self.bias = _uniform(bkey, (out_size,), in_size)

    def __call__(self, x: Float[Array, " inp"]) -> Float[Array, " out"]:
        return self.weight @ x + self.bias


class MLP(eqx.Module):
    """Multi-layer perceptron with layer sizes ``sizes`` (e.g. (4, 4, J)) and tanh between."""

    layers: tuple[Linear, ...]

    def __init__(self, in_size: int, sizes: tuple[int, ...], *, key: PRNGKeyArray):
        keys = jr.split(key, len(sizes))
        dims = (in_size, *sizes)
        self.layers = tuple(Linear(a, b, key=k) for a, b, k in zip(dims[:-1], dims[1:], keys))

    def __call__(self, x: Float[Array, " inp"]) -> Float[Array, " out"]:
        for layer in self.layers[:-1]:
            x = jnp.tanh(layer(x))
        return self.layers[-1](x)


class PICNNLayer(eqx.Module):
    """One recurrence of Appendix B (z-path convex in y, u-path free in x).

    z' = g( W_z (z ∘ σ(W_zu u + b_z)) + W_y (y ∘ gate_y(u)) + W_u u + b ),
    with W_z = exp(raw) >= 0 and σ = softplus, so z' is convex in y whenever z is
    and g is convex nondecreasing. On the monotone coordinates of y, W_y >= 0 and the gate
    is softplus (>= 0) too, so z' is also nondecreasing in them.
    """

    z_raw: Float[Array, "out z"]
    z_gate: Linear
    y_raw: Float[Array, "out y"]
    y_gate: Linear
    u_lin: Linear
    monotone: tuple[bool, ...] = eqx.field(static=True)

    def __init__(self, z_size, y_size, u_size, out_size, monotone, *, key, y_scale=1.0):
        k = jr.split(key, 5)
        self.z_raw = _positive_raw(k[0], (out_size, z_size), max(z_size, 1))
        self.z_gate = Linear(u_size, z_size, key=k[1])
        mask = jnp.asarray(monotone, bool)
        free = y_scale * _uniform(k[2], (out_size, y_size), y_size)
        positive = _positive_raw(k[2], (out_size, y_size), y_size) + jnp.log(max(y_scale, 1e-3))
        self.y_raw = jnp.where(mask[None, :], positive, free)
        self.y_gate = Linear(u_size, y_size, key=k[3])
        self.u_lin = Linear(u_size, out_size, key=k[4])
        self.monotone = tuple(bool(m) for m in monotone)

    def gates(self, u: Float[Array, " u"]) -> tuple[Array, Array, Array]:
        """The parts that depend on the free input only: (σ(W_zu u + b_z), gate_y(u), W_u u + b)."""
        mask = jnp.asarray(self.monotone, bool)
        gate_y = self.y_gate(u)
        gate_y = jnp.where(mask, jax.nn.softplus(gate_y), gate_y)
        return jax.nn.softplus(self.z_gate(u)), gate_y, self.u_lin(u)

    def apply(self, gates, z, y):
        """The layer's pre-activation from precomputed ``gates`` (affine in y, convex in z)."""
        gate_z, gate_y, u_term = gates
        mask = jnp.asarray(self.monotone, bool)
        w_y = jnp.where(mask[None, :], jnp.exp(self.y_raw), self.y_raw)
        out = w_y @ (y * gate_y) + u_term
        if z.shape[0]:
            out = out + jnp.exp(self.z_raw) @ (z * gate_z)
        return out

    def __call__(self, z, y, u):
        return self.apply(self.gates(u), z, y)

    def bound(self, gates, jac, hess):
        """Elementwise bounds on the pre-activation's derivatives in y, for every y.

        With P = W_z diag(σ(W_zu u + b_z)) >= 0 and Q = |W_y diag(gate_y(u))|:
        |∂a/∂y| <= P J + Q and |∂²a_o/∂y²| <= Σ_j P_oj S_j, given |∂z/∂y| <= J, |∂²z_j/∂y²| <= S_j.
        ``jac`` (z, y) and ``hess`` (z, y, y) are J and S; returns the pair for a (out, ...).
        """
        gate_z, gate_y, _ = gates
        mask = jnp.asarray(self.monotone, bool)
        w_y = jnp.where(mask[None, :], jnp.exp(self.y_raw), self.y_raw)
        p = jnp.exp(self.z_raw) * gate_z[None, :]
        return p @ jac + jnp.abs(w_y * gate_y[None, :]), jnp.einsum("oj,jab->oab", p, hess)


class PICNN(eqx.Module):
    """Partially input-convex network f(x, y), convex in y (Amos et al., 2017; Appendix B).

    u_{i+1} = tanh(W̃_i u_i + b̃_i),  u_0 = x
    z_{i+1} = g_i(PICNNLayer_i(z_i, y, u_i)),  z_0 = 0,  f(x, y) = z_k
    with g_i = softplus for hidden layers and the identity for the last. The y coordinates
    flagged in ``monotone`` are in addition nondecreasing inputs.

    Args:
        x_size: size of the non-convex input x (may be 0).
        y_size: size of the convex input y.
        sizes: layer widths, e.g. (4, 4, 2) for Eq. 16's message or (4, 4, 1) for u.
        monotone: True (all), False (none) or one flag per y coordinate.
    """

    x_layers: tuple[Linear, ...]
    z_layers: tuple[PICNNLayer, ...]

    def __init__(
        self,
        x_size: int,
        y_size: int,
        sizes: tuple[int, ...],
        *,
        monotone: bool | tuple[bool, ...] = False,
        key: PRNGKeyArray,
    ):
        flags = (monotone,) * y_size if isinstance(monotone, bool) else tuple(monotone)
        if len(flags) != y_size:
            raise ValueError(f"`monotone` needs {y_size} flags; got {len(flags)}.")
        keys = jr.split(key, 2 * len(sizes))
        u_sizes = (x_size, *sizes[:-1])
        z_sizes = (0, *sizes[:-1])
        self.x_layers = tuple(
            Linear(a, b, key=k) for a, b, k in zip(u_sizes[:-1], u_sizes[1:], keys[: len(sizes)])
        )
        last = len(sizes) - 1
        self.z_layers = tuple(
            PICNNLayer(zs, y_size, us, out, flags, key=k, y_scale=1e-3 if i == last else 1.0)
            for i, (zs, us, out, k) in enumerate(zip(z_sizes, u_sizes, sizes, keys[len(sizes) :]))
        )

    def prepare(self, x: Float[Array, " x"]) -> tuple:
        """Everything that depends on x alone (one gate triple per layer).

        A solver that evaluates f(x, ·) many times for fixed x computes this once.
        """
        u, out = x, []
        for k, layer in enumerate(self.z_layers):
            out.append(layer.gates(u))
            if k < len(self.z_layers) - 1:
                u = jnp.tanh(self.x_layers[k](u))
        return tuple(out)

    def convex_part(self, prepared: tuple, y: Float[Array, " y"]) -> Float[Array, " out"]:
        """f(x, y) from ``prepare(x)``: the z-path of the recurrence, convex in y."""
        z = jnp.zeros((0,), y.dtype)
        for k, (layer, gates) in enumerate(zip(self.z_layers, prepared)):
            z = layer.apply(gates, z, y)
            if k < len(self.z_layers) - 1:
                z = jax.nn.softplus(z)
        return z

    def derivative_bounds(self, prepared: tuple) -> tuple[Array, Array]:
        """Bounds on |∂f/∂y| (out, y) and |∂²f_o/∂y²| (out, y, y), elementwise, for every y.

        From ``prepare(x)``; by the layer recursion (`PICNNLayer.bound`) and, through each
        softplus z' = g(a), 0 < g' < 1 and 0 < g'' <= 1/4:
        |∂z'/∂y| <= |∂a/∂y|,  |∂²z'/∂y²| <= ¼ |∂a/∂y| |∂a/∂y|ᵀ + |∂²a/∂y²|.
        """
        size = self.z_layers[0].y_raw.shape[1]
        dtype = prepared[0][0].dtype
        jac, hess = jnp.zeros((0, size), dtype), jnp.zeros((0, size, size), dtype)
        for k, (layer, gates) in enumerate(zip(self.z_layers, prepared)):
            jac, hess = layer.bound(gates, jac, hess)
            if k < len(self.z_layers) - 1:
                hess = hess + 0.25 * jac[:, :, None] * jac[:, None, :]
        return jac, hess

    def __call__(self, x: Float[Array, " x"], y: Float[Array, " y"]) -> Float[Array, " out"]:
        return self.convex_part(self.prepare(x), y)
