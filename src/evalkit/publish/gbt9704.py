"""The page of a Chinese official document (党政机关公文格式, GB/T 9704-2012) in python-docx:
the named styles, the page, the page numbers and bordered tables, for
:mod:`evalkit.publish.bulletin`.

    doc, styles = new_document()
    w = Writer(doc, styles)
    w.para("关于……的通报", "title"); w.h1("总体情况"); w.para("……")

- A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm: a 156 x 225 mm text block;
- 22 lines to a page: a line grid (``w:docGrid``) of 28.95 pt and that fixed line spacing;
  28 characters to a line (see :data:`CHAR_SPACING`);
- styles (fonts on every slot, the East Asian one included, never on runs): Normal 3号 (16 pt)
  仿宋, first-line indent two characters; Title 2号 (22 pt) 方正小标宋简体, centred; Heading 1
  3号黑体 and Heading 2 3号楷体, indented as the body; tables 小四 (12 pt) 仿宋 with a 黑体
  header row repeated on every page; the footer's page number ``— 1 —`` in 4号 (14 pt) 宋体,
  one character in from the right on odd pages and from the left on even ones; a yellow
  highlighted character style for what the drafter must fill in.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt, Twips

from . import i18n

# Fonts. 仿宋, 楷体, 黑体 and 宋体 ship with every Chinese Windows since Vista (simfang,
# simkai, simhei, simsun) and with WPS; the *_GB2312 variants GB/T 9704's templates often
# name do not, and Word silently substitutes a missing font, so a circular set in
# 仿宋_GB2312 would print in another face on a machine without it. 方正小标宋简体 is the
# title face the standard's templates use; the font table names 宋体 as its alternative for
# a machine without it.
TITLE_FONT = "方正小标宋简体"
TITLE_FONT_ALT = "宋体"
BODY_FONT = "仿宋"
HEADING1_FONT = "黑体"
HEADING2_FONT = "楷体"
PAGE_NUMBER_FONT = "宋体"

TITLE_SIZE = Pt(22)        # 二号
BODY_SIZE = Pt(16)         # 三号
PAGE_NUMBER_SIZE = Pt(14)  # 四号
TABLE_SIZE = Pt(12)        # 小四

PAGE_WIDTH, PAGE_HEIGHT = Mm(210), Mm(297)          # A4
MARGIN_TOP, MARGIN_BOTTOM = Mm(37), Mm(35)
MARGIN_LEFT, MARGIN_RIGHT = Mm(28), Mm(26)
LINES_PER_PAGE = 22
CHARS_PER_LINE = 28
# The page number's dashes sit 7 mm below the text block (GB/T 9704, 7.5): the footer's line
# (18.2 pt, 6.4 mm at 4号, the dashes at its middle) ends this far above the page's lower edge
# (297 - 37 - 225 - 7 - 3.2 - 0.2 mm of the dash's stroke, about 25 mm).
FOOTER_DISTANCE = Mm(25)

# One line of the 225 mm text block, rounded down to whole twips so 22 lines fit in it
# (579 twips = 28.95 pt: the fixed line spacing the standard's templates use).
LINE_PITCH = Twips(int((PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM) / Twips(1)) // LINES_PER_PAGE)
# 28 characters across 156 mm: 15.79 pt each, 0.21 pt less than the 16 pt body font. A
# character grid (w:docGrid linesAndChars with a negative w:charSpace) would squeeze them in
# Word, but LibreOffice gives every character wider than the grid's pitch two cells (14 to a
# line), so the lines keep a line grid only and the body style's characters are condensed
# instead (w:spacing, in twentieths of a point, rounded down so 28 fit): 16 - 0.25 = 15.75 pt,
# 28 to a line in Word, WPS and LibreOffice alike.
CHAR_PITCH_PT = Emu(PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT).pt / CHARS_PER_LINE
CHAR_SPACING = math.floor((CHAR_PITCH_PT - BODY_SIZE.pt) * 20)

# Named styles: (style id, name). Normal, Title, Heading 1, Heading 2 and Footer are Word's
# built-in styles (shown as 正文, 标题, 标题 1, 标题 2, 页脚 by a Chinese Word), restyled.
STYLE_TABLE_TEXT = ("BulletinTableText", "表格文字")
STYLE_TABLE_HEAD = ("BulletinTableHead", "表格标题行")
STYLE_PLACEHOLDER = ("BulletinPlaceholder", "待填写")
STYLE_ADDRESSEE = ("BulletinAddressee", "主送机关")
STYLE_SIGNATURE = ("BulletinSignature", "落款")
STYLE_NOTE = ("BulletinNote", "表注")


# The order of children OOXML's schema requires in w:pPr (Word refuses a file that breaks it).
_PPR_ORDER = ("pStyle", "keepNext", "keepLines", "pageBreakBefore", "framePr", "widowControl",
              "numPr", "suppressLineNumbers", "pBdr", "shd", "tabs", "suppressAutoHyphens",
              "kinsoku", "wordWrap", "overflowPunct", "topLinePunct", "autoSpaceDE",
              "autoSpaceDN", "bidi", "adjustRightInd", "snapToGrid", "spacing", "ind",
              "contextualSpacing", "mirrorIndents", "suppressOverlap", "jc", "textDirection",
              "textAlignment", "textboxTightWrap", "outlineLvl", "divId", "cnfStyle", "rPr",
              "sectPr", "pPrChange")
# The same for w:rPr.
_RPR_ORDER = ("rStyle", "rFonts", "b", "bCs", "i", "iCs", "caps", "smallCaps", "strike",
              "dstrike", "outline", "shadow", "emboss", "imprint", "noProof", "snapToGrid",
              "vanish", "webHidden", "color", "spacing", "w", "kern", "position", "sz", "szCs",
              "highlight", "u", "effect", "bdr", "shd", "fitText", "vertAlign", "rtl", "cs",
              "em", "lang", "eastAsianLayout", "specVanish", "oMath")


# --------------------------------------------------------------------------- the document

def _put(parent, tag: str, order: Sequence[str], **attrs: Any):
    """The child ``w:tag`` of ``parent`` (made and placed where the schema's ``order`` wants it
    when missing), with ``attrs`` set (``w:`` attributes)."""
    el = parent.find(qn(f"w:{tag}"))
    if el is None:
        el = OxmlElement(f"w:{tag}")
        later = {qn(f"w:{t}") for t in order[order.index(tag) + 1:]}
        for child in parent:
            if child.tag in later:
                child.addprevious(el)
                break
        else:
            parent.append(el)
    for key, value in attrs.items():
        el.set(qn(f"w:{key}"), str(value))
    return el


def _fonts(rpr, name: str) -> None:
    """All four font slots of a run property (East Asian included) set to ``name``, and the
    theme fonts, which would override them, removed."""
    fonts = rpr.get_or_add_rFonts()
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attr}"), None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), name)


def _reset(style) -> None:
    """A built-in style stripped of its paragraph and run properties (the template's colours,
    borders, theme fonts and spacing)."""
    for tag in ("w:pPr", "w:rPr"):
        for el in style.element.findall(qn(tag)):
            style.element.remove(el)


def _style(doc: DocxDocument, name: str, *, font: str, size: Pt, align=None,
           indent_chars: int = 0, snap: bool = True, line=None, outline: int | None = None,
           keep_next: bool = False, bold: bool | None = None,
           style_id: str | None = None):
    """Get (a built-in) or add a paragraph style and set it: font on every slot, size,
    alignment, first-line indent in characters, fixed line spacing (default: the grid's line),
    snapping to the document grid, outline level."""
    styles = doc.styles
    try:
        style = styles[name]
        _reset(style)
        if name != "Normal":
            style.base_style = styles["Normal"]
    except KeyError:
        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles["Normal"]
        if style_id:
            style.style_id = style_id
        style.quick_style = True
    rpr = style.element.get_or_add_rPr()
    _fonts(rpr, font)
    style.font.size = size
    style.font.bold = bold
    pf = style.paragraph_format
    pf.space_before = pf.space_after = Pt(0)
    pf.line_spacing = line if line is not None else LINE_PITCH
    pf.alignment = align
    ppr = style.element.get_or_add_pPr()
    if indent_chars:
        # A Chinese first-line indent counts characters (w:firstLineChars, hundredths); the
        # width beside it is for readers that do not know the attribute.
        pf.first_line_indent = Pt(size.pt * indent_chars)
        ind = _put(ppr, "ind", _PPR_ORDER)
        ind.set(qn("w:firstLineChars"), str(100 * indent_chars))
    else:
        pf.first_line_indent = Pt(0)
        _put(ppr, "ind", _PPR_ORDER, firstLineChars=0)
    if not snap:
        _put(ppr, "snapToGrid", _PPR_ORDER, val=0)
    if outline is not None:
        _put(ppr, "outlineLvl", _PPR_ORDER, val=outline)
    if keep_next:
        pf.keep_with_next = True
    pf.widow_control = True
    return style


def _doc_defaults(doc: DocxDocument) -> None:
    """Document defaults: the body font on every slot (no theme fonts), Chinese as the East
    Asian language (line breaking, punctuation), no space after paragraphs."""
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _fonts(rpr, BODY_FONT)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    # Text without a paragraph style of its own (inside a table style) gets the body's size.
    size = str(int(BODY_SIZE.pt * 2))
    _put(rpr, "sz", _RPR_ORDER, val=size)
    _put(rpr, "szCs", _RPR_ORDER, val=size)
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    spacing = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr")).find(qn("w:spacing"))
    spacing.set(qn("w:after"), "0")


def _styles(doc: DocxDocument) -> dict[str, Any]:
    """The document's named styles, by role."""
    _doc_defaults(doc)
    centre, right = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.RIGHT
    justify = WD_ALIGN_PARAGRAPH.JUSTIFY
    out = {
        "body": _style(doc, "Normal", font=BODY_FONT, size=BODY_SIZE, align=justify,
                       indent_chars=2),
        # The title keeps its fixed line spacing off the line grid, as the standard's templates.
        "title": _style(doc, "Title", font=TITLE_FONT, size=TITLE_SIZE, align=centre,
                        outline=0, keep_next=True, snap=False),
        "h1": _style(doc, "Heading 1", font=HEADING1_FONT, size=BODY_SIZE, align=justify,
                     indent_chars=2, outline=1, keep_next=True, bold=False),
        "h2": _style(doc, "Heading 2", font=HEADING2_FONT, size=BODY_SIZE, align=justify,
                     indent_chars=2, outline=2, keep_next=True, bold=False),
        "footer": _style(doc, "Footer", font=PAGE_NUMBER_FONT, size=PAGE_NUMBER_SIZE,
                         snap=False, line=Pt(PAGE_NUMBER_SIZE.pt * 1.3)),
        "addressee": _style(doc, STYLE_ADDRESSEE[1], style_id=STYLE_ADDRESSEE[0],
                            font=BODY_FONT, size=BODY_SIZE, align=WD_ALIGN_PARAGRAPH.LEFT),
        "signature": _style(doc, STYLE_SIGNATURE[1], style_id=STYLE_SIGNATURE[0],
                            font=BODY_FONT, size=BODY_SIZE, align=right),
        "table": _style(doc, STYLE_TABLE_TEXT[1], style_id=STYLE_TABLE_TEXT[0], font=BODY_FONT,
                        size=TABLE_SIZE, align=centre, snap=False, line=Pt(TABLE_SIZE.pt * 1.5)),
        "table_head": _style(doc, STYLE_TABLE_HEAD[1], style_id=STYLE_TABLE_HEAD[0],
                             font=HEADING1_FONT, size=TABLE_SIZE, align=centre, snap=False,
                             line=Pt(TABLE_SIZE.pt * 1.5)),
        "note": _style(doc, STYLE_NOTE[1], style_id=STYLE_NOTE[0], font=BODY_FONT,
                       size=TABLE_SIZE, align=justify, snap=False,
                       line=Pt(TABLE_SIZE.pt * 1.5)),
    }
    out["placeholder"] = _placeholder_style(doc)
    # 28 characters to a line (see CHAR_SPACING); the styles based on Normal inherit it.
    _put(out["body"].element.get_or_add_rPr(), "spacing", _RPR_ORDER, val=CHAR_SPACING)
    # The signature's date sits four characters in from the right edge (GB/T 9704, 7.3.5).
    sig = out["signature"].element.get_or_add_pPr()
    _put(sig, "ind", _PPR_ORDER, right=int(4 * BODY_SIZE.pt * 20), rightChars=400)
    return out


def _placeholder_style(doc: DocxDocument):
    """The character style of the drafter's placeholders: highlighted in yellow, so a draft
    with one left is seen at a glance (Word prints highlighting too)."""
    style = doc.styles.add_style(STYLE_PLACEHOLDER[1], WD_STYLE_TYPE.CHARACTER)
    style.style_id = STYLE_PLACEHOLDER[0]
    style.quick_style = True
    style.font.highlight_color = WD_COLOR_INDEX.YELLOW
    # LibreOffice does not take a highlight from a style: a yellow shading shows it there.
    _put(style.element.get_or_add_rPr(), "shd", _RPR_ORDER, val="clear", color="auto",
         fill="FFFF00")
    return style


def _font_table(doc: DocxDocument) -> None:
    """Name :data:`TITLE_FONT_ALT` as the title font's alternative (``w:altName``) and mark the
    Chinese fonts as GB2312 (charset 86), so Word picks a Chinese face where one is missing."""
    part = next((p for p in doc.part.package.iter_parts()
                 if str(p.partname) == "/word/fontTable.xml"), None)
    if part is None:
        return
    root = parse_xml(part.blob)
    for name, alt in ((TITLE_FONT, TITLE_FONT_ALT), (BODY_FONT, None), (HEADING1_FONT, None),
                      (HEADING2_FONT, None), (PAGE_NUMBER_FONT, None)):
        font = OxmlElement("w:font")
        font.set(qn("w:name"), name)
        if alt:
            _put(font, "altName", ("altName", "charset"), val=alt)
        charset = OxmlElement("w:charset")
        charset.set(qn("w:val"), "86")
        font.append(charset)
        root.append(font)
    from lxml import etree

    # python-docx keeps the font table as raw bytes; they are replaced whole.
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _page(doc: DocxDocument, footer_style) -> None:
    """A4, the standard's margins, the 22 x 28 grid, page numbers in odd and even footers."""
    section = doc.sections[0]
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
    section.left_margin, section.right_margin = MARGIN_LEFT, MARGIN_RIGHT
    section.footer_distance = FOOTER_DISTANCE
    grid = section._sectPr.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        section._sectPr.append(grid)
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), str(int(LINE_PITCH / Twips(1))))
    grid.attrib.pop(qn("w:charSpace"), None)
    doc.settings.odd_and_even_pages_header_footer = True
    _page_number(section.footer.paragraphs[0], footer_style, odd=True)
    _page_number(section.even_page_footer.paragraphs[0], footer_style, odd=False)


