"""Batch files as shared-service centres really write them (French Excel, BOM, cp1252, XLSX)."""
from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from stdnum import luhn

from bot.batchfile import BatchFileError, read_batch

FR_HEADER = "SIRET;Adresse e-mail de connexion;Prénom;Nom;Téléphone;Fonction;Espaces;Non diffusible;Raison sociale;Code postal;Ville"


def valid_siret(n: int) -> str:
    """A SIRET that passes the Luhn checksums (SIREN and SIRET), distinct for each n."""
    siren8 = f"{500000 + n:08d}"
    siren = siren8 + luhn.calc_check_digit(siren8)
    base = f"{siren}{n % 10000:04d}"
    return base + luhn.calc_check_digit(base)


S1, S2, S3, S4 = (valid_siret(n) for n in (1, 2, 3, 4))


def spaced(siret: str) -> str:
    return f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}"


def write(tmp_path: Path, name: str, text: str, encoding: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return path


def test_semicolon_utf8_bom_french_headers_and_spaced_sirets(tmp_path):
    text = (
        FR_HEADER + "\n"
        f"{spaced(S1)};ap+one@ssc.example;Élodie;Dupré;01 23 45 67 89;Comptable;Work invoices|Commitments;non;Café Crème SARL;75011;Paris\n"
        f"{S2};ap+two@ssc.example;Jean;Martin;0612345678;;;oui;;;\n"
    )
    batch = read_batch(write(tmp_path, "fr.csv", text, "utf-8-sig"))
    assert batch.errors == []
    (line1, one), (line2, two) = batch.suppliers
    assert (line1, line2) == (2, 3)
    assert one.siret == S1 and one.email == "ap+one@ssc.example"
    assert (one.first_name, one.last_name, one.job_title) == ("Élodie", "Dupré", "Comptable")
    assert one.areas == ["Work invoices", "Commitments"]
    assert (one.company_name, one.postal_code, one.city) == ("Café Crème SARL", "75011", "Paris")
    assert one.non_diffusible is False and two.non_diffusible is True
    assert two.areas == [] and two.job_title is None and two.company_name is None


def test_windows_1252_as_french_excel_writes_it(tmp_path):
    text = FR_HEADER + "\n" + f"{S1};ap+x@ssc.example;Françoise;Lefèvre;0102030405;Trésorière;;;Société Générale d'Études;13001;Marseille\n"
    path = write(tmp_path, "excel.csv", text, "cp1252")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really not UTF-8
    batch = read_batch(path)
    assert batch.errors == []
    [(_, supplier)] = batch.suppliers
    assert (supplier.first_name, supplier.last_name, supplier.job_title) == ("Françoise", "Lefèvre", "Trésorière")
    assert supplier.company_name == "Société Générale d'Études"


def test_comma_english_headers_quoted_fields(tmp_path):
    text = (
        "siret,email,first_name,last_name,phone,areas,non_diffusible,notification_email\n"
        f'{S1},a@corp.example,Ann,Lee,+33 1 23 45 67 89,"Work invoices,Received invoices",no,ap@corp.example\n'
    )
    batch = read_batch(write(tmp_path, "en.csv", text, "utf-8"))
    assert batch.errors == []
    [(_, supplier)] = batch.suppliers
    assert supplier.areas == ["Work invoices", "Received invoices"]
    assert supplier.notification_email == "ap@corp.example"
    assert supplier.phone == "+33 1 23 45 67 89"


def test_headers_are_case_accent_and_punctuation_insensitive(tmp_path):
    text = "N° SIRET;COURRIEL;PRENOM;nom;telephone;E-mail de notification;Espaces de travail;Non-diffusible\n" \
           f"{S1};a@b.example;A;B;0102030405;n@b.example;factures reçues;X\n"
    batch = read_batch(write(tmp_path, "caps.csv", text, "utf-8"))
    assert batch.errors == []
    [(_, supplier)] = batch.suppliers
    assert supplier.notification_email == "n@b.example"
    assert supplier.areas == ["Received invoices"]  # the French name of the area
    assert supplier.non_diffusible is True


def test_bad_rows_are_reported_with_line_and_reason_and_good_rows_kept(tmp_path):
    bad_checksum = S3[:-1] + str((int(S3[-1]) + 1) % 10)
    text = (
        FR_HEADER + "\n"
        f"{S1};ap+1@ssc.example;A;B;0102030405;;;;;;\n"  # line 2: good
        "\n"  # line 3: empty, skipped silently
        f"{bad_checksum};ap+2@ssc.example;A;B;0102030405;;;;;;\n"  # line 4
        f"1234;ap+3@ssc.example;A;B;0102030405;;;;;;\n"  # line 5
        f"{S2};not-an-email;A;B;0102030405;;;;;;\n"  # line 6
        f"{S2};ap+6@ssc.example;;B;0102030405;;;;;;\n"  # line 7: no first name
        f"{S2};ap+7@ssc.example;A;B;0102030405;;Invoices of work;;;;\n"  # line 8
        f"{S2};ap+8@ssc.example;A;B;0102030405;;;maybe;;;\n"  # line 9
        f"{S2};ap+9@ssc.example;A;B;phone me;;;;;;\n"  # line 10
        f"{S4};ap+10@ssc.example;A;B;0102030405;;;;;;\n"  # line 11: good
        ";;;;;;;;;;\n"  # line 12: empty cells only, skipped
    )
    batch = read_batch(write(tmp_path, "bad.csv", text, "utf-8"))
    assert [(line, s.siret) for line, s in batch.suppliers] == [(2, S1), (11, S4)]
    errors = {e.line: e.reason for e in batch.errors}
    assert sorted(errors) == [4, 5, 6, 7, 8, 9, 10]
    assert "checksum" in errors[4]
    assert "14 digits" in errors[5]
    assert "not-an-email" in errors[6]
    assert errors[7] == "first_name is empty"
    assert "unknown work area 'Invoices of work'" in errors[8]
    assert "maybe" in errors[9]
    assert "phone me" in errors[10]
    assert str(batch.errors[0]).startswith("line 4: ")
    assert batch.errors[2].email == "not-an-email"  # what the row said, for the report


def test_duplicates_are_reported_naming_the_first_line(tmp_path):
    text = (
        "siret;email;first_name;last_name;phone\n"
        f"{S1};ap+a@ssc.example;A;B;0102030405\n"
        f"{spaced(S1)};ap+b@ssc.example;A;B;0102030405\n"
        f"{S2};AP+A@ssc.example;A;B;0102030405\n"
        f"{S3};ap+c@ssc.example;A;B;0102030405\n"
    )
    batch = read_batch(write(tmp_path, "dups.csv", text, "utf-8"))
    assert [s.siret for _, s in batch.suppliers] == [S1, S3]
    assert [(e.line, e.reason) for e in batch.errors] == [
        (3, f"SIRET {S1} is already on line 2"),
        (4, "login email AP+A@ssc.example is already on line 2"),
    ]


def test_xlsx_with_numeric_cells(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Siret", "E-mail", "Prénom", "Nom", "Téléphone", "Code postal", "Non diffusible", "Espaces"])
    sheet.append([int(S1), "ap+x@ssc.example", "Zoé", "Ångström", 612345678, 1000, True, "Commitments"])
    sheet.append([float(S2), "ap+y@ssc.example", "Luc", "Roy", "01 02 03 04 05", "75001", False, None])
    sheet.append([None] * 8)
    sheet.append(["123", "ap+z@ssc.example", "Luc", "Roy", "0102030405", None, None, None])
    path = tmp_path / "suppliers.xlsx"
    workbook.save(path)
    batch = read_batch(path)
    (line1, one), (line2, two) = batch.suppliers
    assert (line1, one.siret, line2, two.siret) == (2, S1, 3, S2)
    assert one.phone == "0612345678"  # the leading zero the number cell dropped
    assert one.postal_code == "01000"
    assert one.non_diffusible is True and two.non_diffusible is False
    assert one.areas == ["Commitments"] and one.last_name == "Ångström"
    assert [(e.line, "14 digits" in e.reason) for e in batch.errors] == [(5, True)]


def test_xlsx_takes_the_first_sheet(tmp_path):
    workbook = Workbook()
    workbook.active.append(["siret", "email", "first_name", "last_name", "phone"])
    workbook.active.append([S1, "a@b.example", "A", "B", "0102030405"])
    other = workbook.create_sheet("notes")
    other.append(["nothing", "here"])
    workbook.active = 1
    path = tmp_path / "two-sheets.xlsx"
    workbook.save(path)
    assert [s.siret for _, s in read_batch(path).suppliers] == [S1]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("siret;email;first_name;last_name\n1;a@b.example;A;B\n", "missing required column 'phone'"),
        ("siret;courriel;e-mail;first_name;last_name;phone\n", "both mean 'email'"),
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
    ],
)
def test_fatal_file_errors_are_one_line(tmp_path, content, expected):
    path = write(tmp_path, "f.csv", content, "utf-8")
    with pytest.raises(BatchFileError) as info:
        read_batch(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(BatchFileError, match="cannot read .*missing.csv"):
        read_batch(tmp_path / "missing.csv")
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(BatchFileError, match="xls format is not supported"):
        read_batch(xls)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BatchFileError, match="not a readable XLSX"):
        read_batch(broken)
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    with pytest.raises(BatchFileError, match="unknown format"):
        read_batch(binary)
