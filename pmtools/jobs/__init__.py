"""Jobs: long work (Sync Now, dry runs, forecasts, bulk actions, reports) run by a worker.

A job's state lives in the registry (:mod:`pmtools.store.registry`), so that every page and
command shows the same job and closing a page changes nothing.
"""
