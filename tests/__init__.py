"""Salvo's test suite: behaviours on real servers (tests/conftest.py starts them)."""
