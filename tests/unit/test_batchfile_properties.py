"""Property-based tests of the batch file reader: whatever a spreadsheet wrote, the bot never crashes.

Files are generated as shared-service centres produce them, and worse: five encodings (with and
without BOM), three delimiters, required columns under any accepted name in any case or accent,
unknown and missing columns, short and long rows, blank lines, cells with line breaks, odd
SIRETs and emails, XLSX sheets with numbers where text is expected. Whatever comes in:

- only ``BatchFileError`` escapes, for a file-level problem, as one line naming the file;
- every non-blank row after the header comes back once, as a supplier or as a ``RowError``;
- a ``RowError`` names the row's line as a spreadsheet counts it (header = line 1) and a reason;
- a good row comes back as a supplier with what the row said; a bad one as an error saying which field.
"""
from __future__ import annotations

import csv
import io
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from test_batchfile import valid_siret  # the SIRETs of the example-based tests

from bot.batchfile import COLUMNS, REQUIRED, BatchFileError, BatchInput, RowError, read_batch
from bot.models import ALL_AREAS, Supplier

ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16")
DELIMITERS = (";", ",", "\t")
OPTIONAL = tuple(name for name in COLUMNS if name not in REQUIRED)
FRENCH_AREAS = {
    "Sent requests": "Sollicitations émises", "Issued invoices": "Factures émises",
    "Manager activities": "Activités du gestionnaire", "Work invoices": "Factures de travaux",
    "Commitments": "Engagements", "Received invoices": "Factures reçues",
}
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
NBSP, NNBSP = "\u00a0", "\u202f"


# ---- cells ------------------------------------------------------------------------------------


def _encodable(encoding: str):
    """A filter for the text a file in that encoding can hold."""

    def check(text: str) -> bool:
        try:
            text.encode(encoding)
        except UnicodeEncodeError:
            return False
        return True

    return check


def _text(encoding: str, *, min_size: int = 0, max_size: int = 20, breaks: str = "") -> st.SearchStrategy[str]:
    """Text a spreadsheet cell may hold in that encoding (no control character but ``breaks``)."""
    codec = "utf-8" if encoding.startswith("utf") else encoding
    alphabet = st.characters(codec=codec, exclude_categories=("Cs", "Cc"), exclude_characters="\ufeff")
    if breaks:
        alphabet = alphabet | st.sampled_from(breaks)
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def _name(encoding: str) -> st.SearchStrategy[str]:
    """A person's name: anything printable, possibly padded with blanks (stripped by the reader)."""
    pad = st.sampled_from(["", " ", "  ", "\t", NBSP])
    return st.builds(lambda a, core, b: a + core + b, pad, _text(encoding, min_size=1, max_size=25), pad).filter(
        lambda s: s.strip()
    )


def _siret_as_written(siret: str, encoding: str) -> st.SearchStrategy[str]:
    """A valid SIRET as people type it: plain, grouped by spaces, NBSP or dots, blank-padded."""
    groups = [siret[:3], siret[3:6], siret[6:9], siret[9:]]
    forms = [siret, " ".join(groups), NBSP.join(groups), NNBSP.join(groups), ".".join(groups), f"  {siret} ",
             f"{siret[:9]} {siret[9:]}"]
    return st.sampled_from([form for form in forms if _encodable(encoding)(form)])


def _odd_siret(siret: str, encoding: str) -> st.SearchStrategy[str]:
    """SIRETs as they come: wrong, or right in an odd way (13 digits that lost a zero, 14 Arabic digits)."""
    return st.one_of(
        st.sampled_from([
            siret[:-1] + "O",  # a letter O for a zero
            siret[:5] + "A" + siret[6:],
            siret[1:],  # 13 digits
            siret + "7",  # 15 digits
            siret.translate(ARABIC_DIGITS),  # '٠٠٥...'
            siret.translate(FULLWIDTH_DIGITS),
            f"{siret[:3]}{NBSP}{siret[3:6]}-{siret[6:]}",
            "SIRET " + siret,
            "", " ", "١٢٣",
        ]),
        _text(encoding, max_size=20),
    ).filter(_encodable(encoding))


