"""ROMA Explorer's library: graphs, dynamics, renormalization, models, training and evaluation."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roma-explorer")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"
