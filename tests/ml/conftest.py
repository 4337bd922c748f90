"""The runtime model tests share the training tests' synthetic windows and tiny model."""

from tests.training.conftest import ARTIFACTS, DATA_PRESENT, synthetic_windows, tiny_artifacts

__all__ = ["ARTIFACTS", "DATA_PRESENT", "synthetic_windows", "tiny_artifacts"]