_LOCAL = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}(\.[A-Za-z0-9_-]{1,8})?", fullmatch=True)
_DOMAIN = st.from_regex(r"([a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\.){1,2}(fr|com|example)", fullmatch=True)


def _email(index: int) -> st.SearchStrategy[str]:
    """A valid login email, unique (case-insensitively) among the generated rows."""

    def email(local: str, domain: str, upper: bool) -> str:
        address = f"{local}+r{index}@{domain}"
        return address.upper() if upper else address

    return st.builds(email, _LOCAL, _DOMAIN, st.booleans())


def _bad_email(index: int, encoding: str) -> st.SearchStrategy[str]:
    """Emails that are never valid: no @, two @, unicode, blanks inside, too long, no dotted domain."""
    return st.one_of(
        st.sampled_from([
            f"ap{index}.ssc.example", f"ap{index}@@ssc.example", f"ap{index}@ssc", f"élodie{index}@société.fr",
            f"用户{index}@例子.广告", f"a p{index}@ssc.example", f"ap{index}@ssc..example", f"@ssc{index}.example",
            f"ap{index}@", "x" * 65 + f"{index}@ssc.example", f"ap{index}@" + "d" * 250 + ".fr",
            f"ap{index}@ssc.example.", f"ap{index}\n@ssc.example", f"ap{index}@ssc.example;ap@ssc.example",
        ]),
        _text(encoding, min_size=1).filter(lambda s: "@" not in s and s.strip()),
    ).filter(_encodable(encoding))


def _phone() -> st.SearchStrategy[str]:
    """A French number: 0 and nine digits (never 00), grouped by pairs or not, or +33 and nine digits."""

    def written(rest: str, separator: str, international: bool) -> str:
        if international:
            return "+33 " + rest
        number = "0" + rest
        return separator.join(number[i : i + 2] for i in range(0, len(number), 2))

    return st.builds(written, st.from_regex(r"[1-9][0-9]{8}", fullmatch=True),
                     st.sampled_from(["", " ", ".", "-", NBSP]), st.booleans())


def _areas() -> st.SearchStrategy[tuple[str, list[str]]]:
    """(as written, as the supplier gets them): English or French names, any case, | ; or , between."""

    def written(picked: list[str], french: list[bool], upper: bool, separator: str) -> tuple[str, list[str]]:
        names = [FRENCH_AREAS[a] if fr else a for a, fr in zip(picked, french)]
        return separator.join(n.upper() if upper else n for n in names), list(dict.fromkeys(picked))

    return st.lists(st.sampled_from(ALL_AREAS), max_size=3).flatmap(lambda picked: st.builds(
        written, st.just(picked), st.lists(st.booleans(), min_size=len(picked), max_size=len(picked)),
        st.booleans(), st.sampled_from(["|", ";", ", ", " | "])))


_YES_NO = st.sampled_from([("yes", True), ("Oui", True), ("X", True), ("VRAI", True), ("1", True),
                           ("no", False), ("NON", False), ("", False), ("faux", False), ("0", False)])
# what a bad row's error names, per wrong field
_NAMED = {"siret": "siret", "email": "email", "first_name": "first_name", "last_name": "last_name",
          "phone": "phone", "areas": "work area", "non_diffusible": "non_diffusible"}


# ---- rows ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One generated record: its cells by field, and what the reader must make of it."""

    cells: dict[str, object]
    kind: str  # "good" | "bad" (the field `bad_field` is wrong) | "dup" | "odd" (anything goes)
    expected: dict[str, object] = field(default_factory=dict)  # the Supplier's fields, for "good"
    bad_field: str = ""
    repeats: int = 0  # for "dup": the index (among the records) of the row it repeats
    extra: list[str] = field(default_factory=list)  # cells past the last column
    cut: int | None = None  # keep only that many cells: a short row
    written: list[object] = field(default_factory=list)  # the cells as written, once written


