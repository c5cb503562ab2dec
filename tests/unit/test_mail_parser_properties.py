"""Property-based tests of the activation mail parser: any mail, no crash, no foreign link.

Mails are generated as mail systems send them, and worse: one part or multipart (alternative,
mixed with attachments, related), quoted-printable, base64 or 8bit, text and HTML in several
charsets, the anchor's words split by tags and line breaks, decoy links, 8-bit headers, odd
charsets, damaged bytes. The properties:

- ``parse_mail`` returns for any bytes, ``extract_activation_link`` for any text, in linear time;
- the link of an activation mail comes out exactly as the portal wrote it, for any token;
- ``is_portal_link`` accepts a link only when Chromium, which opens it, reads the portal's origin.
"""
from __future__ import annotations

import html
import time
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.mail import ParsedMail, extract_activation_link, is_portal_link, parse_mail

PORTAL = "http://127.0.0.1:8765"
SENDER = "choruspro.notification.aife@finances.gouv.fr"
SUBJECTS = ("Chorus Pro - Activate your account", "Chorus Pro - Activation de votre compte")
PHRASES = ("Activate my account", "Activer mon compte")

# tokens as a portal may write them: URL-safe base64, with a '.' or '~' inside at times
TOKEN = st.from_regex(r"[A-Za-z0-9_-]{8,100}([.~][A-Za-z0-9_-]{1,10})?", fullmatch=True)
QUERY_TAIL = st.sampled_from(["", "&lang=en", "&lang=fr&src=mail"])
PROSE = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40)
OTHER_HOSTS = ("https://chorus-pro.example.net", "http://127.0.0.1:8766", "https://127.0.0.1:8765",
               "http://127.0.0.1.evil.example:8765", "http://evil.example", "http://localhost:8765")


def portal_link(token: str, tail: str = "") -> str:
    return f"{PORTAL}/account/activate?token={token}{tail}"


# ---- building mails -----------------------------------------------------------------------------


def _label(phrase: str, case: str, spaces: list[str]) -> str:
    """The anchor's words as HTML: any case, blanks, line breaks, &nbsp; or tags between them."""
    words = {"lower": phrase.lower(), "upper": phrase.upper(), "as is": phrase}[case].split()
    out = words[0]
    for space, word in zip(spaces, words[1:]):
        out += space + word
    return out


LABEL = st.builds(_label, st.sampled_from(PHRASES), st.sampled_from(["lower", "upper", "as is"]),
                  st.lists(st.sampled_from([" ", "\n  ", "\r\n", "&nbsp;", " <br>", "</span> <span>", "<b> ",
                                            " </b>", "\t"]), min_size=2, max_size=2))


def _href(link: str, style: str) -> str:
    """The link in an href: HTML-escaped (&amp;), with character references, raw, or folded."""
    if style == "escaped":
        return html.escape(link)
    if style == "references":
        return link.replace("&", "&#38;").replace("=", "&#x3D;")
    if style == "folded":  # a mailer that wrapped its HTML source inside the attribute
        return "\r\n".join(link[i : i + 30] for i in range(0, len(link), 30))
    return link


@st.composite
def html_body(draw, link: str | None) -> str:
    """An HTML mail: prose, decoy anchors, and (for a link) its labelled anchor among them (one decoy
    is then an unlabelled portal token URL, which the labelled anchor must win over)."""
    decoys = [
        f'<a href="{html.escape(draw(st.sampled_from(OTHER_HOSTS)))}/help">{html.escape(draw(PROSE))}</a>',
        '<a href="https://help.example/faq">Help</a>', "<a>no href</a>", '<a href="">empty</a>',
        "<!-- Activate my account -->", "<![if !mso]><p>mso</p><![endif]>",
    ]
    if link is not None:
        decoys.append(f'<a href="{PORTAL}/account/activate?token=old{draw(TOKEN)}">{html.escape(draw(PROSE))}</a>')
    parts = draw(st.lists(st.sampled_from(decoys), max_size=3))
    if link is not None:
        quote = draw(st.sampled_from(['"', "'"]))
        attrs = draw(st.sampled_from(["", ' style="color:#fff"', ' target="_blank" title="Activate my account"']))
        href = _href(link, draw(st.sampled_from(["escaped", "references", "raw", "folded"])))
        anchor = f"<a{attrs} href={quote}{href}{quote}><span>{draw(LABEL)}</span></a>"
        parts.insert(draw(st.integers(0, len(parts))), anchor)
    body = "\n".join(f"<p>{html.escape(draw(PROSE))}</p>{part}" for part in parts)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
            f"<p>{html.escape(draw(PROSE))}</p>\n{body}\n</body></html>\n")


@st.composite
def text_body(draw, link: str | None) -> str:
    """A plain-text mail: prose, a help URL, and (for a link) the link, bare or bracketed, then a dot."""
    shown = ""
    if link is not None:
        shown = draw(st.sampled_from(["{}", "<{}>", "({})", "{}.", "Link: {} ", "[{}]"])).format(link)
    return f"{draw(PROSE)},\n\nhttps://help.example/faq\n{draw(PROSE)}\n{shown}\n\n{draw(PROSE)}\n"


