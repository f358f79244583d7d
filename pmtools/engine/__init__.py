"""The flow that writes: sync, apply, the manual operations and undo.

The one layer that talks to both connectors and the store.
"""