@st.composite
def good_row(draw, index: int, encoding: str, fields: list[str], breaks: str = "\n\r\t") -> Row:
    """A row the portal would take, written as people do; ``expected`` is the Supplier it must give."""
    siret = valid_siret(index)
    email = draw(_email(index))
    first, last, phone = draw(_name(encoding)), draw(_name(encoding)), draw(_phone())
    cells: dict[str, object] = {"siret": draw(_siret_as_written(siret, encoding)), "first_name": first,
                                "email": f" {email} " if draw(st.booleans()) else email,
                                "last_name": last, "phone": phone}
    expected: dict[str, object] = {"siret": siret, "email": email, "first_name": first.strip(),
                                   "last_name": last.strip(), "phone": phone, "job_title": None,
                                   "notification_email": None, "areas": [], "non_diffusible": False,
                                   "company_name": None, "postal_code": None, "city": None}
    for name in fields:
        if name in ("job_title", "company_name", "city"):
            value = draw(_text(encoding, max_size=30, breaks=breaks))
            cells[name], expected[name] = value, value.strip() or None
        elif name == "notification_email":
            value = draw(st.sampled_from(["", f"notify{index}@ssc.example", f" Notify{index}@SSC.example"]))
            cells[name], expected[name] = value, value.strip() or None
        elif name == "areas":
            cells[name], expected[name] = draw(_areas())
        elif name == "non_diffusible":
            cells[name], expected[name] = draw(_YES_NO)
        elif name == "postal_code":
            code = draw(st.sampled_from(["75011", "1000", "01000", "", "2A004"]))
            cells[name], expected[name] = code, ("0" + code if len(code) == 4 else code) or None
    return Row(cells, "good", expected)


@st.composite
def bad_row(draw, index: int, encoding: str, fields: list[str]) -> Row:
    """A good row but for one wrong field, which its error must name."""
    row = draw(good_row(index, encoding, fields))
    wrong = draw(st.sampled_from([name for name in _NAMED if name in fields]))
    siret = valid_siret(index)
    value = {
        "siret": st.sampled_from([siret[:5] + "A" + siret[6:], siret + "7", siret.translate(ARABIC_DIGITS),
                                  siret.translate(FULLWIDTH_DIGITS), siret[:-1] + str((int(siret[-1]) + 1) % 10),
                                  "١٢٣", "SIRET " + siret]).filter(_encodable(encoding)),
        "email": _bad_email(index, encoding),
        "first_name": st.sampled_from(["", " ", NBSP]),
        "last_name": st.sampled_from(["", "  "]),
        "phone": st.sampled_from(["phone me", "12", "06 12 34 56 78 ext. 3", "٠٦١٢٣٤٥٦٧٨",
                                  "+33 (0)1 23 45 67 8a"]).filter(_encodable(encoding)),
        "areas": st.sampled_from(["Invoices of work", "Factures|Engagements", "Commitments;nope"]),
        "non_diffusible": st.sampled_from(["maybe", "peut-être", "2"]),
    }[wrong]
    row.cells[wrong] = draw(value)
    row.kind, row.bad_field = "bad", wrong
    return row


@st.composite
def odd_row(draw, index: int, encoding: str, fields: list[str]) -> Row:
    """Anything: odd SIRETs and emails, any text, short rows. Only the general properties hold."""
    siret = valid_siret(index)
    cells: dict[str, object] = {
        "siret": draw(st.one_of(_odd_siret(siret, encoding), _siret_as_written(siret, encoding))),
        "email": draw(st.one_of(_bad_email(index, encoding), _email(index))),
    }
    for name in fields:
        if name not in cells:
            cells[name] = draw(_text(encoding, max_size=15, breaks="\n\r\t"))
    return Row(cells, "odd", cut=draw(st.none() | st.integers(0, 6)))


