"""The initial-password letter as PDF, drawn in the gateway's process with
reportlab and DejaVu Sans (full Cyrillic) from the matplotlib wheel
(kernel.pdf_fonts, as the reports' documents): no font of the machine is
ever used.

The letter is made from what the administrator's browser sends back and is
answered at once: the password is neither kept nor logged."""
from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas

from kernel import pdf_fonts

from gateway.portal.texts import LETTER

REGULAR, BOLD = pdf_fonts.REGULAR, pdf_fonts.BOLD


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and pdfmetrics.stringWidth(candidate, font, size) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + ([line] if line else [])


def password_letter(*, full_name: str, login: str, password: str, address: str, family: bool,
                    child: bool) -> bytes:
    """One A4 page: whom it is for, the login and the initial password, the
    portal's address and what to do first. ``family``: the letter for a
    student's or parent's family (``child``: the account is the student's)."""
    pdf_fonts.register()
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, invariant=1)
    page.setTitle(LETTER["title"])
    page.setAuthor(LETTER["school"])
    width, height = A4
    left, right = 22 * mm, width - 22 * mm
    y = height - 28 * mm

    def para(text: str, font: str = REGULAR, size: float = 11, gap: float = 3 * mm) -> None:
        nonlocal y
        for line in _wrap(text, font, size, right - left):
            page.setFont(font, size)
            page.drawString(left, y, line)
            y -= size * 1.45
        y -= gap

    para(LETTER["school"], BOLD, 12, 1 * mm)
    para(LETTER["title"], BOLD, 16, 6 * mm)
    if family:
        para(LETTER["to_family"], REGULAR, 11)
        para((LETTER["family_child"] if child else LETTER["family_parent"]).format(full_name))
    else:
        para(LETTER["to_user"].format(full_name))
        para(LETTER["user_intro"])
    y -= 2 * mm
    for label, value in ((LETTER["address"], address), (LETTER["login"], login), (LETTER["password"], password)):
        page.setFont(REGULAR, 11)
        page.drawString(left, y, label)
        page.setFont(BOLD, 13)
        page.drawString(left + 48 * mm, y, value)
        y -= 9 * mm
    y -= 3 * mm
    para(LETTER["steps_title"], BOLD, 12, 1 * mm)
    steps = LETTER["steps_family"] if family else LETTER["steps"]
    for i, step in enumerate(steps, 1):
        para(f"{i}. {step}", gap=1 * mm)
    y -= 3 * mm
    para(LETTER["keep_secret"])
    page.showPage()
    page.save()
    return out.getvalue()
