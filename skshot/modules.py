"""PyTorch modules of the SHOT-VAE model (spec §1, paper eqs. 1-3)."""

import itertools

import torch
from torch import nn

__all__ = ["MLPShotVAE", "mlp"]

#: Range to which the encoder's log-variance is clamped. The authors' code
#: leaves it unclamped; a bounded range keeps ``exp(logvar)`` and the pairwise
#: KL of the optimal match finite in float32.
LOGVAR_RANGE = (-12.0, 8.0)


def mlp(sizes, activation=nn.ReLU):
    """A stack of ``Linear`` layers with ``activation`` between them (not after the last).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``(784, 500, 500)`` has two ``Linear`` layers.
    activation : callable returning an ``nn.Module``, default=nn.ReLU
    """
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(activation())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class MLPShotVAE(nn.Module):
    """Encoder ``q(z, y | x) = q(z|x) q(y|x)`` and decoder ``p(x | z, y)`` built from MLPs.

    The encoder trunk is shared by the three heads: the mean ``mu`` and the
    log-variance ``logvar`` of ``q(z|x) = N(mu, diag exp(logvar))`` and the
    logits of ``q(y|x) = Cat(softmax(logits))``. The decoder reads the
    concatenation ``[z, y]``, ``y`` a one-hot vector, a smoothed label, a
    Gumbel-softmax sample or any point of the simplex, and returns one value
    per feature: Bernoulli logits for ``likelihood="bernoulli"``, the Gaussian
    mean for ``likelihood="gaussian"``.

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
        How :meth:`decode_mean` turns decoder outputs into means.
    """

    def __init__(self, n_features, n_classes, latent_dim=10, hidden_sizes=(500, 500),
                 likelihood="bernoulli"):
        super().__init__()
        hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        width = hidden_sizes[-1] if hidden_sizes else self.n_features
        trunk = mlp((self.n_features,) + hidden_sizes)
        self.trunk = nn.Sequential(trunk, nn.ReLU()) if hidden_sizes else nn.Identity()
        # mu, logvar and the class logits come out of one linear layer.
        self.heads = nn.Linear(width, 2 * self.latent_dim + self.n_classes)
        self.decoder = mlp((self.latent_dim + self.n_classes,) + hidden_sizes[::-1]
                           + (self.n_features,))

    def encode(self, x):
        """Return ``(mu, logvar, logits)`` of ``q(z|x)`` and ``q(y|x)``."""
        out = self.heads(self.trunk(x))
        d = self.latent_dim
        mu, logvar, logits = out[:, :d], out[:, d:2 * d], out[:, 2 * d:]
        return mu, logvar.clamp(*LOGVAR_RANGE), logits

    def decode(self, z, y):
        """Return the decoder's raw output for ``[z, y]`` (logits or Gaussian mean)."""
        return self.decoder(torch.cat([z, y], dim=-1))

    def decode_mean(self, z, y):
        """Return ``E[x | z, y]``: ``sigmoid`` of the logits, or the Gaussian mean."""
        out = self.decode(z, y)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def forward(self, x):
        """Return ``(logits, mu, logvar)``; the first element is what classifiers read."""
        mu, logvar, logits = self.encode(x)
        return logits, mu, logvar
