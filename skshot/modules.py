"""PyTorch modules of the SHOT-VAE model (paper eqs. 1-3; user guide: :ref:`the-model`)."""

import math

import torch
from torch import nn

from .backbones import build_backbone, mlp

__all__ = ["LOGVAR_RANGE", "MLPShotVAE", "ShotVAE", "mlp"]

#: Range to which the encoder's log-variance is clamped. The authors' code
#: leaves it unclamped; a bounded range keeps ``exp(logvar)`` and the pairwise
#: KL of the optimal match finite in float32.
LOGVAR_RANGE = (-12.0, 8.0)


class ShotVAE(nn.Module):
    """Encoder ``q(z, y | x) = q(z|x) q(y|x)`` and decoder ``p(x | z, y)`` around a backbone.

    The backbone's encoder gives features ``h(x)``; one linear layer, the
    heads, maps them to the mean ``mu`` and the log-variance ``logvar`` of
    ``q(z|x) = N(mu, diag exp(logvar))`` and to the logits of ``q(y|x) =
    Cat(softmax(logits))``. The backbone's decoder reads the concatenation
    ``[z, y]``, ``y`` a one-hot vector, a smoothed label, a Gumbel-softmax
    sample or any point of the simplex, and returns one value per input
    feature: Bernoulli logits for ``likelihood="bernoulli"``, the Gaussian
    mean for ``likelihood="gaussian"``.

    Samples travel *flat*, as rows of ``prod(input_shape)`` values, as the
    losses and the mixup of the OT-approximation expect; :meth:`encode`
    reshapes them to ``input_shape`` for the encoder and :meth:`decode`
    flattens the decoder's output. The heads and the decoder's output are
    returned in the input's floating-point type, also under
    :func:`torch.autocast`, so the losses are computed in full precision.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample: ``(n_features,)`` or ``(channels, height, width)``.
    n_classes : int
        ``K``, the number of classes.
    latent_dim : int, default=10
        Size of ``z``.
    backbone : {"mlp", "conv", "conv-mlp", "wrn-28-2"} or callable, default="mlp"
        See :mod:`skshot.backbones`.
    hidden_sizes : sequence of int, default=(500, 500)
        Widths of the ``"mlp"`` backbone's hidden layers; the decoder mirrors
        them (``"conv-mlp"``'s decoder too). The other backbones ignore them.
    likelihood : {"bernoulli", "gaussian"}, default="bernoulli"
        How :meth:`decode_mean` turns decoder outputs into means.
    """

    def __init__(self, input_shape, n_classes, latent_dim=10, backbone="mlp",
                 hidden_sizes=(500, 500), likelihood="bernoulli"):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.n_features = math.prod(self.input_shape)
        self.n_classes = int(n_classes)
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        self.encoder, self.decoder = build_backbone(
            backbone, self.input_shape, self.latent_dim, self.n_classes, hidden_sizes)
        n_encoded = self._check_backbone()
        # mu, logvar and the class logits come out of one linear layer.
        self.heads = nn.Linear(n_encoded, 2 * self.latent_dim + self.n_classes)

    def _check_backbone(self):
        """Run the backbone once on zeros; return the encoder's feature count."""
        states = [m.training for m in (self.encoder, self.decoder)]
        self.encoder.eval()
        self.decoder.eval()
        try:
            with torch.no_grad():
                features = self.encoder(torch.zeros(2, *self.input_shape))
                decoded = self.decoder(torch.zeros(2, self.latent_dim + self.n_classes))
        finally:
            self.encoder.train(states[0])
            self.decoder.train(states[1])
        if features.ndim < 2 or features.shape[0] != 2:
            raise ValueError(f"The encoder must map a batch of shape (B, *{self.input_shape}) "
                             f"to features of shape (B, F); it gave {tuple(features.shape)} "
                             "for B = 2.")
        if decoded.ndim < 2 or decoded.shape[0] != 2 or decoded[0].numel() != self.n_features:
            raise ValueError(
                f"The decoder must map [z, y] of shape (B, {self.latent_dim + self.n_classes}) "
                f"to (B, *{self.input_shape}), {self.n_features} values per sample; it gave "
                f"{tuple(decoded.shape)} for B = 2.")
        return features[0].numel()

    def features(self, x):
        """Return the encoder's output for flat ``x``, flat: the input of the heads."""
        return self.encoder(x.reshape(x.shape[0], *self.input_shape)).flatten(1)

    def encode(self, x):
        """Return ``(mu, logvar, logits)`` of ``q(z|x)`` and ``q(y|x)`` for flat ``x``."""
        out = self.heads(self.features(x)).to(x.dtype)
        d = self.latent_dim
        mu, logvar, logits = out[:, :d], out[:, d:2 * d], out[:, 2 * d:]
        return mu, logvar.clamp(*LOGVAR_RANGE), logits

    def decode(self, z, y):
        """Return the decoder's raw output for ``[z, y]`` (logits or Gaussian mean), flat."""
        out = self.decoder(torch.cat([z, y], dim=-1))
        return out.reshape(out.shape[0], -1).to(z.dtype)

    def decode_mean(self, z, y):
        """Return ``E[x | z, y]``: ``sigmoid`` of the logits, or the Gaussian mean."""
        out = self.decode(z, y)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def forward(self, x, y=None, x_u=None, objective=None, ot_weight=0.0, teacher=None,
                pseudo_u=None, x_seen=None):
        """Return ``(logits, mu, logvar)`` of ``x``, or with ``objective`` a training step's loss.

        Without ``objective``: ``(logits, mu, logvar)``, the logits first, as
        classifiers read them. With ``objective`` (a
        :class:`~skshot.objectives.SemiSupervisedObjective`): its ``(loss,
        parts)`` on the labeled batch ``(x, y)`` and the unlabeled batch
        ``x_u`` (with its pseudo-labels ``pseudo_u``, if any, and the inputs
        ``x_seen`` that the encoder reads instead, if any). The whole step
        then runs inside one ``forward`` call, its several passes through the
        encoder and the decoder included, which is what
        :class:`torch.nn.parallel.DistributedDataParallel` needs to synchronise
        the gradients of a model trained on several devices.
        """
        if objective is not None:
            return objective(self, x, y, x_u, ot_weight=ot_weight, teacher=teacher,
                             pseudo_u=pseudo_u, x_seen=x_seen)
        mu, logvar, logits = self.encode(x)
        return logits, mu, logvar


class MLPShotVAE(ShotVAE):
    """:class:`ShotVAE` with the ``"mlp"`` backbone on flat inputs of ``n_features``.

    Parameters
    ----------
    n_features : int
        ``D``, the input dimension.
    n_classes : int
        ``K``, the number of classes.
    latent_dim : int, default=10
        Size of ``z``.
    hidden_sizes : sequence of int, default=(500, 500)
        Widths of the encoder's hidden layers; the decoder mirrors them.
    likelihood : {"bernoulli", "gaussian"}, default="bernoulli"
    """

    def __init__(self, n_features, n_classes, latent_dim=10, hidden_sizes=(500, 500),
                 likelihood="bernoulli"):
        super().__init__((int(n_features),), n_classes, latent_dim, "mlp", hidden_sizes,
                         likelihood)
