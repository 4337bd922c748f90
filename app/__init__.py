"""gasleak: real-time gas-leak detection service."""

__version__ = "0.1.0"