@st.composite
def records(draw, encoding: str, fields: list[str], min_rows: int, max_rows: int,
            kinds=("good", "good", "bad", "odd", "dup", "blank"), **good) -> list[Row | None]:
    """Rows of every kind in any order; None is a blank line. Row n uses SIRET and email number n."""
    out: list[Row | None] = []
    for index in range(1, draw(st.integers(min_rows, max_rows)) + 1):
        kind = draw(st.sampled_from(kinds))
        goods = [i for i, r in enumerate(out) if r is not None and r.kind == "good"]
        if kind == "blank":
            out.append(None)
            continue
        if kind == "dup" and goods:
            first = draw(st.sampled_from(goods))
            row = draw(good_row(index, encoding, fields, **good))
            if draw(st.booleans()):
                row.cells["siret"] = draw(_siret_as_written(out[first].expected["siret"], encoding))
            else:
                row.cells["email"] = out[first].expected["email"].swapcase()
            row.kind, row.repeats = "dup", first
        elif kind == "bad":
            row = draw(bad_row(index, encoding, fields))
        elif kind == "odd":
            row = draw(odd_row(index, encoding, fields))
        else:
            row = draw(good_row(index, encoding, fields, **good))
        if kind != "odd" and draw(st.integers(0, 4)) == 0:
            row.extra = draw(st.lists(_text(encoding, max_size=5), min_size=1, max_size=3))
        out.append(row)
    return out


def _title(name: str) -> st.SearchStrategy[str]:
    """A column title as people write it: any accepted name, in any case, accented or not, padded,
    its words apart by a line break (a wrapped header cell) or an underscore."""
    accents = {"e": "é", "E": "É", "o": "ô", "a": "à", "i": "î"}

    def styled(alias: str, case: str, accent: bool, pad: bool, space: str) -> str:
        text = {"lower": alias.lower(), "upper": alias.upper(), "title": alias.title(), "as is": alias}[case]
        if accent:
            text = "".join(accents.get(c, c) for c in text)
        text = text.replace(" ", space)
        return f" {text} " if pad else text

    return st.builds(styled, st.sampled_from(COLUMNS[name]), st.sampled_from(["lower", "upper", "title", "as is"]),
                     st.booleans(), st.booleans(), st.sampled_from([" ", " ", "\n", "_"]))


# columns the bot does not know, some with a delimiter or a line break in their title
_UNKNOWN_TITLE = st.one_of(
    st.sampled_from(["Notes", "Commentaires, remarques", "ID interne", "Date d'ajout", "Remarque; à voir",
                     "Code\tagent", "Vu par\nle service", "Pièces (Kbis, RIB, IBAN, BIC, TVA, contact, site, tél)"]),
    _text("cp1252", max_size=12, breaks="\n\t").map(lambda s: "Remarque " + s),
)


@st.composite
def header(draw, encoding: str) -> list[tuple[str | None, str]]:
    """(field, title) per column, in any order: the required ones, some optional, some unknown."""
    fields = list(REQUIRED) + draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    columns: list[tuple[str | None, str]] = [(name, draw(_title(name))) for name in fields]
    columns += [(None, draw(_UNKNOWN_TITLE.filter(_encodable(encoding)))) for _ in range(draw(st.integers(0, 2)))]
    return draw(st.permutations(columns))


# ---- CSV --------------------------------------------------------------------------------------


