"""The fonts every PDF embeds (the reports' documents, the portal's
password letters): DejaVu Sans (full Cyrillic), taken from the matplotlib
wheel's ``mpl-data`` so the project's own packages carry them and no font of
the machine is ever used.

The files are found without importing matplotlib (its import pulls numpy);
reportlab embeds a subset of each TrueType font it uses.
"""
from __future__ import annotations

import importlib.util
import os
import threading

from reportlab.graphics.shapes import STATE_DEFAULTS
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
ITALIC = "DejaVuSans-Oblique"
FAMILY = "DejaVuSans"

_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf", ITALIC: "DejaVuSans-Oblique.ttf"}
_lock = threading.Lock()
_registered = False


def font_dir() -> str:
    """The folder of matplotlib's bundled TrueType fonts."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib (the carrier of the PDF fonts) is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "mpl-data", "fonts", "ttf")


def register() -> None:
    """Register the fonts with reportlab once per process."""
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        folder = font_dir()
        for name, file in _FILES.items():
            pdfmetrics.registerFont(TTFont(name, os.path.join(folder, file)))
        pdfmetrics.registerFontFamily(FAMILY, normal=REGULAR, bold=BOLD, italic=ITALIC, boldItalic=BOLD)
        # a drawing starts in the graphics' default font (Helvetica, never
        # embedded) even when all its text names another one
        STATE_DEFAULTS["fontName"] = REGULAR
        _registered = True
