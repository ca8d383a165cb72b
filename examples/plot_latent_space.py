"""
The latent space of a fitted model
==================================

A SHOT-VAE encodes an image into two variables: the class ``y``, with the
posterior ``q(y|x)`` that :meth:`~skshot.ShotVAEClassifier.predict_proba`
returns, and the continuous code ``z``, whose posterior mean ``mu(x)``
:meth:`~skshot.ShotVAEClassifier.transform` returns. Since the decoder
receives the class through ``y``, the code ``z`` does not need to carry it:
``z`` describes what is left, the "style" of the image.

A SHOT-VAE is fitted on the digits with 5 labels per class. t-SNE projects to
two dimensions the raw pixels, the codes ``z`` and the class probabilities of
the training images; points are coloured by their true class and the 50
labeled images are drawn as large black-edged stars.
"""

import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.manifold import TSNE
from sklearn.model_selection import train_test_split

from skshot import ShotVAEClassifier
from skshot.datasets import mask_labels

SMOKE = os.environ.get("SKSHOT_EXAMPLES_SMOKE") == "1"
MAX_EPOCHS = 5 if SMOKE else 100

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0)
y_partial = mask_labels(y_train, 5, random_state=0)
labeled = y_partial != -1

clf = ShotVAEClassifier(optimizer="adam", lr=1e-3, beta=1.0, batch_size_unlabeled=128,
                        max_epochs=MAX_EPOCHS, random_state=0).fit(X_train, y_partial)
print(f"test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Project the pixels, the codes and the class probabilities
# ---------------------------------------------------------
Z = clf.transform(X_train)        # (1437, latent_dim): the means of q(z|x)
P = clf.predict_proba(X_train)    # (1437, 10): q(y|x)
print("latent codes:", Z.shape, " class probabilities:", P.shape)


def tsne(features):
    return TSNE(init="pca", random_state=0).fit_transform(features)


projections = {
    "raw pixels\n(64 features)": tsne(X_train),
    f"latent means z = transform(X)\n({Z.shape[1]} features)": tsne(Z),
    "class probabilities q(y|x) = predict_proba(X)\n(10 features)": tsne(P),
}

# %%
# Plot
# ----
fig, axes = plt.subplots(1, 3, figsize=(15, 5.4), layout="constrained")
for ax, (title, E) in zip(axes, projections.items()):
    points = ax.scatter(E[:, 0], E[:, 1], c=y_train, cmap="tab10", s=6, alpha=0.6,
                        vmin=-0.5, vmax=9.5)
    ax.scatter(E[labeled, 0], E[labeled, 1], c=y_train[labeled], cmap="tab10", s=90,
               marker="*", edgecolors="black", linewidths=0.8, vmin=-0.5, vmax=9.5)
    ax.set_title(f"t-SNE of the {title}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.scatter([], [], s=90, marker="*", c="white", edgecolors="black",
               label="the 50 labeled images")  # a neutral star for the legend
    ax.legend(loc="lower right", fontsize=8)
fig.colorbar(points, ax=axes, ticks=range(10), label="true class", shrink=0.8, aspect=30)
plt.show()

# %%
# The pixels already form rough clusters per class. In ``z`` the classes mix:
# the code holds the style (slant, stroke width, size) shared across classes,
# and images of different classes written alike lie close together. The
# class is in ``q(y|x)``, whose projection shows one tight cluster per class,
# each around its five labeled stars; the stray points there are the
# misclassified images.
