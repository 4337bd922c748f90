"""Alerting: typed alert events and the pure state machines that make them.

Nothing here does I/O or reads a clock: times come in as arguments (reading time, epoch
seconds, unless a docstring says otherwise). The services layer stores and publishes what
these objects return.
"""
