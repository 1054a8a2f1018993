"""PDF of a report's document: A4, DejaVu fonts embedded, the header (school,
class, period, date of printing) and "Страница N из M" on every page, table
headers repeated on each page, bar charts drawn as vector graphics, signature
lines at the end.

Built on reportlab's platypus: ``LongTable`` splits long tables across pages
and repeats the header row; a canvas subclass keeps the pages until the end
so each can say how many there are."""
from __future__ import annotations

import io
import math

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import (
    BaseDocTemplate, CondPageBreak, Frame, KeepTogether, LongTable, PageTemplate, Paragraph, Spacer, Table, TableStyle,
)
from reportlab.platypus.flowables import Flowable

from kernel import pdf_fonts as fonts
from reports.render.document import cell_text, header_lines, short_number

MARGIN_X = 12 * mm
MARGIN_TOP = 22 * mm
MARGIN_BOTTOM = 14 * mm
PAD = 2.5  # points of cell padding on each side
FONT_SIZES = (8, 7.5, 7, 6.5, 6, 5.5)
NUMERIC = ("int", "number", "percent", "date")
HEADER_FILL = colors.HexColor("#E6E9EE")
TOTALS_FILL = colors.HexColor("#EEF0F3")
STRIPE = colors.HexColor("#F7F8FA")
GRID = colors.HexColor("#8A8F98")
PALETTE = [colors.HexColor(c) for c in (
    "#3B6EA8", "#E08A2E", "#5A9E4B", "#B8474B", "#7A5EA8", "#3C9C9C", "#A8863B", "#6B6B6B")]
SIGNATURE_LINE = "____________ / ____________"


def _styles():
    base = dict(fontName=fonts.REGULAR)
    return {
        "title": ParagraphStyle("title", fontName=fonts.BOLD, fontSize=14, leading=17,
                                alignment=TA_CENTER, spaceAfter=2),
        "subtitle": ParagraphStyle("subtitle", **base, fontSize=10, leading=13, alignment=TA_CENTER,
                                   spaceAfter=4),
        "section": ParagraphStyle("section", fontName=fonts.BOLD, fontSize=11, leading=14,
                                  spaceBefore=8, spaceAfter=4),
        "note": ParagraphStyle("note", fontName=fonts.ITALIC, fontSize=8, leading=10, spaceBefore=3,
                               textColor=colors.HexColor("#333333")),
        "signature": ParagraphStyle("signature", **base, fontSize=10, leading=13),
    }


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Canvas(pdfcanvas.Canvas):
    """Keeps every page until save() to print "Страница N из M" on each."""

    def __init__(self, *args, **kwargs):
        kwargs["initialFontName"] = fonts.REGULAR  # else Helvetica, not embedded
        super().__init__(*args, **kwargs)
        self._pages = []

    def showPage(self):
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self.setFont(fonts.REGULAR, 8)
            self.setFillColor(colors.black)
            width = self._pagesize[0]
            self.drawRightString(width - MARGIN_X, MARGIN_BOTTOM - 8 * mm, f"Страница {number} из {total}")
            super().showPage()
        super().save()