@dataclass
class CsvFile:
    header: list[tuple[str | None, str]]
    records: list[Row | None]  # None: a blank line
    encoding: str
    delimiter: str
    line_end: str
    blank_lines_above: int = 0
    quote_all: bool = False

    def data(self) -> bytes:
        out = io.StringIO(newline="")
        out.write(self.line_end * self.blank_lines_above)
        self._write(out, [title for _, title in self.header])
        for record in self.records:
            if record is None:
                out.write(self.line_end)
                continue
            cells = [record.cells.get(name, "") if name else "n/a" for name, _ in self.header] + record.extra
            record.written = cells[: record.cut] if record.cut is not None else cells
            self._write(out, record.written)
        return out.getvalue().encode(self.encoding)

    def _write(self, out: io.StringIO, cells: list[str]) -> None:
        # Python's writer quotes a cell holding "\r" only when "\r" ends its lines; any reader
        # (Python's, Excel) takes an unquoted "\r" for a line break: quote then, as Excel does
        quote_all = self.quote_all or any("\r" in cell for cell in cells)
        csv.writer(out, delimiter=self.delimiter, lineterminator=self.line_end,
                   quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerow(cells)

    @property
    def first_data_line(self) -> int:
        return self.blank_lines_above + 2


@st.composite
def csv_file(draw, min_rows: int = 0, max_rows: int = 12) -> CsvFile:
    encoding = draw(st.sampled_from(ENCODINGS))
    columns = draw(header(encoding))
    rows = draw(records(encoding, [name for name, _ in columns if name], min_rows, max_rows))
    return CsvFile(columns, rows, encoding, draw(st.sampled_from(DELIMITERS)), draw(st.sampled_from(["\r\n", "\n"])),
                   draw(st.integers(0, 2)), draw(st.booleans()))


def _has_content(row: Row) -> bool:
    """Whether the reader sees a row there (a row of blank cells is a blank line)."""
    return any(cell is not None and (not isinstance(cell, str) or cell.strip()) for cell in row.written)


def _check_rows(batch: BatchInput, rows: list[Row | None], first_data_line: int) -> None:
    """Every non-blank record once, at its line; good rows as said; bad rows naming their field."""
    lines = {first_data_line + i: r for i, r in enumerate(rows) if r is not None and _has_content(r)}
    suppliers = dict(batch.suppliers)
    errors = {error.line: error for error in batch.errors}
    assert all(isinstance(s, Supplier) for s in suppliers.values())
    assert all(isinstance(e, RowError) for e in batch.errors)
    assert len(batch.suppliers) + len(batch.errors) == len(lines), "a row was lost, or came back twice"
    assert set(suppliers) | set(errors) == set(lines), "rows came back on other lines"
    assert [line for line, _ in batch.suppliers] == sorted(suppliers)
    for error in batch.errors:
        assert error.reason.strip() and str(error).isprintable(), f"not one line: {error!s}"
        assert str(error).startswith(f"line {error.line}: ")
    for line, row in lines.items():
        if row.kind == "good":
            assert line in suppliers, f"good row on line {line} refused: {errors[line]}"
            assert suppliers[line].model_dump() == row.expected
        elif row.kind == "bad":
            assert line in errors, f"bad {row.bad_field} on line {line} accepted"
            assert _NAMED[row.bad_field] in errors[line].reason.lower()
        elif row.kind == "dup":
            first = first_data_line + row.repeats
            assert line in errors and errors[line].reason.endswith(f"is already on line {first}")


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _fatal(path: Path) -> BatchFileError:
    """The file error ``read_batch`` raises: one line that names the file."""
    with pytest.raises(BatchFileError) as info:
        read_batch(path)
    message = str(info.value)
    assert message.isprintable() and str(path) in message  # one line, no invisible character
    return info.value


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("batchfiles")


@given(file=csv_file())
def test_csv_rows_come_back_each_once_as_a_supplier_or_a_line_numbered_error(folder, file):
    data = file.data()
    if file.encoding in ("cp1252", "latin-1") and not data.isascii():
        try:
            data.decode("utf-8")
            assume(False)  # these bytes are also UTF-8, and are rightly read as such: another text
        except UnicodeDecodeError:
            pass
    batch = read_batch(_write(folder, "suppliers.csv", data))
    _check_rows(batch, file.records, file.first_data_line)


@given(file=csv_file(max_rows=3), data=st.data())
def test_a_missing_or_twice_given_column_is_one_line_naming_it(folder, file, data):
    required = [i for i, (name, _) in enumerate(file.header) if name in REQUIRED]
    victim = data.draw(st.sampled_from(required))
    name = file.header[victim][0]
    if data.draw(st.booleans()):
        file.header.pop(victim)
        expected = f"missing required column '{name}'"
    else:
        file.header.insert(data.draw(st.integers(0, len(file.header))), (name, data.draw(_title(name))))
        expected = f"both mean '{name}'"
    assert expected in str(_fatal(_write(folder, "columns.csv", file.data())))


@given(data=st.binary(max_size=600) | st.builds(lambda head, tail: head + tail, st.sampled_from(
    [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"PK\x03\x04", b"siret;email;first_name;last_name;phone\r\n",
     "siret,email,prénom,nom,téléphone\n".encode("utf-16")]), st.binary(max_size=300)))
def test_any_bytes_give_a_batch_or_a_one_line_file_error(folder, data):
    path = _write(folder, "anything.csv", data)
    try:
        batch = read_batch(path)
    except BatchFileError:
        _fatal(path)
        return
    for error in batch.errors:
        assert error.line >= 2 and error.reason.strip() and str(error).isprintable()


@pytest.mark.parametrize("content", ["", "\r\n", " ; ; \n\n", "\ufeff", "\ufeff\n\t\n"])
def test_empty_files_are_a_file_error(folder, content):
    assert "empty" in str(_fatal(_write(folder, "empty.csv", content.encode("utf-8"))))


@given(file=csv_file(max_rows=0), blank_lines=st.integers(0, 3))
def test_a_header_only_file_has_no_rows(folder, file, blank_lines):
    continuation = {"utf-8-sig": "utf-8", "utf-16": "utf-16-le"}.get(file.encoding, file.encoding)
    data = file.data() + (file.line_end * blank_lines).encode(continuation)
    batch = read_batch(_write(folder, "header.csv", data))
    assert batch.suppliers == [] and batch.errors == []


@settings(max_examples=5)
@given(encoding=st.sampled_from(ENCODINGS), delimiter=st.sampled_from(DELIMITERS), bad_every=st.integers(3, 50))
def test_a_file_of_thousands_of_rows_is_read_whole_and_fast(folder, encoding, delimiter, bad_every):
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["N° SIRET", "Adresse e-mail de connexion", "Prénom", "Nom", "Téléphone", "Raison sociale"])
    rows = 4000
    for n in range(1, rows + 1):
        siret = valid_siret(n)
        if n % bad_every == 0:
            siret = siret[:-1] + str((int(siret[-1]) + 1) % 10)  # fails its checksum
        writer.writerow([siret, f"ap+{n}@ssc.example", "Zoé", "Lefèvre", "01 23 45 67 89", "Café Crème"])
    path = _write(folder, "large.csv", out.getvalue().encode(encoding))
    started = time.process_time()  # CPU time: the machine may be busy with other tests
    batch = read_batch(path)
    assert time.process_time() - started < 5
    assert [e.line for e in batch.errors] == [n + 1 for n in range(1, rows + 1) if n % bad_every == 0]
    assert len(batch.suppliers) + len(batch.errors) == rows
    assert {(s.last_name, s.company_name) for _, s in batch.suppliers} == {("Lefèvre", "Café Crème")}


