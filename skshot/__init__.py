"""skshot: SHOT-VAE semi-supervised classification for scikit-learn."""

__version__ = "0.1.0"

from .classifier import ShotVAEClassifier  # noqa: E402
from .persistence import load, save  # noqa: E402

__all__ = ["ShotVAEClassifier", "load", "save"]
