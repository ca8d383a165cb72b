"""skshot: SHOT-VAE semi-supervised classification for scikit-learn."""

from .classifier import ShotVAEClassifier

__all__ = ["ShotVAEClassifier"]
__version__ = "0.1.0"