# ---- XLSX -----------------------------------------------------------------------------------------


@st.composite
def xlsx_book(draw) -> tuple[Workbook, list[Row | None], int]:
    """A workbook whose first sheet has the header on some row, rows below, numbers in places."""
    columns = draw(header("utf-8"))
    fields = [name for name, _ in columns if name]
    rows = draw(records("utf-8", fields, 0, 10, kinds=("good", "good", "bad", "odd", "blank"), breaks="\n\t"))
    book = Workbook()
    sheet = book.active
    above = draw(st.integers(0, 2))  # empty rows above the header
    for _ in range(above):
        sheet.append([None])
    sheet.append([title for _, title in columns])
    for row in rows:
        if row is None:
            sheet.append([None])
            continue
        row.written = [_xlsx_cell(draw, row, name) for name, _ in columns][: row.cut] + row.extra
        sheet.append(row.written)
    return book, rows, above + 2


_FINITE = st.floats(allow_nan=False, allow_infinity=False)  # openpyxl saves inf and nan as empty cells


def _xlsx_cell(draw, row: Row, name: str | None) -> object:
    """The cell as a spreadsheet may hold it: numbers for digits, anything at all in an odd row."""
    if name is None:
        return draw(st.one_of(st.none(), st.integers(), _FINITE, st.booleans(), st.datetimes(),
                              _text("utf-8", max_size=5)))
    value = row.cells.get(name, "")
    if row.kind == "odd":
        return draw(st.one_of(st.just(value), st.integers(-10**15, 10**15), _FINITE, st.booleans(),
                              st.dates(), st.none()))
    if row.kind == "good" and name in ("siret", "phone", "postal_code"):
        digits = "".join(c for c in value if c not in f" .-{NBSP}{NNBSP}")
        if digits.isascii() and digits.isdigit() and draw(st.booleans()):  # a number cell: leading zeros lost
            if name == "phone":
                row.expected["phone"] = digits
            return draw(st.sampled_from([int(digits), float(digits)]))
    if isinstance(value, str) and value.startswith("="):
        return " " + value  # else openpyxl writes a formula (the reader strips the space)
    return value


