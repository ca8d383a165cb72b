"""Sphinx configuration of the skshot documentation."""

import os
import sys
import warnings

import skshot

sys.path.insert(0, os.path.abspath("."))  # for _gallery_order

project = "skshot"
author = "the skshot authors"
copyright = "skshot authors"
version = release = skshot.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True

autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- sphinx-gallery ------------------------------------------------------------
# SKSHOT_EXAMPLES_SMOKE=1 makes every example run with a fraction of its epochs
# and data; the examples read the variable themselves.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # The command-line script of the README stays outside the gallery.
    "ignore_pattern": r"__init__\.py|digits_semi_supervised\.py",
    "within_subsection_order": "_gallery_order.ExampleOrder",
    "doc_module": ("skshot",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"skshot": None},
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 5,
}

# Examples use matplotlib's non-interactive backend; silence its warning about
# plt.show() in that backend.
warnings.filterwarnings("ignore", category=UserWarning,
                        message="FigureCanvasAgg is non-interactive")

# -- MyST ----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skshot {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


# -- docstring fix-ups -----------------------------------------------------------
def _escape_trailing_underscore_names(app, what, name, obj, options, lines):
    """Escape ``n_features_in_`` in "shape (n_features_in_,)" type lines.

    reStructuredText reads a bare word ending in ``_`` as a link reference.
    """
    for i, line in enumerate(lines):
        lines[i] = line.replace("(n_features_in_,)", r"(n_features_in\_,)")


def setup(app):
    app.connect("autodoc-process-docstring", _escape_trailing_underscore_names)
