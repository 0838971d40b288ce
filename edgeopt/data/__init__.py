"""Datasets: loading, validation, splits, normalisation and bundled examples."""

from edgeopt.data.dataset import Dataset, DataError, DataWarning
from edgeopt.data.examples import EXAMPLES, example_dataset
from edgeopt.data.loading import load_dataset
from edgeopt.data.normalize import Normalizer

__all__ = ["EXAMPLES", "DataError", "DataWarning", "Dataset", "Normalizer", "example_dataset", "load_dataset"]
