"""tpython: security transparency for CPython.

The public surface is small: the :class:`PolicyViolation` a denied event
raises, and the version. Everything else lives in private modules.
"""
__all__ = ["PolicyViolation", "__version__"]
__version__ = "0.1.0"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tpython.errors import PolicyViolation
else:
    def __getattr__(name):
        """PolicyViolation, from tpython.errors on first use (it loads the C module)."""
        if name != "PolicyViolation":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from tpython.errors import PolicyViolation

        globals()["PolicyViolation"] = PolicyViolation
        return PolicyViolation
