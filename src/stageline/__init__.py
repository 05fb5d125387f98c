"""stageline: build once, verify on staging, promote the same artifact to production."""

__version__ = "0.1.0"
