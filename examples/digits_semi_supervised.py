"""Semi-supervised digits: SHOT-VAE with 5 labels per class against labeled-only training.

scikit-learn's 8x8 digits are split 80/20 (stratified). Of the 1437 training
images only 5 per class keep their label; the rest are marked -1 (unlabeled).
The script fits ``ShotVAEClassifier`` on all training images and, as the
baseline, the same network trained on the 50 labeled images alone
(``objective="supervised"``, predicting with its own ``q(y|x)``:
``vote_neighbors=0``) and a logistic regression on those 50 images,
then prints each one's accuracy on the test images.
"""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skshot import ShotVAEClassifier

N_LABELS_PER_CLASS = 5
SEED = 0

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]: the Bernoulli likelihood applies
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                    random_state=SEED)
rng = np.random.RandomState(SEED)
y_partial = np.full_like(y_train, -1)
for c in np.unique(y_train):
    keep = rng.choice(np.flatnonzero(y_train == c), N_LABELS_PER_CLASS, replace=False)
    y_partial[keep] = c
labeled = y_partial != -1
print(f"{len(X_train)} training images, {labeled.sum()} of them labeled; "
      f"{len(X_test)} test images")

params = {"random_state": SEED}  # otherwise the defaults
results = {}
for name, model in [
    ("ShotVAEClassifier (SHOT-VAE)", ShotVAEClassifier(objective="shot", **params)),
    ("same network, labeled only", ShotVAEClassifier(objective="supervised", vote_neighbors=0,
                                                     **params)),
    ("LogisticRegression, labeled only", LogisticRegression(max_iter=1000)),
]:
    start = time.perf_counter()
    if isinstance(model, LogisticRegression):
        model.fit(X_train[labeled], y_train[labeled])
    else:
        model.fit(X_train, y_partial)
    seconds = time.perf_counter() - start
    results[name] = model.score(X_test, y_test)
    print(f"{name:34s} test accuracy {results[name]:.3f}   ({seconds:.1f} s)")
