"""The dashboard and JSON API behind ``stageline serve`` (see docs/dashboard.md)."""

from stageline.web.app import create_app

__all__ = ["create_app"]