@given(book=xlsx_book())
def test_xlsx_rows_come_back_each_once_at_their_sheet_row(folder, book):
    workbook, rows, first_data_line = book
    path = folder / "suppliers.xlsx"
    workbook.save(path)
    _check_rows(read_batch(path), rows, first_data_line)


@pytest.mark.parametrize("sheets", [
    [[]],
    [[], [["siret", "email", "first_name", "last_name", "phone"]]],  # only the second sheet is filled
    [[[None, None], [None]]],
    [[[1, 2.5, True], [4.5, None, False]]],
])
def test_xlsx_whose_first_sheet_is_empty_or_has_no_header(folder, sheets):
    workbook = Workbook()
    for index, rows in enumerate(sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        for row in rows:
            sheet.append(row)
    path = folder / "empty.xlsx"
    workbook.save(path)
    message = str(_fatal(path))
    assert "empty" in message or "missing required column 'siret'" in message


def _valid_xlsx() -> bytes:
    workbook = Workbook()
    workbook.active.append(["siret", "email", "first_name", "last_name", "phone"])
    workbook.active.append([valid_siret(1), "a@b.example", "A", "B", 102030405])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


VALID_XLSX = _valid_xlsx()


@given(cut=st.integers(4, len(VALID_XLSX)),
       flips=st.lists(st.tuples(st.integers(0, len(VALID_XLSX) - 1), st.integers(1, 255)), max_size=4))
@example(cut=len(VALID_XLSX), flips=[])
def test_a_damaged_xlsx_gives_its_rows_or_a_one_line_file_error(folder, cut, flips):
    data = bytearray(VALID_XLSX[:cut])
    for position, mask in flips:
        if position < len(data):
            data[position] ^= mask
    path = _write(folder, "damaged.xlsx", bytes(data))
    try:
        batch = read_batch(path)
    except BatchFileError:
        _fatal(path)
        return
    assert all(e.line >= 2 and str(e).isprintable() for e in batch.errors)
    if bytes(data) == VALID_XLSX:
        assert [s.phone for _, s in batch.suppliers] == ["0102030405"]


@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml",
                                    "xl/styles.xml", "xl/_rels/workbook.xml.rels"])
def test_an_xlsx_with_a_broken_part_is_a_file_error(folder, member):
    source = zipfile.ZipFile(io.BytesIO(VALID_XLSX))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            target.writestr(item, content[: len(content) // 2] if item.filename == member else content)
    _fatal(_write(folder, "broken-part.xlsx", out.getvalue()))
