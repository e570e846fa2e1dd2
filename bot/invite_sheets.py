"""What the front desk gets from an import: the invite links as a CSV and as printable cards (PDF).

Both files hold working invite links (a link is as good as the patient's consent to be messaged),
so they are created readable by their owner only (0600) and never overwrite an existing file.

The cards: eight to an A4 page (two columns, four rows, dashed lines to cut along), each with the
clinic's name, the patient's name, the QR code (segno's matrix drawn as a 1-bit image) and the
link. Names in any script: the font is the first of ``CARD_FONTS`` (the clinic's own choice), else
DejaVu Sans from the system (Latin, Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic); for
characters it lacks, another font on this machine that has them is found (Noto CJK, Devanagari …
where installed) and used as a fallback, with right-to-left and joined scripts shaped by HarfBuzz
(uharfbuzz). No font is shipped with the project. Without any usable font file the cards fall back
to the PDF core font Helvetica, which shows Latin-1 only, and the caller is told so.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import segno

log = logging.getLogger(__name__)

PRIVATE_FILE_MODE = 0o600
CSV_COLUMNS = ("row", "patient_id", "name", "external_id", "lang", "invite_url", "expires_at")
# Where fonts usually are on Linux (and macOS), searched when fontconfig (fc-list) is absent.
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
             "/Library/Fonts", "/System/Library/Fonts")
PRIMARY_FONT_FILES = ("DejaVuSans.ttf",)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
# The page: A4 in millimetres, two columns by four rows of cards.
PAGE_W, PAGE_H = 210.0, 297.0
COLUMNS, ROWS = 2, 4
MARGIN = 10.0
CARD_W, CARD_H = (PAGE_W - 2 * MARGIN) / COLUMNS, (PAGE_H - 2 * MARGIN) / ROWS
QR_SIDE = 38.0
CARDS_PER_PAGE = COLUMNS * ROWS


@dataclass(frozen=True)
class Card:
    """One patient's invite card."""

    name: str
    link: str
    hint: str = ""        # "scan with your phone …" in the patient's language
    expires: str = ""     # "valid until …" in the patient's language
    clinic: str = ""
    reference: str = ""   # the patient's number ("#12"), for /patient 12 at the desk


@dataclass
class CardsReport:
    """How the cards came out: pages, the fonts used, and cards with characters no font had."""

    pages: int = 0
    fonts: list[str] = field(default_factory=list)
    missing_glyphs: int = 0
    core_font_only: bool = False


def create_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by its owner only; FileExistsError if ``path`` exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
    finally:
        os.close(fd)


def invite_csv(lines: Iterable[Sequence[object]]) -> bytes:
    """The invites CSV (UTF-8 with a byte order mark, so spreadsheets read the names right)."""
    buffer = _Buffer()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(lines)
    return ("\ufeff" + "".join(buffer.parts)).encode("utf-8")


def read_invite_csv(text: str) -> list[dict[str, str]]:
    """The rows of an invites CSV written by :func:`invite_csv` (for ``aftercare cards``)."""
    reader = csv.DictReader(text.removeprefix("\ufeff").splitlines())
    if reader.fieldnames is None or not {"name", "invite_url"} <= set(reader.fieldnames):
        raise ValueError("not an invites file: it needs the columns name and invite_url")
    return list(reader)


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)


# --------------------------------------------------------------------------- fonts


def system_font_files() -> list[Path]:
    """Every font file this machine has (fontconfig's list, else the usual folders)."""
    found: list[Path] = []
    if shutil.which("fc-list"):
        try:
            output = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True,
                                    timeout=20, check=False).stdout
            found = [Path(line) for line in output.splitlines() if line.lower().endswith(FONT_SUFFIXES)]
        except (OSError, subprocess.SubprocessError):
            found = []
    if not found:
        for folder in FONT_DIRS:
            root = Path(folder).expanduser()
            if root.is_dir():
                found.extend(path for path in root.rglob("*") if path.suffix.lower() in FONT_SUFFIXES)
    return sorted(set(found))


@cache
def _cmap(path: Path) -> frozenset[int]:
    """The code points a font file has glyphs for (empty if it cannot be read)."""
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(path, fontNumber=0, lazy=True) if path.suffix.lower() == ".ttc" else TTFont(path, lazy=True)
        return frozenset(font.getBestCmap() or {})
    except Exception:  # noqa: BLE001 - a broken font file on the machine is simply not used
        return frozenset()


