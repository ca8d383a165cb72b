"""Training objectives: the terms of :mod:`skshot.losses` put together per step.

One :class:`SemiSupervisedObjective` computes the loss of one training step
from a labeled batch ``(x_l, y_l)`` and an unlabeled batch ``x_u``:

``"shot"`` (Algorithm 1)
    ``-smooth-ELBO_L(x_l, y_l) - ELBO_U(x_u) + w_t * OT(x_u)``
``"smooth-elbo"``
    ``-smooth-ELBO_L(x_l, y_l) - ELBO_U(x_u)`` (no OT term)
``"m2"`` (eq. 6)
    ``-ELBO_L(x_l, y_l) + alpha * CE(pi(x_l), y_l) - ELBO_U(x_u)``
``"supervised"``
    ``CE(pi(x_l), y_l)`` alone: the same encoder trained as a plain classifier
    on the labeled samples, the baseline of the ablation.

Every ELBO is beta-weighted (the prior KLs times ``beta``) and the whole
ELBO part is multiplied by ``elbo_weight``; the label terms (``KLsmooth``,
``alpha * CE``) and the OT term are not. With ``entropy_weight > 0`` every
objective but ``"supervised"`` adds ``entropy_weight * H(q(y|x_u))``, the
entropy of the unlabeled samples' class distributions (entropy
minimisation). With ``ot_target_temperature < 1`` the class distributions
that make the OT targets are sharpened first. With ``propagation_weight > 0``
and pseudo-labels given for the unlabeled batch (label propagation over the
network's features, :mod:`skshot.propagation`), every objective but
``"supervised"`` adds ``propagation_weight`` times their weighted
cross-entropy. With ``ot_drop_intrusions`` the OT term leaves out the mixes
with a sample predicted as neither parent's class among their
``ot_intrusion_neighbors`` nearest unlabeled samples
(:func:`skshot.losses.third_class_mixes`). Given ``x_seen``, the encoder
reads those inputs (randomly translated copies, say) while the decoder
reconstructs the batches as given. Each part is averaged over its own batch.
"""

import torch
import torch.nn.functional as F
from torch import nn

from . import losses, propagation

__all__ = ["OBJECTIVES", "PART_DESCRIPTIONS", "SemiSupervisedObjective", "elbo_per_sample"]

OBJECTIVES = ("shot", "smooth-elbo", "m2", "supervised")

#: The loss's parts, as named in the ``parts`` dict and in the training history.
PART_DESCRIPTIONS = {
    "rec_l": "reconstruction of the labeled samples",
    "kl_z_l": "KL of q(z|x) to the prior, labeled samples",
    "kl_y_l": "KL of q(y|x) to the uniform prior, labeled samples",
    "kl_smooth": "KL of the smoothed labels to q(y|x)",
    "ce": "cross-entropy of the labels",
    "rec_u": "reconstruction of the unlabeled samples",
    "kl_z_u": "KL of q(z|x) to the prior, unlabeled samples",
    "kl_y_u": "KL of q(y|x) to the uniform prior, unlabeled samples",
    "ent_u": "entropy of q(y|x), unlabeled samples",
    "ot": "OT-approximation",
    "pl_u": "weighted cross-entropy of the propagated pseudo-labels, unlabeled samples",
}


