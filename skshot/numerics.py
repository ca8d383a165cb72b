"""Floating-point housekeeping of the training loop.

On x86 CPUs an arithmetic operation that has a *subnormal* operand or result
(a nonzero number smaller in magnitude than the smallest normal float, about
1.2e-38 in float32) takes a slow microcode path, tens of times slower than
one with normal numbers. A matrix product whose weights hold a few percent
of subnormal entries runs eighty times slower.

Training produces such numbers. A weight that receives no gradient from the
data (an outgoing weight of a hidden unit that is never active, or a weight
of an input pixel that is always zero) is shrunk by weight decay step after
step, through 1e-20 and 1e-30 into the subnormal range, and the optimizer's
running moments follow it. Products of these weights with small gradients are
subnormal even before the weights are. A default fit on 60 000 Fashion-MNIST
images slowed down from 7 to 8 seconds an epoch to 75 to 85 part way through
(``benchmarks/fit_time.py``), while its results did not change: such a weight
changes no output, since its products are rounded away in any float32 sum
with a term of ordinary size.

After every training step on a CPU, :class:`skshot.ShotVAEClassifier` therefore sets to
zero (:func:`flush_training_state_`) the weights of magnitude at most ``sqrt(tiny)`` (:func:`flush_negligible_`;
the product of two such numbers is below ``tiny``, the smallest normal
number) and the optimizer state's subnormal entries (:func:`flush_subnormals_`;
its second moments are squares of gradients and legitimately small, so only
the subnormal ones go). ``torch.set_flush_denormal`` does not serve instead: it
sets the flag of the calling thread only, not of the threads that compute a
matrix product.
"""

import math

import torch

__all__ = ["flush_negligible_", "flush_subnormals_", "flush_training_state_"]


@torch.no_grad()
def _flush_at_most_(tensors, bound):
    """Zero the entries of magnitude at most ``bound(dtype)`` of each floating-point CPU tensor."""
    for tensor in tensors:
        if tensor.is_floating_point() and tensor.device.type == "cpu":
            torch.hardshrink(tensor, bound(tensor.dtype), out=tensor)


def flush_subnormals_(tensors):
    """Set the entries of magnitude at most the smallest normal number to zero, in place.

    Only floating-point tensors on the CPU are changed: GPUs compute with
    subnormal numbers at full speed, and other tensors have none. NaN and
    infinite entries are kept, so that a diverging fit still shows.

    Parameters
    ----------
    tensors : iterable of torch.Tensor
        Changed in place; tensors that require gradients (parameters) too.
    """
    _flush_at_most_(tensors, lambda dtype: torch.finfo(dtype).tiny)


def flush_negligible_(tensors):
    """Set the entries of magnitude at most ``sqrt(tiny)`` to zero, in place.

    ``tiny`` is the dtype's smallest normal number (``sqrt(tiny)`` is about
    1.1e-19 in float32 and bfloat16), so any product of two such entries is
    subnormal or zero. Each entry changes by at most ``sqrt(tiny)``. As
    :func:`flush_subnormals_`, only floating-point tensors on the CPU are
    changed, and NaN and infinite entries are kept.

    Parameters
    ----------
    tensors : iterable of torch.Tensor
        Changed in place; tensors that require gradients (parameters) too.
    """
    _flush_at_most_(tensors, lambda dtype: math.sqrt(torch.finfo(dtype).tiny))


def flush_training_state_(weights, optimizer):
    """After an optimizer's step: :func:`flush_negligible_` on the weights, :func:`flush_subnormals_` on its state.

    Parameters
    ----------
    weights : iterable of torch.Tensor
        The trained weights (and any kept copies of them, such as a mean teacher's).
    optimizer : torch.optim.Optimizer
        Every tensor of its per-parameter state is looked at.
    """
    flush_negligible_(weights)
    flush_subnormals_(value for state in optimizer.state.values() for value in state.values()
                      if torch.is_tensor(value))
