"""skshot: SHOT-VAE semi-supervised classification for scikit-learn."""

__version__ = "0.1.0"

from .classifier import ShotVAEClassifier
from .persistence import load, save

__all__ = ["ShotVAEClassifier", "load", "save"]
