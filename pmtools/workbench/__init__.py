"""The workbench: ipywidgets panels served by Voilà (``pmtools app``) or shown in a notebook.

Widgets call pmtools functions and show their results; they never build a request or parse a
reply. ``build_app()`` is all a notebook needs.
"""

from pmtools.workbench.app import Workbench, build_app
from pmtools.workbench.session import Session, open_session

__all__ = ["Session", "Workbench", "build_app", "open_session"]
