"""The order of the examples in the gallery: from a first fit to model selection."""

import os

ORDER = [
    "plot_digits_quickstart.py",
    "plot_latent_space.py",
    "plot_elbo_vs_accuracy.py",
    "plot_fashion_conditional_generation.py",
    "plot_grid_search.py",
    "plot_tabular_pipeline.py",
    "train_on_several_devices.py",
]


class ExampleOrder:
    """Sort key for sphinx-gallery: examples of ``ORDER`` first, in that order."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = os.path.basename(filename)
        return (ORDER.index(name), name) if name in ORDER else (len(ORDER), name)