def _field_run(paragraph, kind: str, text: str | None = None) -> None:
    run = paragraph.add_run()
    if kind == "instr":
        el = OxmlElement("w:instrText")
        el.set(qn("xml:space"), "preserve")
        el.text = text
    else:
        el = OxmlElement("w:fldChar")
        el.set(qn("w:fldCharType"), kind)
    run._r.append(el)


def _page_number(paragraph, style, *, odd: bool) -> None:
    """``— 1 —`` (a PAGE field between two em dashes), one character in from the right edge
    on odd pages and from the left on even ones (GB/T 9704, 7.5)."""
    paragraph.style = style
    fmt = paragraph.paragraph_format
    fmt.alignment = WD_ALIGN_PARAGRAPH.RIGHT if odd else WD_ALIGN_PARAGRAPH.LEFT
    ind = _put(paragraph._p.get_or_add_pPr(), "ind", _PPR_ORDER)
    side = "right" if odd else "left"
    ind.set(qn(f"w:{side}"), str(int(PAGE_NUMBER_SIZE.pt * 20)))
    ind.set(qn(f"w:{side}Chars"), "100")
    paragraph.add_run("— ")
    _field_run(paragraph, "begin")
    _field_run(paragraph, "instr", " PAGE ")
    _field_run(paragraph, "separate")
    paragraph.add_run("1")
    _field_run(paragraph, "end")
    paragraph.add_run(" —")


