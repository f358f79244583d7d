"""Keyboard shortcuts for the one-by-one review: a small anywidget that sends key presses.

ipywidgets has no key events. This widget is a focusable box: while it has the focus (a click
on it, or Tab), each key of :data:`KEYS` pressed is sent to the kernel, which calls the
panel's handler. Listening only inside the box (not on the whole document) keeps a letter
typed into a search field from deciding a record. anywidget is already what itables' widget
is built on, so it runs in Voilà as the tables do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

KEYS = {
    "n": "next",
    "j": "next",
    "p": "previous",
    "k": "previous",
    "a": "accept",
    "x": "not_a_match",
    "s": "skip",
}
HINT = (
    "Click this box, then: N or J next record, P or K previous, A accept the suggestion, "
    "X not a match, S skip."
)

_ESM = """
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "pm-keys-box";
  box.tabIndex = 0;
  box.setAttribute("role", "application");
  box.setAttribute("aria-label", model.get("hint"));
  box.style.cssText = "border:2px dashed #1976d2;border-radius:4px;padding:0.4em 0.8em;" +
                      "margin:0.3em 0;cursor:pointer;color:#1976d2;outline:none";
  const show = () => {
    const on = document.activeElement === box;
    box.style.borderStyle = on ? "solid" : "dashed";
    box.style.background = on ? "#e3f2fd" : "white";
    box.textContent = (on ? "Keyboard review on. " : "") + model.get("hint");
  };
  box.addEventListener("focus", show);
  box.addEventListener("blur", show);
  box.addEventListener("click", () => box.focus());
  box.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (!model.get("shortcuts").includes(key)) return;
    event.preventDefault();
    model.send({ key });
  });
  model.on("change:hint", show);
  show();
  el.appendChild(box);
}
export default { render };
"""


class KeyListener(anywidget.AnyWidget):
    """A focusable box sending the review's shortcut keys to :meth:`press`."""

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    shortcuts = traitlets.List(traitlets.Unicode(), default_value=sorted(KEYS)).tag(sync=True)
    hint = traitlets.Unicode(HINT).tag(sync=True)

    def __init__(self, handler: Callable[[str], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handler = handler
        self.pressed: list[str] = []  # the commands received, oldest first (for tests, logs)
        self.on_msg(self._message)

    def press(self, key: str) -> None:
        """Handle one key as if pressed in the box (the browser sends the same)."""
        command = KEYS.get(str(key).lower())
        if command is None:
            return
        self.pressed.append(command)
        self.handler(command)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and "key" in content:
            self.press(str(content["key"]))
