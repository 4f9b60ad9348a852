"""Salvo's provider sandbox: one aiohttp app standing in for four SMS providers' HTTP APIs.

Written only from the provider documents; see sandbox/README.md for what is documented and what
is inferred.
"""

from sandbox.app import Running, create_app, run, start
from sandbox.config import ConfigError

__all__ = ["ConfigError", "Running", "create_app", "run", "start"]