@dataclass(frozen=True)
class Column:
    """A table column: the frame column shown, its header, its width and alignment."""

    key: str
    header: str
    width: Mm
    align: Any = WD_ALIGN_PARAGRAPH.CENTER


class Writer:
    """Adds paragraphs, numbered headings (一、 and （一）), placeholders and tables to a
    document made by :func:`new_document`, each in its style."""

    def __init__(self, doc: DocxDocument, styles: dict[str, Any]):
        self.doc = doc
        self.styles = styles
        self.h1_count = 0
        self.h2_count = 0

    def _new(self, style: str, text: str = ""):
        paragraph = self.doc.add_paragraph(text)
        _set_style(paragraph, self.styles[style])
        return paragraph

    def para(self, text: str, style: str = "body"):
        return self._new(style, text)

    def lines(self, lines: Sequence[str], style: str = "body"):
        """One paragraph of several lines (line breaks, not paragraphs: a title stays one)."""
        paragraph = self._new(style)
        for i, line in enumerate(lines):
            run = paragraph.add_run(line)
            if i < len(lines) - 1:
                run.add_break()
        return paragraph

    def placeholder(self, text: str, style: str = "body"):
        """A paragraph of the drafter's: its text in the highlighted placeholder style."""
        paragraph = self._new(style)
        paragraph.add_run(text, style=self.styles["placeholder"])
        return paragraph

    def h1(self, text: str) -> None:
        """一、总体情况 (numbered here, so the numbers follow the sections present)."""
        self.h1_count += 1
        self.h2_count = 0
        self.para(f"{CN_NUMERALS[self.h1_count]}、{text}", "h1")

    def h2(self, text: str) -> None:
        """（一）……"""
        self.h2_count += 1
        self.para(f"（{CN_NUMERALS[self.h2_count]}）{text}", "h2")

    def table(self, frame: pd.DataFrame, columns: Sequence[Column]):
        """A bordered table, centred on the page: a header row repeated on every page, rows
        that do not break across pages, every cell centred vertically."""
        table = self.doc.add_table(rows=1, cols=len(columns))
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        for col, column in zip(table.columns, columns):
            col.width = column.width
        head = table.rows[0]
        _row_flags(head, header=True)
        for cell, column in zip(head.cells, columns):
            self._cell(cell, column.header, column.width, "table_head",
                       WD_ALIGN_PARAGRAPH.CENTER)
        values = [frame[c.key].tolist() for c in columns]
        for i in range(len(frame)):
            row = table.add_row()
            _row_flags(row, header=False)
            for cell, column, vals in zip(row.cells, columns, values):
                self._cell(cell, vals[i], column.width, "table", column.align)
        return table

    def _cell(self, cell, value: Any, width, style: str, align) -> None:
        cell.width = width
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        paragraph = cell.paragraphs[0]
        _set_style(paragraph, self.styles[style])
        if align is not None and align != WD_ALIGN_PARAGRAPH.CENTER:
            paragraph.paragraph_format.alignment = align
        paragraph.add_run(i18n.MISSING if value is None or (isinstance(value, float)
                                                             and pd.isna(value)) else str(value))


CN_NUMERALS = ("〇", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十")


def _set_style(paragraph, style) -> None:
    """``paragraph.style = style`` by its id: python-docx's setter looks through every style
    of the document for the default one each time, most of a large table's time."""
    paragraph._p.get_or_add_pPr().style = style.style_id


def _row_flags(row, *, header: bool) -> None:
    """A row that does not break across pages; the header row repeated on every page."""
    trpr = row._tr.get_or_add_trPr()
    trpr.append(OxmlElement("w:cantSplit"))
    if header:
        trpr.append(OxmlElement("w:tblHeader"))


def new_document() -> tuple[DocxDocument, dict[str, Any]]:
    """An empty document with the page, the styles and the page numbers set; and its styles
    by role (body, title, h1, h2, footer, addressee, signature, table, table_head, note,
    placeholder)."""
    doc = Document()
    styles = _styles(doc)
    _font_table(doc)
    _page(doc, styles["footer"])
    # The template's document starts with one empty paragraph: the caller's first takes its
    # place.
    body = doc.element.body
    for p in body.findall(qn("w:p")):
        body.remove(p)
    return doc, styles
