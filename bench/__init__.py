"""Benchmarks that print numbers (never timing asserts in tests)."""