def _encoding(text: str, charset: str, cte: str) -> dict[str, str]:
    """That charset and transfer encoding, or what can carry the text (UTF-8, base64)."""
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    if charset == "utf-16" or (cte == "8bit" and max(map(len, text.splitlines() or [""])) > 900):
        cte = "base64"
    return {"charset": charset, "cte": cte}


@st.composite
def activation_mail(draw, link: str | None) -> bytes:
    """A mail from the portal's sender with the activation subject, in any MIME shape; when it has
    a text part, its HTML part may lack the anchor (the link is then taken from the text)."""
    shape = draw(st.sampled_from(["alternative", "html", "text", "mixed", "related"]))
    charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "utf-16"]))
    cte = draw(st.sampled_from(["quoted-printable", "base64", "8bit"]))
    msg = EmailMessage()
    msg["From"] = f'"{draw(st.sampled_from(["Chorus Pro", "Équipe Chorus Pro – AIFE", "CHORUS"]))}" <{SENDER}>'
    msg["To"] = "ap+a1@ssc.example"
    msg["Subject"] = draw(st.sampled_from(SUBJECTS))
    msg["Date"] = "Fri, 27 Nov 2026 05:00:00 +0100"
    anchored = shape == "html" or draw(st.booleans())
    text, page = draw(text_body(link)), draw(html_body(link if anchored else None))
    if shape == "text":
        msg.set_content(text, subtype="plain", **_encoding(text, charset, cte))
    elif shape == "html":
        msg.set_content(page, subtype="html", **_encoding(page, charset, cte))
    else:
        msg.set_content(text, subtype="plain", **_encoding(text, charset, cte))
        msg.add_alternative(page, subtype="html", **_encoding(page, charset, cte))
        if shape == "mixed":  # attachments holding other token URLs must not count
            msg.add_attachment(f"old: {portal_link('attached' + draw(TOKEN))}\n".encode(), maintype="text",
                               subtype="plain", filename="notes.txt")
            msg.add_attachment(b"%PDF-1.4 " + draw(st.binary(max_size=50)), maintype="application",
                               subtype="pdf", filename="guide.pdf")
        elif shape == "related":
            msg.get_payload()[1].add_related(b"\x89PNG\r\n\x1a\n" + draw(st.binary(max_size=30)), maintype="image",
                                             subtype="png", cid="<logo@chorus>")
    for number, part in enumerate(part for part in msg.walk() if part.is_multipart()):
        part.set_boundary(f"=_part{number}_=")  # else the email package draws one at random
    return msg.as_bytes(policy=SMTP)


# ---- the properties -----------------------------------------------------------------------------


@given(token=TOKEN, tail=QUERY_TAIL, data=st.data())
def test_the_link_of_an_activation_mail_comes_out_exactly(token, tail, data):
    link = portal_link(token, tail)
    parsed = parse_mail(data.draw(activation_mail(link)))
    assert parsed.subject in SUBJECTS and parsed.is_activation and parsed.sender == SENDER
    assert parsed.link == link
    assert is_portal_link(parsed.link, PORTAL)
    assert token not in repr(parsed)


@given(data=st.data())
def test_a_mail_without_the_link_gives_none(data):
    assert parse_mail(data.draw(activation_mail(None))).link is None


@given(host=st.sampled_from(OTHER_HOSTS), token=TOKEN, data=st.data())
def test_a_link_to_another_host_is_never_accepted(host, token, data):
    link = f"{host}/account/activate?token={token}"
    parsed = parse_mail(data.draw(activation_mail(link)))
    assert parsed.link == link  # the watcher logs its host and skips the mail
    assert not is_portal_link(parsed.link, PORTAL)


# raw bytes that mail systems and attackers produce: odd charsets and encodings, 8-bit headers,
# broken boundaries, encoded words, NULs
_ODD_CHARSETS = ("idna", "utf-7", "undefined", "punycode", "x-unknown", "base64", "rot13", "utf-32",
                 "unicode_escape", "cp037", "hex", "\u00e9", "", "utf-16-be", "uu", "zlib")
_HEADER_LINES = st.sampled_from([
    b"Subject: =?idna?q?abc?=", b"Subject: =?utf-8?b?QWN0aXZhdGU=?=", b"Subject: =?x-unknown?q?=FF?=",
    b"From: =?undefined?q?Chorus?= <" + SENDER.encode() + b">", b"From: \xff\xfe <a@b.example>",
    b"To: \xc3\xa9l\xc3\xa9 <ap+a1@ssc.example>, ,,;", b"To: undisclosed-recipients:;", b"Cc: <<>>@@",
    b"Delivered-To: ap@ssc.example", b"Date: Fri, 27 Nov 99999 05:00:00 +9900", b"Date: yesterday",
    b"Content-Transfer-Encoding: x-uuencode", b"Content-Transfer-Encoding: base64",
    b"Content-Type: multipart/alternative", b"Content-Type: multipart/mixed; boundary=\"\"",
    b"Content-Type: text/html; charset*=utf-8''%FF", b"MIME-Version: 1.0", b"X-Null: \x00",
])


