"""Training one model on several devices through skorch's Accelerate integration.

:func:`accelerated_net_class` returns a :class:`~skshot._net.ShotVAENet` with
skorch's :class:`skorch.hf.AccelerateMixin`. Hugging Face Accelerate then
wraps the module in :class:`torch.nn.parallel.DistributedDataParallel` when
several processes train together (``accelerate launch`` or ``torchrun``);
each process trains on its own share of every epoch's batches and the
gradients are averaged across processes after each step. A SHOT step passes
through the network several times; it runs inside one call of the module's
``forward`` (see :meth:`skshot.modules.ShotVAE.forward`), which is what the
gradient synchronisation needs.
"""

import functools

__all__ = ["accelerated_net_class"]


@functools.cache
def accelerated_net_class():
    """The class ``AcceleratedShotVAENet(AccelerateMixin, ShotVAENet)``; needs ``accelerate``."""
    from skorch.hf import AccelerateMixin

    from ._net import ShotVAENet

    class AcceleratedShotVAENet(AccelerateMixin, ShotVAENet):
        """:class:`~skshot._net.ShotVAENet` trained through an ``accelerate.Accelerator``."""

        @property
        def compute_device(self):
            return self.accelerator.device

        def shard(self):
            return self.accelerator.num_processes, self.accelerator.process_index

        def backward(self, loss):
            self.accelerator.backward(loss)

        def train_step_single(self, batch, **fit_params):
            # ShotVAENet's step (the whole loss in one forward call) with the
            # accelerator's backward, not the mixin's single-forward step.
            return ShotVAENet.train_step_single(self, batch, **fit_params)

        def get_iterator(self, dataset, training=False):
            # The batches are already shared out between the processes (see
            # ShotVAENet.shard), and evaluation runs on all of the data in
            # every process: no sampler of the accelerator's.
            return ShotVAENet.get_iterator(self, dataset, training=training)

        def evaluation_step(self, batch, training=False):
            # Every process evaluates all of the data: nothing to gather.
            return ShotVAENet.evaluation_step(self, batch, training=training)

        def _initialize_accelerator(self):
            # The criterion holds no parameters: only the module and the
            # optimizer are prepared (a parameter-free module cannot be
            # wrapped for data parallelism).
            if self._wrapped_with_accelerator:
                return self
            self.module_ = self.accelerator.prepare(self.module_)
            self.optimizer_ = self.accelerator.prepare(self.optimizer_)
            self._wrapped_with_accelerator = True
            return self

    AcceleratedShotVAENet.__module__ = __name__
    AcceleratedShotVAENet.__qualname__ = "AcceleratedShotVAENet"
    return AcceleratedShotVAENet


def __getattr__(name):
    # Lets pickle find the class by its module and name.
    if name == "AcceleratedShotVAENet":
        return accelerated_net_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