def _fit(text: str, font: str, size: float, width: float) -> str:
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _page_decorator(doc: dict):
    header = doc.get("header") or {}
    facts = header_lines(header)
    school = facts[0][1]
    middle = "   ".join(f"{label}: {value}" for label, value in facts[1:-1])
    printed = f"{facts[-1][0]}: {facts[-1][1]}"
    title = doc["title"]

    def draw(canvas, template):
        width, height = canvas._pagesize
        right = width - MARGIN_X
        top = height - 10 * mm
        canvas.saveState()
        canvas.setFillColor(colors.black)
        canvas.setFont(fonts.BOLD, 9)
        canvas.drawString(MARGIN_X, top, _fit(school, fonts.BOLD, 9, right - MARGIN_X))
        canvas.setFont(fonts.REGULAR, 8)
        printed_width = stringWidth(printed, fonts.REGULAR, 8)
        canvas.drawRightString(right, top - 4.2 * mm, printed)
        if middle:
            canvas.drawString(MARGIN_X, top - 4.2 * mm,
                              _fit(middle, fonts.REGULAR, 8, right - MARGIN_X - printed_width - 6 * mm))
        canvas.setStrokeColor(GRID)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, top - 6.5 * mm, right, top - 6.5 * mm)
        canvas.line(MARGIN_X, MARGIN_BOTTOM - 4 * mm, right, MARGIN_BOTTOM - 4 * mm)
        canvas.setFont(fonts.REGULAR, 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(MARGIN_X, MARGIN_BOTTOM - 8 * mm, _fit(title, fonts.REGULAR, 7, (right - MARGIN_X) * 0.6))
        canvas.restoreState()

    return draw


# --- tables ----------------------------------------------------------------

def _longest(texts, font: str, size: float, sample: int = 24) -> float:
    """The widest of ``texts`` (measuring the longest few by length only)."""
    if not texts:
        return 0.0
    candidates = sorted(set(texts), key=len, reverse=True)[:sample]
    return max(stringWidth(t, font, size) for t in candidates)


def _widest_word(text: str, font: str, size: float) -> float:
    words = str(text).split()
    return max((stringWidth(w, font, size) for w in words), default=0.0)


def _column_widths(titles, types, body, totals, avail: float):
    """(font size, widths, natural body widths) so the table fits ``avail``:
    first the natural widths, then wrapped headers, then wrapped text columns,
    each tried at a smaller font before giving up and scaling down."""
    n = len(titles)
    for size in FONT_SIZES:
        head_size = size
        nat_body = [max(_longest(body[i], fonts.REGULAR, size), _longest(totals[i], fonts.BOLD, size))
                    + 2 * PAD for i in range(n)]
        head_full = [stringWidth(titles[i], fonts.BOLD, head_size) + 2 * PAD for i in range(n)]
        head_word = [_widest_word(titles[i], fonts.BOLD, head_size) + 2 * PAD for i in range(n)]
        natural = [max(nat_body[i], head_full[i]) for i in range(n)]
        if sum(natural) <= avail:
            return size, _spread(natural, types, avail, natural), nat_body
        need = [max(nat_body[i], head_word[i]) for i in range(n)]
        if sum(need) <= avail:
            return size, _spread(need, types, avail, natural), nat_body
        text_cap = 30 * mm
        squeezed = [max(head_word[i], min(nat_body[i], text_cap)) if types[i] == "text" else need[i]
                    for i in range(n)]
        if sum(squeezed) <= avail:
            return size, _spread(squeezed, types, avail, natural), nat_body
    # still too wide at the smallest font: numbers keep their width (headers
    # break inside words), text columns share what is left
    numeric = [i for i in range(n) if types[i] != "text"]
    text_cols = [i for i in range(n) if types[i] == "text"]
    floor = [min(nat_body[i], 12 * mm) for i in range(n)]
    with_words = [max(nat_body[i], head_word[i]) if types[i] != "text" else max(floor[i], head_word[i])
                  for i in range(n)]
    if sum(with_words) <= avail:
        return size, _spread(with_words, types, avail, natural), nat_body
    fixed = sum(nat_body[i] for i in numeric)
    if text_cols and fixed + sum(floor[i] for i in text_cols) <= avail:
        widths = [nat_body[i] if types[i] != "text" else floor[i] for i in range(n)]
        # the room left goes to every header alike, so none is left one letter wide
        return size, _spread(widths, types, avail, with_words, even=True), nat_body
    factor = avail / sum(squeezed)
    return size, [w * factor for w in squeezed], nat_body


def _spread(widths, types, avail, natural, even: bool = False):
    """Give the room left to the columns that want more (``natural``): the
    smallest wants first, or with ``even`` a like share of each want; then
    what remains to the text columns."""
    widths = list(widths)
    spare = avail - sum(widths)
    if spare <= 0:
        return widths
    if even:
        wanting = [i for i in range(len(widths)) if natural[i] > widths[i]]
        gap = sum(natural[i] - widths[i] for i in wanting)
        share = min(1.0, spare / gap) if gap else 0
        for i in wanting:
            widths[i] += (natural[i] - widths[i]) * share
        return widths
    # the smallest wants first: a name column gets its one line before a
    # long comment column takes the rest and wraps
    for i in sorted((i for i in range(len(widths)) if natural[i] > widths[i]),
                    key=lambda i: natural[i] - widths[i]):
        grant = min(spare, natural[i] - widths[i])
        widths[i] += grant
        spare -= grant
    text_cols = [i for i, t in enumerate(types) if t == "text"]
    if spare > 0 and text_cols and sum(widths) > 0.55 * avail:
        base = sum(widths[i] for i in text_cols)
        for i in text_cols:
            widths[i] += spare * widths[i] / base
    return widths


def _table(table: dict, avail: float):
    columns = table["columns"]
    types = [c.get("type", "text") for c in columns]
    titles = [str(c.get("title") or c["key"]) for c in columns]
    keys = [c["key"] for c in columns]
    rows = table.get("rows") or []
    body = [[cell_text(row.get(k), t) for k, t in zip(keys, types)] for row in rows]
    totals_row = table.get("totals")
    totals = [cell_text(totals_row.get(k), t) for k, t in zip(keys, types)] if totals_row else None
    by_column = [[r[i] for r in body] for i in range(len(keys))]
    totals_by_column = [[totals[i]] if totals else [] for i in range(len(keys))]
    size, widths, nat_body = _column_widths(titles, types, by_column, totals_by_column, avail)

    leading = size * 1.2
    head_style = ParagraphStyle("th", fontName=fonts.BOLD, fontSize=size, leading=leading, alignment=TA_CENTER)
    styles = {
        "text": ParagraphStyle("td", fontName=fonts.REGULAR, fontSize=size, leading=leading, alignment=TA_LEFT),
        "num": ParagraphStyle("tn", fontName=fonts.REGULAR, fontSize=size, leading=leading, alignment=TA_RIGHT),
    }
    bold = {k: ParagraphStyle(s.name + "b", parent=s, fontName=fonts.BOLD) for k, s in styles.items()}
    narrow = [i for i in range(len(keys)) if widths[i] + 0.01 < nat_body[i]]

    def wrapped(cells, font, style_set):
        out = list(cells)
        for i in narrow:
            if out[i] and stringWidth(out[i], font, size) > widths[i] - 2 * PAD:
                out[i] = Paragraph(_escape(out[i]), style_set["text" if types[i] == "text" else "num"])
        return out

    data = [[Paragraph(_escape(t), head_style) for t in titles]]
    data += [wrapped(r, fonts.REGULAR, styles) if narrow else r for r in body]
    commands = [
        ("FONTNAME", (0, 0), (-1, -1), fonts.REGULAR),
        ("FONTSIZE", (0, 0), (-1, -1), size),
        ("LEADING", (0, 0), (-1, -1), leading),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), PAD),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
    ]
    for i, (column, t) in enumerate(zip(columns, types)):
        align = str(column.get("align") or ("right" if t in NUMERIC else "")).upper()
        if align in ("RIGHT", "CENTER"):
            commands.append(("ALIGN", (i, 1), (i, -1), align))
    if len(body) > 1:
        commands.append(("ROWBACKGROUNDS", (0, 1), (-1, len(body)), [colors.white, STRIPE]))
    if not body:
        data.append(["Нет данных"] + [""] * (len(keys) - 1))
        commands += [("SPAN", (0, 1), (-1, 1)), ("ALIGN", (0, 1), (-1, 1), "CENTER"),
                     ("TEXTCOLOR", (0, 1), (-1, 1), colors.HexColor("#555555"))]
    if totals:
        data.append(wrapped(totals, fonts.BOLD, bold) if narrow else totals)
        commands += [("FONTNAME", (0, -1), (-1, -1), fonts.BOLD), ("BACKGROUND", (0, -1), (-1, -1), TOTALS_FILL),
                     ("LINEABOVE", (0, -1), (-1, -1), 0.9, colors.black)]
    kind = LongTable if len(data) > 60 else Table
    flowable = kind(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    flowable.setStyle(TableStyle(commands))
    return flowable


# --- charts ----------------------------------------------------------------

def _number(value) -> float | None:
    """A chart value: a finite number, else nothing drawn."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _chart(chart: dict, width: float) -> Drawing:
    labels = [str(label) for label in chart.get("labels") or []]
    series = [s for s in chart.get("series") or [] if isinstance(s, dict)]
    height = 62 * mm
    drawing = Drawing(width, height)
    title = str(chart.get("title") or "")
    if title:
        drawing.add(String(width / 2, height - 10, title, fontName=fonts.BOLD, fontSize=9, textAnchor="middle"))
    longest = max((stringWidth(label, fonts.REGULAR, 7) for label in labels), default=0)
    legend_width = 0
    if len(series) > 1:
        legend_width = min(55 * mm, max(stringWidth(str(s.get("name", "")), fonts.REGULAR, 7)
                                        for s in series) + 16)
    plot_width = width - 40 - legend_width - 10
    slot = plot_width / max(1, len(labels))
    angled = longest > slot - 4
    bottom = 16 + (min(longest, 70) * 0.6 if angled else 0)
    bars = VerticalBarChart()
    bars.x, bars.y = 36, bottom
    bars.width, bars.height = plot_width, height - bottom - 22
    count = len(labels) or max((len(s.get("values") or []) for s in series), default=0) or 1
    labels = (labels + [""] * count)[:count]
    bars.data = [tuple((list(_number(v) for v in s.get("values") or []) + [None] * count)[:count])
                 for s in series] or [(None,) * count]
    if not any(v is not None for row in bars.data for v in row):
        bars.valueAxis.valueMax = 1  # nothing to draw: an empty frame
    bars.categoryAxis.categoryNames = labels
    bars.categoryAxis.labels.fontName = fonts.REGULAR
    bars.categoryAxis.labels.fontSize = 7
    if angled:
        bars.categoryAxis.labels.angle = 35
        bars.categoryAxis.labels.boxAnchor = "ne"
        bars.categoryAxis.labels.dx = 2
        bars.categoryAxis.labels.dy = -2
    bars.valueAxis.labels.fontName = fonts.REGULAR
    bars.valueAxis.labels.fontSize = 7
    bars.valueAxis.valueMin = 0
    values = [v for row in bars.data for v in row if v is not None]
    if values and all(float(v).is_integer() for v in values):  # counts: whole-number ticks
        bars.valueAxis.valueStep = max(1, math.ceil(max(values) / 5))
        if max(values) < 5:  # room above the highest bar for its label
            bars.valueAxis.valueMax = max(values) + 1
    bars.valueAxis.visibleGrid = True
    bars.valueAxis.gridStrokeColor = colors.HexColor("#DDDDDD")
    bars.valueAxis.labelTextFormat = short_number
    bars.barLabelFormat = short_number
    bars.barLabels.fontName = fonts.REGULAR
    bars.barLabels.fontSize = 6.5
    bars.barLabels.nudge = 6
    bars.groupSpacing = 6
    for i in range(len(bars.data)):
        bars.bars[i].fillColor = PALETTE[i % len(PALETTE)]
        bars.bars[i].strokeColor = None
    drawing.add(bars)
    if len(series) > 1:
        legend = Legend()
        legend.x, legend.y = width - legend_width, height - 26
        legend.fontName, legend.fontSize = fonts.REGULAR, 7
        legend.alignment = "right"
        legend.boxAnchor = "nw"
        legend.columnMaximum = 10
        legend.dx = legend.dy = 7
        legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], _fit(str(s.get("name", "")), fonts.REGULAR, 7,
                                                                  legend_width - 16))
                                 for i, s in enumerate(series)]
        drawing.add(legend)
    return drawing


# --- the document ------------------------------------------------------------

def _signatures(labels, style) -> Flowable:
    rows = [[Paragraph(_escape(label), style), SIGNATURE_LINE] for label in labels]
    table = Table(rows, colWidths=[80 * mm, 70 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), fonts.REGULAR), ("FONTSIZE", (0, 0), (-1, -1), 10),
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("TOPPADDING", (0, 0), (-1, -1), 10),
    ]))
    return KeepTogether([Spacer(1, 8 * mm), table])


def story(doc: dict, avail: float) -> list:
    """The flowables of a document (also used by the archive)."""
    styles = _styles()
    out = [Paragraph(_escape(doc["title"]), styles["title"])]
    if doc.get("subtitle"):
        out.append(Paragraph(_escape(doc["subtitle"]), styles["subtitle"]))
    out.append(Spacer(1, 2 * mm))
    for section in doc.get("sections") or []:
        if section.get("title"):
            # a title is never left alone at the foot of a page (keepWithNext
            # would move a whole long table to the next page with it)
            out.append(CondPageBreak(40 * mm))
            out.append(Paragraph(_escape(section["title"]), styles["section"]))
        if section.get("table"):
            out.append(_table(section["table"], avail))
        if section.get("chart"):
            out.append(Spacer(1, 3 * mm))
            out.append(_chart(section["chart"], avail))
        if section.get("note"):
            out.append(Paragraph(_escape(section["note"]), styles["note"]))
    if doc.get("signatures"):
        out.append(_signatures(doc["signatures"], styles["signature"]))
    return out


def pagesize(doc: dict):
    return landscape(A4) if doc.get("orientation") == "landscape" else A4


def build(doc: dict, flowables_of, fileobj) -> None:
    """Lay out ``flowables_of(avail_width)`` on the document's pages."""
    fonts.register()
    size = pagesize(doc)
    template = BaseDocTemplate(
        fileobj, pagesize=size, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM, title=doc["title"], author=(doc.get("header") or {}).get("school") or "",
        creator="eJournal", subject=doc.get("subtitle") or "")
    frame = Frame(MARGIN_X, MARGIN_BOTTOM, size[0] - 2 * MARGIN_X, size[1] - MARGIN_TOP - MARGIN_BOTTOM,
                  id="body", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    template.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=_page_decorator(doc),
                                            pagesize=size)])
    template.build(flowables_of(frame._width), canvasmaker=_Canvas)


def render_pdf_to(doc: dict, fileobj) -> None:
    build(doc, lambda avail: story(doc, avail), fileobj)


def render_pdf(doc: dict) -> bytes:
    out = io.BytesIO()
    render_pdf_to(doc, out)
    return out.getvalue()