@st.composite
def damaged_mail(draw) -> bytes:
    raw = draw(activation_mail(portal_link(draw(TOKEN))))
    for charset in draw(st.lists(st.sampled_from(_ODD_CHARSETS), max_size=2)):
        for known in (b"utf-8", b"iso-8859-1", b"windows-1252", b"utf-16"):
            raw = raw.replace(b"charset=\"" + known + b"\"", b"charset=\"" + charset.encode("utf-8") + b"\"", 1)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for line in draw(st.lists(_HEADER_LINES, max_size=4)):
        lines.insert(draw(st.integers(0, len(lines))), line)
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    raw = raw[: draw(st.integers(0, len(raw)))] if draw(st.booleans()) else raw
    for position, value in draw(st.lists(st.tuples(st.integers(0, max(len(raw) - 1, 0)), st.integers(0, 255)),
                                         max_size=3)):
        if raw:
            raw = raw[:position] + bytes([value]) + raw[position + 1 :]
    return raw


@given(raw=st.one_of(damaged_mail(), st.binary(max_size=400)))
@example(raw=b"From: a@b.example\r\nContent-Type: text/plain; charset=idna\r\n\r\nhello\xff\r\n")
@example(raw=b"From: a@b.example\r\nSubject: =?idna?q?abc?=\r\n\r\nhello\r\n")
@example(raw=b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n<![x[ Activate my account\r\n")
def test_any_bytes_parse_without_crashing(raw):
    parsed = parse_mail(raw)
    assert isinstance(parsed, ParsedMail)
    assert parsed.link is None or (parsed.link and not set("\t\r\n") & set(parsed.link))


@given(text=st.one_of(st.text(), st.text("<>![]-/a =\"'&;#x", max_size=60)))
@example(text="<![x[")
@example(text="<!DOCTYPE [ <![ ")
def test_any_text_gives_a_link_or_none(text):
    link = extract_activation_link(text)
    assert link is None or isinstance(link, str)


@pytest.mark.parametrize("junk", ["http://a" * 6000, "http://" + "/" * 50000, "https://x" + "?token=" * 5000])
def test_long_url_like_text_is_scanned_in_linear_time(junk):
    started = time.process_time()
    assert extract_activation_link(junk) is None
    assert extract_activation_link(junk + " " + portal_link("t0k")) == portal_link("t0k")
    assert time.process_time() - started < 1


# ---- is_portal_link against the browser ------------------------------------------------------------


_SCHEMES = ["http:", "HTTP:", "https:", "http:", "ftp:", ""]
_SLASHES = ["//", "//", "\\\\", "/\\", "///", "/", ""]
_USERINFO = ["", "", "user@", "evil.example@", "127.0.0.1:8765@", "evil.example\\@", "a:b@", "%40@", "evil.example%5C@"]
_HOSTS = ["127.0.0.1", "127.0.0.1", "evil.example", "127.0.0.1.evil.example", "127.1", "0x7f.0.0.1", "localhost",
          "[::1]", "１２７.0.0.1", "127.0.0.1%2e", "127.0.0.1.", "evil.example\\.127.0.0.1", "EVIL.example"]
_PORTS = [":8765", ":8765", ":08765", "", ":80", ":8766", ":8765:", ":+8765", ":８７６５", ": 8765"]
_PATHS = ["/account/activate?token=x", "\\account/activate?token=x", "?token=x", "#@evil.example",
          "/@evil.example/", "\\@evil.example/", ""]
_NOISE = ["", "", "\t", "\n", " ", "\x00", "\u200b"]

URL = st.builds(
    lambda parts, noise, at: (lambda s: s[:at % (len(s) + 1)] + noise + s[at % (len(s) + 1):])("".join(parts)),
    st.tuples(*(st.sampled_from(choices) for choices in (_SCHEMES, _SLASHES, _USERINFO, _HOSTS, _PORTS, _PATHS))),
    st.sampled_from(_NOISE), st.integers(0, 80),
)


@pytest.fixture(scope="module")
def url_page(browser):
    """A blank Chromium page, to ask the browser's own URL parser where a link goes."""
    page = browser.new_page()
    yield page
    page.close()


@given(links=st.lists(URL, min_size=20, max_size=20))
@example(links=["http://evil.example\\@127.0.0.1:8765/account/activate?token=x",
                "http://127.0.0.1:8765@evil.example/account/activate?token=x",
                "http:\\\\127.0.0.1:8765\\account/activate?token=x"])
def test_a_link_is_accepted_only_when_chromium_opens_the_portal(url_page, links):
    origins = url_page.evaluate(
        "links => links.map(link => { try { return new URL(link).origin } catch (e) { return null } })", links
    )
    for link, origin in zip(links, origins):
        if is_portal_link(link, PORTAL):
            assert origin == PORTAL, f"{link!r} accepted, but Chromium opens {origin}"
