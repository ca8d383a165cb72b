"""
Quickstart: digits with 5 labels per class
==========================================

scikit-learn's 8x8 handwritten digits are split into 1437 training and 360
test images. Only 5 training images per class keep their label; the other
1387 are marked ``-1``, unlabeled. :class:`skshot.ShotVAEClassifier` is
fitted on all training images and compared with two models that only see the
50 labeled images: the same network trained as a plain classifier
(``objective="supervised"``, predicting with its own ``q(y|x)``,
``vote_neighbors=0``) and a logistic regression.
"""

import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skshot import ShotVAEClassifier
from skshot.datasets import mask_labels

SMOKE = os.environ.get("SKSHOT_EXAMPLES_SMOKE") == "1"
MAX_EPOCHS = 5 if SMOKE else 100

# %%
# Data: pixels scaled to [0, 1], 5 labels per class
# --------------------------------------------------
# The pixel values 0-16 are divided by 16, so every feature lies in [0, 1] and
# the Bernoulli likelihood applies. :func:`skshot.datasets.mask_labels` keeps
# 5 labels per class and writes ``-1`` everywhere else.
X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0)
y_partial = mask_labels(y_train, 5, random_state=0)
labeled = y_partial != -1
print(f"{len(X_train)} training images, {labeled.sum()} labeled, {len(X_test)} test images")

# %%
# Fit the semi-supervised model and the baselines
# -----------------------------------------------
# Adam with a learning rate of 1e-3, ``beta=1`` (the full KL terms of the
# ELBO) and unlabeled batches of 128 work well on this small data set. The
# supervised baseline uses the same settings, so the only differences are the
# objective and that it predicts from its own class posterior: the default vote
# of the nearest training samples (``vote_neighbors``) would let the unlabeled
# images' labels in.
params = {"optimizer": "adam", "lr": 1e-3, "beta": 1.0, "batch_size_unlabeled": 128,
              "max_epochs": MAX_EPOCHS, "random_state": 0}
shot = ShotVAEClassifier(objective="shot", **params).fit(X_train, y_partial)
supervised = ShotVAEClassifier(objective="supervised", vote_neighbors=0, **params).fit(
    X_train, y_partial)
logreg = LogisticRegression(max_iter=1000).fit(X_train[labeled], y_train[labeled])

scores = {
    "SHOT-VAE\n(50 labels + 1387 unlabeled)": shot.score(X_test, y_test),
    "same network\n(50 labels only)": supervised.score(X_test, y_test),
    "logistic regression\n(50 labels only)": logreg.score(X_test, y_test),
}
for name, score in scores.items():
    print(f"{name.replace(chr(10), ' '):55s} test accuracy {score:.3f}")

# %%
# Test accuracy
# -------------
# The unlabeled images are what lifts SHOT-VAE above both baselines.
fig, ax = plt.subplots(figsize=(7, 3.5))
bars = ax.bar(list(scores), list(scores.values()), color=["C0", "C7", "C7"])
ax.bar_label(bars, fmt="%.3f")
ax.set_ylim(0, 1.05)
ax.set_ylabel("test accuracy")
ax.set_title("Digits, 5 labels per class")
fig.tight_layout()

# %%
# Predictions on test digits
# --------------------------
# The first 20 test digits with the class SHOT-VAE predicts and its
# probability ``q(y|x)``; wrong predictions are titled in red.
proba = shot.predict_proba(X_test[:20])
pred = shot.classes_[proba.argmax(axis=1)]
fig, axes = plt.subplots(2, 10, figsize=(9, 2.4))
for ax, image, p, prob, truth in zip(axes.ravel(), X_test, pred, proba.max(axis=1), y_test):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{p} ({prob:.2f})", fontsize=9, color="black" if p == truth else "red")
    ax.axis("off")
fig.suptitle("SHOT-VAE predictions (probability) on test digits")
fig.tight_layout()
plt.show()
