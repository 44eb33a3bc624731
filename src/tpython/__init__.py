"""tpython: security transparency for CPython.

The public surface is small: the :class:`PolicyViolation` a denied event
raises, and the version. Everything else lives in private modules.
"""
from tpython.errors import PolicyViolation

__all__ = ["PolicyViolation", "__version__"]
__version__ = "0.1.0"