class FontChoice:
    """The primary font and, on demand, fallbacks that cover what it lacks."""

    def __init__(self, preferred: Sequence[Path] = ()) -> None:
        self.preferred = [Path(path) for path in preferred]
        self._system: list[Path] | None = None
        self.primary = next((path for path in self.preferred if _cmap(path)), None)
        if self.primary is None:
            self.primary = next((path for path in self._candidates() if path.name in PRIMARY_FONT_FILES
                                 and _cmap(path)), None)
        self.fallbacks: list[Path] = []

    def _candidates(self) -> list[Path]:
        if self._system is None:
            self._system = system_font_files()
        return self.preferred + self._system

    def covers(self, text: str) -> bool:
        """Whether the fonts chosen so far have every visible character of ``text``."""
        return not self.missing(text)

    def missing(self, text: str) -> set[int]:
        chosen = [self.primary, *self.fallbacks] if self.primary else []
        return {ord(char) for char in text if not char.isspace()
                and not any(ord(char) in _cmap(path) for path in chosen)}

    def cover(self, text: str) -> bool:
        """Add fallback fonts until ``text`` is covered; False if no font on this machine can."""
        if self.primary is None:
            return False
        missing = self.missing(text)
        while missing:
            best = max((path for path in self._candidates() if path not in self.fallbacks and path != self.primary),
                       key=lambda path: len(missing & _cmap(path)), default=None)
            if best is None or not missing & _cmap(best):
                return False
            self.fallbacks.append(best)
            missing -= _cmap(best)
        return True


# --------------------------------------------------------------------------- cards


def _shaping_available() -> bool:
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:
        return False
    return True


