"""Offline only: datasets, training, evaluation, reports and the model card.

The service never imports this package.
"""