class SemiSupervisedObjective(nn.Module):
    """The loss of one SHOT-VAE training step; it holds no parameters.

    It is the skorch ``criterion`` of :class:`skshot.ShotVAEClassifier`'s
    network. See :class:`skshot.ShotVAEClassifier` for the meaning of the
    parameters, which carry the same names.
    """

    def __init__(self, objective="shot", likelihood="bernoulli", epsilon=1e-3, beta=0.01,
                 elbo_weight=1.0, temperature=0.67, alpha=1.0, optimal_match=True,
                 mixup_alpha=1.0, ot_kl_direction="forward", entropy_weight=0.0,
                 ot_target_temperature=1.0, propagation_weight=0.0, ot_drop_intrusions=False,
                 ot_intrusion_neighbors=1):
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.objective = objective
        self.likelihood = likelihood
        self.epsilon = epsilon
        self.beta = beta
        self.elbo_weight = elbo_weight
        self.temperature = temperature
        self.alpha = alpha
        self.optimal_match = optimal_match
        self.mixup_alpha = mixup_alpha
        self.ot_kl_direction = ot_kl_direction
        self.entropy_weight = entropy_weight
        self.ot_target_temperature = ot_target_temperature
        self.propagation_weight = propagation_weight
        self.ot_drop_intrusions = ot_drop_intrusions
        self.ot_intrusion_neighbors = ot_intrusion_neighbors
        # The latest pseudo-labels of the training stream, their weights and the
        # key of the data they belong to: part of the state that a checkpoint
        # saves, so that a resumed fit goes on with the same pseudo-labels.
        self.register_buffer("pseudo_labels", torch.empty(0, dtype=torch.long))
        self.register_buffer("pseudo_weights", torch.empty(0))
        self.register_buffer("pseudo_key", torch.empty(0))

    def store_pseudo_labels(self, labels, weights, key):
        """Keep ``(labels, weights)`` of the training stream whose key is ``key``."""
        self.pseudo_labels = labels.detach().clone()
        self.pseudo_weights = weights.detach().clone()
        self.pseudo_key = key.detach().clone()

    def stored_pseudo_labels(self, key):
        """The kept ``(labels, weights)`` if they belong to the data of ``key``, else None."""
        if self.pseudo_key.shape != key.shape or not torch.equal(
                self.pseudo_key, key.to(self.pseudo_key.device, self.pseudo_key.dtype)):
            return None
        return self.pseudo_labels, self.pseudo_weights

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The kept pseudo-labels have the length of the training stream: take
        # the saved shapes before loading.
        for name in ("pseudo_labels", "pseudo_weights", "pseudo_key"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name],
                                                     device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def uses_pseudo_labels(self):
        """Whether the loss reads pseudo-labels (``propagation_weight > 0``, not supervised)."""
        return bool(self.propagation_weight) and self.objective != "supervised"

    def forward(self, module, x_l, y_l, x_u, ot_weight=1.0, teacher=None, pseudo_u=None,
                x_seen=None):
        """Loss of one step.

        Parameters
        ----------
        module : MLPShotVAE or a module with the same ``encode``/``decode``
        x_l : torch.Tensor of shape (B_l, D)
        y_l : torch.LongTensor of shape (B_l,), class indices
        x_u : torch.Tensor of shape (B_u, D)
        ot_weight : float
            ``w_t`` of eq. 16 for this step.
        teacher : module with ``encode``, default=None
            If given, the OT targets' class distributions ``pi(x0)``,
            ``pi(x1)`` come from this module (a moving average of ``module``)
            instead of ``module`` itself.
        pseudo_u : tuple of (torch.LongTensor, torch.Tensor) of shape (B_u,), default=None
            Pseudo-labels of ``x_u`` and their weights
            (:func:`skshot.propagation.pseudo_labels`); used when
            ``propagation_weight > 0``.
        x_seen : tuple of two torch.Tensor, default=None
            ``(x_l_seen, x_u_seen)``, of the shapes of ``x_l`` and ``x_u``:
            the inputs the encoder reads (transformed copies, say), while the
            decoder reconstructs ``x_l`` and ``x_u``. The class distributions,
            the mixes of the OT term and the supervised loss are those of the
            inputs read. None reads ``x_l`` and ``x_u`` themselves.

        Returns
        -------
        loss : torch.Tensor, a scalar
        parts : dict of str to detached scalar tensors
            The batch means of the loss's terms, for logging.
        """
        x_l_seen, x_u_seen = (x_l, x_u) if x_seen is None else x_seen
        if self.objective == "supervised":
            ce = losses.cross_entropy(module.encode(x_l_seen)[2], y_l).mean()
            return ce, {"ce": ce.detach()}

        n_l = x_l.shape[0]
        x = torch.cat([x_l, x_u])  # what the decoder reconstructs
        mu, logvar, logits = module.encode(x if x_seen is None else torch.cat(x_seen))
        n_classes = logits.shape[1]
        if self.objective == "m2":
            y_l_in = F.one_hot(y_l, n_classes).to(logits.dtype)
        else:
            y_l_in = losses.smooth_labels(y_l, n_classes, self.epsilon, dtype=logits.dtype)
        y_u_in = losses.gumbel_softmax_sample(logits[n_l:], self.temperature)
        z = losses.gaussian_reparameterize(mu, logvar)
        decoded = module.decode(z, torch.cat([y_l_in, y_u_in]))

        rec = losses.reconstruction_nll(x, decoded, self.likelihood)
        kl_z = losses.kl_gaussian_standard(mu, logvar)
        kl_y = losses.kl_categorical_uniform(logits)
        parts = {
            "rec_l": rec[:n_l].mean(), "kl_z_l": kl_z[:n_l].mean(),
            "rec_u": rec[n_l:].mean(), "kl_z_u": kl_z[n_l:].mean(),
            "kl_y_u": kl_y[n_l:].mean(),
        }
        elbo_u = losses.elbo(parts["rec_u"], parts["kl_z_u"], parts["kl_y_u"], self.beta)
        if self.objective == "m2":
            # Eqs. 5 and 8: y is observed, so the labeled ELBO has no KLy term.
            parts["ce"] = losses.cross_entropy(logits[:n_l], y_l).mean()
            elbo_l = losses.elbo(parts["rec_l"], parts["kl_z_l"], 0.0, self.beta)
            loss = -self.elbo_weight * (elbo_l + elbo_u) + self.alpha * parts["ce"]
        else:
            parts["kl_y_l"] = kl_y[:n_l].mean()
            parts["kl_smooth"] = losses.kl_smooth(y_l_in, logits[:n_l]).mean()
            elbo_l = losses.elbo(parts["rec_l"], parts["kl_z_l"], parts["kl_y_l"], self.beta)
            # eq. 11 is elbo_l - kl_smooth; elbo_weight scales its ELBO part only.
            loss = -self.elbo_weight * (elbo_l + elbo_u) + parts["kl_smooth"]
        if self.entropy_weight:
            parts["ent_u"] = losses.categorical_entropy(logits[n_l:]).mean()
            loss = loss + self.entropy_weight * parts["ent_u"]
        if self.propagation_weight and pseudo_u is not None:
            parts["pl_u"] = propagation.pseudo_label_loss(logits[n_l:], *pseudo_u).mean()
            loss = loss + self.propagation_weight * parts["pl_u"]
        if self.objective == "shot" and x_u.shape[0] > 1:
            if teacher is not None:
                with torch.no_grad():
                    logits_u = teacher.encode(x_u_seen)[2]
            else:
                logits_u = logits[n_l:]
            parts["ot"] = self.ot_term(module, x_u_seen, mu[n_l:], logvar[n_l:], logits_u)
            loss = loss + ot_weight * parts["ot"]
        return loss, {name: value.detach() for name, value in parts.items()}

    def ot_term(self, module, x_u, mu, logvar, logits):
        """Batch mean of the OT-approximation, eqs. 13-15."""
        with torch.no_grad():
            if self.optimal_match:
                partner = losses.optimal_match(mu, logvar)
            else:
                partner = losses.random_match(x_u.shape[0], device=x_u.device)
            concentration = torch.full((x_u.shape[0], 1), float(self.mixup_alpha),
                                       device=x_u.device, dtype=x_u.dtype)
            # No argument validation: it would read a device tensor on the host
            # (a GPU synchronisation every step); the concentration is checked
            # once, as a parameter of the estimator.
            lam = torch.distributions.Beta(concentration, concentration,
                                           validate_args=False).sample()
            pi = losses.sharpen(logits, self.ot_target_temperature)
            target = losses.mixup(pi, pi[partner], lam)
            x_mix = losses.mixup(x_u, x_u[partner], lam)
            intrusions = None
            if self.ot_drop_intrusions:
                classes = logits.argmax(dim=1)
                intrusions = losses.third_class_mixes(x_mix, x_u, classes, classes,
                                                      classes[partner],
                                                      self.ot_intrusion_neighbors)
        logits_mix = module.encode(x_mix)[2]
        ot = losses.ot_approximation(logits_mix, target, self.ot_kl_direction)
        if intrusions is not None:
            ot = ot.masked_fill(intrusions, 0.0)
        return ot.mean()


