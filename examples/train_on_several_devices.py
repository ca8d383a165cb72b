"""
Training one model on several GPUs with Accelerate
==================================================

``ShotVAEClassifier(accelerator=Accelerator())`` trains through skorch's
Accelerate integration. Started by ``accelerate launch`` or ``torchrun`` with
several processes, one per GPU, the processes train one model together (data
parallelism): each takes its own share of every epoch's batches and the
gradients are averaged after each step, so all of them end with the same
model. Started as a plain script, it is an ordinary single-process fit.

Run it on 4 GPUs with::

    accelerate launch --num_processes 4 examples/train_on_several_devices.py

or, without a GPU, with 2 processes on the CPU::

    torchrun --nproc_per_node 2 examples/train_on_several_devices.py --cpu

The batch sizes apply per process: with 4 processes and
``batch_size_unlabeled=512`` each step sees 2048 unlabeled images, and an
epoch has a quarter of the steps. The script needs ``accelerate``
(``pip install "skshot[accelerate]"``) and Fashion-MNIST
(``apt-get install dataset-fashion-mnist``); it is not run when the
documentation is built.
"""

import argparse

import numpy as np
from accelerate import Accelerator

from skshot import ShotVAEClassifier
from skshot.datasets import load_fashion_mnist, mask_labels

parser = argparse.ArgumentParser()
parser.add_argument("--cpu", action="store_true", help="train on the CPU")
parser.add_argument("--epochs", type=int, default=20)
args = parser.parse_args()

# Leave the accelerator's own mixed precision off: the estimator's
# ``mixed_precision="bf16"`` keeps the losses in float32.
accelerator = Accelerator(cpu=args.cpu)

X_train, y_train = load_fashion_mnist(subset="train", return_X_y=True)
X_test, y_test = load_fashion_mnist(subset="test", return_X_y=True)
y_partial = mask_labels(y_train, 10, random_state=0)  # 10 labels per class

clf = ShotVAEClassifier(
    backbone="conv",
    input_shape=(1, 28, 28),
    max_epochs=args.epochs,
    mixed_precision=None if args.cpu else "bf16",
    accelerator=accelerator,
    random_state=0,  # the same in every process
)
clf.fit(X_train, y_partial)

# Every process holds the same model; let one of them report.
if accelerator.is_main_process:
    error = 100 * (1 - np.mean(clf.predict(X_test) == y_test))
    print(f"{accelerator.num_processes} process(es) on {accelerator.device}: "
          f"test error {error:.1f} %")
