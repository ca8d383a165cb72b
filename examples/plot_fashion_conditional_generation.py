"""
Conditional generation on Fashion-MNIST
=======================================

The decoder ``p(x | z, y)`` of a SHOT-VAE takes the class ``y`` as an input
of its own, next to the latent code ``z``. Keeping ``z`` fixed and changing
``y`` redraws one image as every class, as in Fig. 6 of the SHOT-VAE paper:
``z`` holds the "style" (brightness, thickness, shape details) and ``y`` the
class.

The model is fitted on 20,000 Fashion-MNIST training images of which 50 per
class are labeled, given as 28x28 images (``input_shape``), so the defaults read
them with the convolutional backbone where the device trains it fast (a GPU, or a
CPU with AMX, bfloat16 matrix units) and with its cheaper variant, a convolutional
encoder and a fully connected decoder, elsewhere. Fashion-MNIST is read
from local files by :func:`skshot.datasets.load_fashion_mnist` (on Debian and
Ubuntu: ``apt-get install dataset-fashion-mnist``).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from skshot import ShotVAEClassifier
from skshot.datasets import load_fashion_mnist, mask_labels

SMOKE = os.environ.get("SKSHOT_EXAMPLES_SMOKE") == "1"
N_TRAIN = 3000 if SMOKE else 20000
MAX_EPOCHS = 2 if SMOKE else 15

# %%
# Data: a subsample with 50 labels per class
# ------------------------------------------
train = load_fashion_mnist(subset="train")  # a Bunch: data (60000, 784) in [0, 1], target
X, y, class_names = train.data, train.target, train.target_names
X_test, y_test = load_fashion_mnist(subset="test", return_X_y=True)
rng = np.random.RandomState(0)
keep = rng.choice(len(X), N_TRAIN, replace=False)
X, y = X[keep], y[keep]
y_partial = mask_labels(y, 50, random_state=0)

# %%
# Fit
# ---
# The defaults, told that the rows are 28x28 images: ``backbone="auto"`` then
# picks, for 10 000 images or more, the convolutional encoder and decoder on a
# GPU or on a CPU with AMX, bfloat16 matrix units (``"conv-mlp"``, a
# convolutional encoder at half the channels with a fully connected decoder, on
# other CPUs, where the full convolutional network would train five times as
# slowly as an MLP; fewer images, as in the gallery's quick build, go to the MLP),
# ``augmentation="auto"`` translates the images
# the encoder reads, and ``mixed_precision="auto"`` computes in bfloat16 where
# the CPU or GPU has bfloat16 units. The fitted
# attributes ``backbone_``, ``augmentation_`` and ``mixed_precision_`` say
# what was chosen. ``beta`` weights the KL terms of the ELBO; the default
# ``"auto"`` (6, and 10 for ``"conv-mlp"``; ``beta_`` says which) puts
# a price on the information ``z`` carries, so the model leaves the class to
# ``y``, which it gets for free on labeled images. With a small ``beta`` (the
# paper's 0.01) the code ``z`` also encodes the class and the decoder learns
# to ignore ``y``, which makes the grid below show one class per row.
# ``max_epochs="auto"`` trains about 4 000 steps (100 epochs of these 20 000
# images; about 3 000, 75 epochs, with ``"conv-mlp"``).
clf = ShotVAEClassifier(input_shape=(1, 28, 28), random_state=0,
                        **({"max_epochs": 2} if SMOKE else {}))
clf.fit(X, y_partial)
print(f"backbone: {clf.backbone_}, augmentation: {clf.augmentation_}, "
      f"mixed precision: {clf.mixed_precision_}, beta: {clf.beta_}")
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")

# %%
# How often is the class asked for the class generated?
# -----------------------------------------------------
# An independent judge, a logistic regression fitted on labeled test images
# the model never saw, classifies samples drawn from the prior (20 per class)
# and test images redrawn as every class.
from sklearn.linear_model import LogisticRegression

judge = LogisticRegression(max_iter=300).fit(X_test[1000:], y_test[1000:])
X_prior, y_prior = clf.sample(clf.classes_, n_samples=20, random_state=0)
X_restyled, y_restyled = clf.sample(clf.classes_, X=X_test[:50])
print(f"judge on real test images: {judge.score(X_test[:1000], y_test[:1000]):.2f}")
print(f"samples from the prior recognised as their class: "
      f"{judge.score(X_prior, y_prior):.2f}")
print(f"restyled test images recognised as their class: "
      f"{judge.score(X_restyled, y_restyled):.2f}")

# %%
# Redraw test images as every class
# ---------------------------------
# ``sample(classes, X=X_test[:k])`` takes ``z`` as the posterior mean of each
# of the ``k`` images and decodes it once per requested class; the result is
# one block of ``k`` rows per class, in the order requested.
k = 8
X_new, y_new = clf.sample(clf.classes_, X=X_test[:k])
blocks = X_new.reshape(len(clf.classes_), k, 28, 28)

fig, axes = plt.subplots(k, 1 + len(clf.classes_), figsize=(9, 7.4))
for row in range(k):
    axes[row, 0].imshow(X_test[row].reshape(28, 28), cmap="gray_r")
    for col, block in enumerate(blocks, start=1):
        axes[row, col].imshow(block[row], cmap="gray_r", vmin=0, vmax=1)
for col, ax in enumerate(axes[0]):
    name = "test image" if col == 0 else class_names[clf.classes_[col - 1]]
    ax.set_title(name, fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
for ax in axes[:, 0]:
    for side in ax.spines.values():
        side.set_color("C3")
        side.set_linewidth(2)
fig.suptitle("First column: real test images; then the same z decoded with each class")
fig.tight_layout()
plt.show()

# %%
# Each column shows the garment of its class, whatever the input image was:
# a shoe decoded as "Trouser" gives trousers. Along a row, the overall
# brightness of the test image carries over to every class (compare the dark
# sweater of the second row with the light jacket of the seventh): the
# class is held by ``y`` and the style by ``z``. The images are blurry, as
# those of a VAE with a pixel-wise likelihood are: the decoder draws each
# class's shape and shade, not fine texture such as the print on the sweater
# or the checks of the last row's shirt. On two CPU cores with bfloat16
# instructions (most likely AMX) this fit took about 7 minutes with the
# ``"conv"`` backbone (test accuracy 0.84; the judge recognises 94 % of the
# prior draws and 95 % of the restyled images as the class asked for, and 82 %
# of real test images); ``backbone="mlp"``, the network for rows of features
# and for fewer than 10 000 images, fits in about half the time.