def invite_cards_pdf(cards: Sequence[Card], *, fonts: FontChoice | None = None) -> tuple[bytes, CardsReport]:
    """The cards as a PDF, eight to an A4 page, and a report of how they came out."""
    from fpdf import FPDF
    from PIL import Image

    fonts = fonts or FontChoice()
    report = CardsReport()
    report.missing_glyphs = sum(1 for card in cards
                                if not fonts.cover(card.name + card.hint + card.expires + card.clinic))
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title("Invite cards")
    pdf.set_creator("Aftercare")
    sheet = _Sheet(pdf, _load_fonts(pdf, fonts, report), unicode=fonts.primary is not None, image_module=Image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fpdf2 warns per missing glyph: counted in the report instead
        for index, card in enumerate(cards):
            slot = index % CARDS_PER_PAGE
            if slot == 0:
                pdf.add_page()
                _cut_lines(pdf)
            sheet.draw(card, x=MARGIN + (slot % COLUMNS) * CARD_W + 5, y=MARGIN + (slot // COLUMNS) * CARD_H + 5)
        report.pages = pdf.pages_count
        data = bytes(pdf.output())
    return data, report


def _load_fonts(pdf, fonts: FontChoice, report: CardsReport) -> str:
    """Register the chosen fonts (with their fallbacks) on ``pdf``, note them in the report; the family to use."""
    if fonts.primary is None:
        report.core_font_only = True
        report.fonts = ["Helvetica (PDF core font: Latin-1 only)"]
        return "helvetica"
    pdf.add_font("card", fname=str(fonts.primary))
    families = []
    for index, path in enumerate(fonts.fallbacks):
        pdf.add_font(f"fallback{index}", fname=str(path))
        families.append(f"fallback{index}")
    if families:
        pdf.set_fallback_fonts(families, exact_match=False)
    if _shaping_available():
        pdf.set_text_shaping(True)
    report.fonts = [str(fonts.primary), *map(str, fonts.fallbacks)]
    return "card"


class _Sheet:
    """Draws cards onto ``pdf`` in one font family, breaking each distinct text into lines once."""

    def __init__(self, pdf, family: str, *, unicode: bool, image_module) -> None:
        self.pdf, self.family, self.unicode, self.image_module = pdf, family, unicode, image_module
        self.shaping = unicode and _shaping_available()
        self.wrapped: dict[tuple[str, float, float], list[str]] = {}

    def printable(self, text: str) -> str:
        """``text`` as the font can show it (the core font knows Latin-1 only)."""
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def lines(self, text: str, width: float, size: float) -> list[str]:
        """``text`` broken into lines of ``width`` (the same hint on every card is broken once)."""
        key = (text, width, size)
        if key not in self.wrapped:
            self.wrapped[key] = self.pdf.multi_cell(width, 4, text, dry_run=True, output="LINES") if text else []
        return self.wrapped[key]

    def write(self, text: str, *, x: float, y: float, width: float, size: float, height: float,
              limit: int = 3) -> float:
        """Draw ``text`` from (x, y) in lines of ``width``; return the y below it."""
        pdf = self.pdf
        pdf.set_font(self.family, size=size)
        # Shaping (HarfBuzz: joined letters, right-to-left order) costs time: only where a script needs it.
        pdf.set_text_shaping(self.shaping and any(ord(char) >= 0x0590 for char in text))
        for line in self.lines(self.printable(text), width, size)[:limit]:
            pdf.set_xy(x, y)
            pdf.cell(width, height, line)
            y += height
        return y

    def draw(self, card: Card, *, x: float, y: float) -> None:
        """One card with its top-left corner (inside the cut lines' margin) at (x, y)."""
        pdf, family, inner = self.pdf, self.family, CARD_W - 10
        pdf.set_text_color(90)
        self.write(card.clinic, x=x, y=y, width=inner - 15, size=8, height=4, limit=1)
        if card.reference:
            pdf.set_font(family, size=8)
            pdf.set_xy(x + inner - 15, y)
            pdf.cell(15, 4, card.reference, align="R")
        pdf.set_text_color(0)
        pdf.set_text_shaping(False)
        size = _fitting_size(pdf, family, self.printable(card.name), inner, 15, 9)
        self.write(card.name, x=x, y=y + 4.5, width=inner, size=size, height=6, limit=2)
        qr_y = y + 17
        pdf.image(_qr_image(card.link, self.image_module), x=x, y=qr_y, w=QR_SIDE, h=QR_SIDE)
        side_x, side_w = x + QR_SIDE + 3, inner - QR_SIDE - 3
        below = self.write(card.hint, x=side_x, y=qr_y + 3, width=side_w, size=8, height=4, limit=6)
        pdf.set_text_color(90)
        self.write(card.expires, x=side_x, y=below + 1, width=side_w, size=8, height=4, limit=2)
        pdf.set_text_color(0)
        pdf.set_text_shaping(False)
        pdf.set_font(family, size=_fitting_size(pdf, family, card.link, inner, 7, 4.5, lines=1))
        pdf.set_xy(x, qr_y + QR_SIDE + 1)
        pdf.cell(inner, 4, card.link)


def _fitting_size(pdf, family: str, text: str, width: float, largest: float, smallest: float, *,
                  lines: int = 2) -> float:
    """The largest font size (down to ``smallest``) at which ``text`` fits ``lines`` lines of ``width``."""
    size = largest
    pdf.set_font(family, size=size)
    natural = pdf.get_string_width(text)  # widths scale with the size: measured once
    while size > smallest and natural * size / largest > lines * width * 0.92:
        size -= 0.5
    return size


def _qr_image(link: str, image_module):
    """The link's QR code as a 1-bit image with its quiet zone (4 modules)."""
    matrix = segno.make_qr(link, error="m").matrix
    border = 4
    size = len(matrix) + 2 * border
    blank = b"\xff" * size
    rows = [blank] * border
    for line in matrix:
        rows.append(b"\xff" * border + bytes(0 if dark else 255 for dark in line) + b"\xff" * border)
    rows.extend([blank] * border)
    return image_module.frombytes("L", (size, size), b"".join(rows)).convert("1")


def _cut_lines(pdf) -> None:
    pdf.set_draw_color(180)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=2, gap=2)
    for column in range(1, COLUMNS):
        x = MARGIN + column * CARD_W
        pdf.line(x, MARGIN, x, PAGE_H - MARGIN)
    for row in range(1, ROWS):
        y = MARGIN + row * CARD_H
        pdf.line(MARGIN, y, PAGE_W - MARGIN, y)
    pdf.rect(MARGIN, MARGIN, PAGE_W - 2 * MARGIN, PAGE_H - 2 * MARGIN)
    pdf.set_dash_pattern()
    pdf.set_draw_color(0)