def elbo_per_sample(module, x, noise, likelihood):
    """Each sample's ELBO (eq. 4, beta = 1), a lower bound of ``log p(x)``.

    The expectation over ``q(y|x)`` is exact (every class is decoded and
    weighted by ``pi_k(x)``); the one over ``q(z|x)`` averages the draws
    ``z_s = mu + sigma * noise_s``. The same ``noise`` serves every sample, so
    the value of a sample does not depend on the batch it is evaluated in.

    Parameters
    ----------
    module : MLPShotVAE
    x : torch.Tensor of shape (B, D)
    noise : torch.Tensor of shape (S, d)
        Standard normal draws shared by all samples.
    likelihood : {"bernoulli", "gaussian"}

    Returns
    -------
    elbo : torch.Tensor of shape (B,)
    """
    mu, logvar, logits = module.encode(x)
    (n, d), n_draws, n_classes = mu.shape, noise.shape[0], logits.shape[1]
    z = mu[:, None, :] + torch.exp(0.5 * logvar)[:, None, :] * noise[None]  # (B, S, d)
    z = z[:, :, None, :].expand(n, n_draws, n_classes, d)
    y = torch.eye(n_classes, dtype=x.dtype, device=x.device).expand(n, n_draws, -1, -1)
    decoded = module.decode(z.reshape(-1, d), y.reshape(-1, n_classes))
    x_rep = x[:, None, None, :].expand(n, n_draws, n_classes, x.shape[1]).reshape(-1, x.shape[1])
    rec = losses.reconstruction_nll(x_rep, decoded, likelihood).view(n, n_draws, n_classes)
    expected_rec = (torch.softmax(logits, dim=-1) * rec.mean(dim=1)).sum(dim=-1)
    return losses.elbo(expected_rec, losses.kl_gaussian_standard(mu, logvar),
                       losses.kl_categorical_uniform(logits))
