"""One process of a data-parallel fit through Accelerate, for tests/test_accelerate.py.

Run with the torch.distributed environment (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) set; writes this process's fitted
weights, training losses and predictions to ``<out>/rank<RANK>.npz``.
"""

import os
import sys

import numpy as np
import torch
from accelerate import Accelerator
from sklearn.datasets import load_digits

from skshot import ShotVAEClassifier


def main(out):
    X, y = load_digits(return_X_y=True)
    X, y = (X[:300] / 16.0).astype(np.float32), y[:300]
    y_partial = np.where(np.arange(len(y)) % 10 == 0, y, -1)
    clf = ShotVAEClassifier(hidden_sizes=(32,), latent_dim=4, max_epochs=3, lr=0.01,
                            batch_size_unlabeled=32, batch_size_labeled=16,
                            lr_schedule="constant", random_state=0,
                            accelerator=Accelerator(cpu=True))
    clf.fit(X, y_partial)
    weights = torch.cat([p.detach().flatten() for p in clf.net_.module_.parameters()])
    np.savez(os.path.join(out, f"rank{os.environ['RANK']}.npz"), weights=weights.numpy(),
             train_loss=np.array(clf.history_[:, "train_loss"]),
             batches=np.array(clf.history_[:, "train_batch_count"]),
             proba=clf.predict_proba(X))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
