"""Read a batch file (CSV or XLSX) into suppliers, and a line-numbered error for each bad row.

Why so lenient on the format and so strict on the rows: the files come from shared-service
centres' spreadsheets (French Excel: semicolons, Windows-1252, French column names, SIRETs
typed "123 456 789 00012", numbers that lost their leading zero). Any such file must just
work; but a row the portal would reject, or a supplier listed twice, must be stopped here
with its line number, before anything is created, while the good rows still run.

Only a file that cannot be read at all (or lacks a required column) is fatal:
``BatchFileError``, whose message is the one line the CLI prints before exiting 2.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from bot.errors import BusinessOutcome
from bot.models import ALL_AREAS, Supplier
from bot.siret import check_email, check_siret

REQUIRED = ("siret", "email", "first_name", "last_name", "phone")

# Accepted column names per field (compared after `_norm`: case, accents, punctuation ignored).
COLUMNS: dict[str, tuple[str, ...]] = {
    "siret": ("siret", "n siret", "numero siret", "no siret", "siret number"),
    "email": (
        "email", "e-mail", "mail", "courriel", "login email", "login_email", "adresse e-mail",
        "adresse email", "adresse e-mail de connexion", "adresse email de connexion",
        "email de connexion", "e-mail de connexion",
    ),
    "first_name": ("first_name", "first name", "prénom", "prenom", "firstname"),
    "last_name": ("last_name", "last name", "nom", "nom de famille", "lastname"),
    "phone": ("phone", "phone number", "téléphone", "telephone", "numéro de téléphone", "tel", "tél"),
    "job_title": ("job_title", "job title", "fonction", "poste"),
    "notification_email": (
        "notification_email", "notification email", "email de notification",
        "e-mail de notification", "adresse e-mail de notification", "adresse email de notification",
    ),
    "areas": ("areas", "work areas", "espaces", "espaces de travail"),
    "non_diffusible": ("non_diffusible", "non diffusible", "insee non diffusible", "non-diffusible"),
    "company_name": ("company_name", "company name", "raison sociale", "dénomination", "denomination sociale"),
    "postal_code": ("postal_code", "postal code", "code postal", "cp", "zip"),
    "city": ("city", "ville", "commune"),
}

# French names of the work areas (Chorus Pro's "espaces"), accepted beside the English ones.
AREAS_FR = {
    "sollicitations emises": "Sent requests",
    "factures emises": "Issued invoices",
    "activites du gestionnaire": "Manager activities",
    "factures de travaux": "Work invoices",
    "engagements": "Commitments",
    "factures recues": "Received invoices",
}

YES = {"yes", "y", "oui", "o", "true", "vrai", "1", "x"}
NO = {"no", "n", "non", "false", "faux", "0", ""}

_AREA_SEPARATORS = re.compile(r"[|;,]")
_PHONE = re.compile(r"\+?[0-9 .()\-\u00a0]{6,30}")


class BatchFileError(Exception):
    """The file cannot be used at all. ``str(exc)`` is one line naming the file and the cause."""

    def __init__(self, message: str) -> None:
        super().__init__(_printable(message))  # a title or a path may hold a line break


@dataclass(frozen=True)
class RowError:
    """A skipped row: its line (1 = the header line), why, and what it said (for the report)."""

    line: int
    reason: str
    siret: str = ""
    email: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class BatchInput:
    suppliers: list[tuple[int, Supplier]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _printable(text: str) -> str:
    """The text with line breaks and other invisible characters as escapes (``\\n``, ``\\xa0``).

    Messages quote what the file said, and must stay one line: the CLI prints one per bad row.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _norm(text: str) -> str:
    """Lower case, no accents, punctuation and underscores as single spaces."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


_ALIASES = {_norm(alias): name for name, aliases in COLUMNS.items() for alias in aliases}
_AREAS = {_norm(area): area for area in ALL_AREAS} | {_norm(fr): en for fr, en in AREAS_FR.items()}


def read_batch(path: Path | str) -> BatchInput:
    """Every good row as ``(line, Supplier)``, every bad one as a ``RowError``, in file order."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BatchFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.startswith(b"PK\x03\x04"):
        rows = _xlsx_rows(path, data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise BatchFileError(f"{path}: old Excel .xls format is not supported; save it as .xlsx or CSV")
    elif b"\0" in data[:4096] and not data.startswith(_UTF16_BOMS):
        raise BatchFileError(f"{path}: unknown format (expected CSV or XLSX)")
    else:
        rows = _csv_rows(path, data)
    return _parse(path, rows)


# -- file formats ---------------------------------------------------------------------------


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _decode(path: Path, data: bytes) -> str:
    """UTF-8, else Windows-1252; UTF-16 with its BOM (Excel's "Unicode Text").

    A byte order mark says what the file is: a UTF-8 one that is not UTF-8 throughout
    (a row pasted from elsewhere) is an error, not Windows-1252 read as mojibake.
    """
    if data.startswith(_UTF16_BOMS):
        encodings, problem = ("utf-16",), "is not UTF-16, as its byte order mark says"
    elif data.startswith(codecs.BOM_UTF8):
        encodings, problem = ("utf-8-sig",), "is not UTF-8, as its byte order mark says"
    else:
        encodings, problem = ("utf-8", "cp1252"), "is neither UTF-8 nor Windows-1252"
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            error = exc
    line = data[: error.start].decode(encodings[-1], "replace").count("\n") + 1
    raise BatchFileError(f"{path}: line {line}: the text {problem}")


def _csv_rows(path: Path, data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Each record with its line as a spreadsheet numbers it (a cell may hold line breaks)."""
    text = _decode(path, data)
    line = 0
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
        for line, row in enumerate(reader, start=1):
            yield line, row
    except csv.Error as exc:
        raise BatchFileError(f"{path}: line {line + 1}: {exc}") from None


def _delimiter(text: str) -> str:
    """The one of ``;`` ``,`` tab that cuts the header into the most known column names, then cells.

    Not the most frequent character: "Notes, remarques" in a semicolon file has commas too.
    """

    def score(delimiter: str) -> tuple[int, int]:
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = next((row for row in rows if any(cell.strip() for cell in row)), [])
        return sum(_norm(cell) in _ALIASES for cell in header), len(header)

    return max((";", ",", "\t"), key=score)


def _xlsx_rows(path: Path, data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    # A damaged workbook fails in zipfile, zlib, the XML parser or openpyxl, with a dozen exception
    # types, at opening or (read-only mode parses lazily) at any row: all mean "cannot be read".
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise _unreadable_xlsx(path, exc) from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers store wrong dimensions; read every row
        for line, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, [_cell_text(value) for value in cells]
    except Exception as exc:
        raise _unreadable_xlsx(path, exc) from None
    finally:
        workbook.close()


def _unreadable_xlsx(path: Path, exc: Exception) -> BatchFileError:
    return BatchFileError(f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {str(exc)[:200]})")


def _cell_text(value: object) -> str:
    """A cell as the text a person sees; integral numbers without '.0', never in E notation."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 44306184100039.0 -> "44306184100039" (exact below 2**53)
    return str(value)


# -- rows -----------------------------------------------------------------------------------


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    """Field name -> column index. Unknown columns are ignored (spreadsheets carry extras)."""
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        name = _ALIASES.get(_norm(title))
        if name is None:
            continue
        if name in found:
            raise BatchFileError(
                f"{path}: columns '{header[found[name]].strip()}' and '{title.strip()}' both mean '{name}'"
            )
        found[name] = index
    for name in REQUIRED:
        if name not in found:
            others = ", ".join(a for a in COLUMNS[name] if a != name)
            raise BatchFileError(f"{path}: missing required column '{name}' (also accepted: {others})")
    return found


def _parse(path: Path, rows: Iterable[tuple[int, list[str]]]) -> BatchInput:
    out = BatchInput()
    columns: dict[str, int] | None = None
    first_siret: dict[str, int] = {}
    first_email: dict[str, int] = {}
    for line, cells in rows:
        if not any(str(c).strip() for c in cells):
            continue  # empty lines are no rows
        if columns is None:
            columns = _columns(path, cells)
            continue
        values = {name: (cells[i].strip() if i < len(cells) else "") for name, i in columns.items()}
        try:
            supplier = _supplier(values)
        except _BadRow as exc:
            out.errors.append(RowError(line, _printable(str(exc)), values.get("siret", ""), values.get("email", "")))
            continue
        email_key = supplier.email.lower()
        if supplier.siret in first_siret:
            reason = f"SIRET {supplier.siret} is already on line {first_siret[supplier.siret]}"
        elif email_key in first_email:
            reason = f"login email {supplier.email} is already on line {first_email[email_key]}"
        else:
            first_siret[supplier.siret] = first_email[email_key] = line
            out.suppliers.append((line, supplier))
            continue
        out.errors.append(RowError(line, reason, supplier.siret, supplier.email))
    if columns is None:
        raise BatchFileError(f"{path}: the file is empty")
    return out


class _BadRow(Exception):
    pass


def _supplier(values: dict[str, str]) -> Supplier:
    """Validate one row; raise ``_BadRow`` with the first thing wrong, said for a person."""
    for name in REQUIRED:
        if not values.get(name):
            raise _BadRow(f"{name} is empty")
    try:
        siret = check_siret(_restore_zeros(values["siret"], 14, lost=2))
        email = check_email(values["email"])
        notification = values.get("notification_email") or None
        if notification:
            notification = check_email(notification)
    except BusinessOutcome as exc:
        raise _BadRow(exc.message) from None
    phone = values["phone"]
    if phone.isdigit() and len(phone) == 9:
        phone = "0" + phone  # a French number that lost its leading zero in a numeric cell
    if not _PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) < 6:
        raise _BadRow(f"phone '{phone}' is not a phone number")
    try:
        return Supplier(
            siret=siret,
            email=email,
            first_name=values["first_name"],
            last_name=values["last_name"],
            phone=phone,
            job_title=values.get("job_title") or None,
            notification_email=notification,
            areas=_areas(values.get("areas", "")),
            non_diffusible=_yes_no(values.get("non_diffusible", "")),
            company_name=values.get("company_name") or None,
            postal_code=_restore_zeros(values.get("postal_code", ""), 5, lost=1) or None,
            city=values.get("city") or None,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _BadRow(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _restore_zeros(value: str, width: int, lost: int) -> str:
    """Put back up to ``lost`` leading zeros that a numeric spreadsheet cell dropped.

    Only for a bare number (as Excel writes it back): "01000" typed in a number cell
    comes out as 1000. A value typed with spaces is left alone (then checked as typed).
    """
    if value.isascii() and value.isdigit() and width - lost <= len(value) < width:
        return value.zfill(width)
    return value


def _areas(text: str) -> list[str]:
    areas: list[str] = []
    for part in _AREA_SEPARATORS.split(text):
        if not part.strip():
            continue
        area = _AREAS.get(_norm(part))
        if area is None:
            raise _BadRow(f"unknown work area '{part.strip()}' (known: {', '.join(ALL_AREAS)})")
        if area not in areas:
            areas.append(area)
    return areas


def _yes_no(text: str) -> bool:
    value = _norm(text)
    if value in YES:
        return True
    if value in NO:
        return False
    raise _BadRow(f"non_diffusible '{text}' must be yes or no")
