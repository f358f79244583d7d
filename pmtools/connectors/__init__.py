"""Connectors: Liscio and IPM (Karbon API v3) over HTTP, behind one protocol."""

from pmtools.connectors.base import Connector, Identity, Unreadable

__all__ = ["Connector", "Identity", "Unreadable"]
