"""The activation mail as the portal sends it (MIME, quoted-printable, folded link) and its look-alikes."""
from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest

from bot.mail import (
    extract_activation_link, extract_code, is_portal_link, login_answer, login_refusal_is_temporary, parse_mail,
)

PORTAL = "http://127.0.0.1:8765"
TOKEN = "Zx9_" + "aB3-" * 20 + "Qq"  # long enough to be folded by QP's 76-column lines
LINK = f"{PORTAL}/account/activate?token={TOKEN}&lang=en"
SENDER = "choruspro.notification.aife@finances.gouv.fr"


def _mail(link: str = LINK, *, to: str = "ap+a1@ssc.example", subject: str = "Chorus Pro - Activate your account",
          anchor: str = "Activate my account", sender: str = SENDER, html: bool = True, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f'"Chorus Pro" <{sender}>'
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Fri, 27 Nov 2026 05:00:00 +0100"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(f"Hello,\n\nTo activate your account, open:\n{link}\n\nIt is valid 60 minutes.\n",
                    cte="quoted-printable")
    if html:
        href = link.replace("&", "&amp;")
        msg.add_alternative(
            f'<html><body><p>Hello,</p><p><a href="https://help.example/faq">Help</a></p>'
            f'<p><a style="color:#fff;background:#000091" href="{href}">{anchor}</a></p>'
            f"<p>L&#39;&eacute;quipe Chorus Pro</p></body></html>",
            subtype="html", cte="quoted-printable",
        )
    return msg.as_bytes(policy=SMTP)


def test_the_raw_mail_really_is_folded_and_escaped():
    raw = _mail()
    assert b"=\r\n" in raw  # QP soft line breaks cut the link
    assert b"=3D" in raw  # "=" of token= and style= is escaped
    assert LINK.encode() not in raw


def test_the_link_comes_out_whole_from_the_html_anchor():
    parsed = parse_mail(_mail())
    assert parsed.link == LINK  # &amp; unescaped, soft breaks and =3D decoded
    assert parsed.sender == SENDER
    assert parsed.subject == "Chorus Pro - Activate your account" and parsed.is_activation
    assert parsed.date.isoformat() == "2026-11-27T04:00:00+00:00"
    assert LINK not in repr(parsed)


def test_french_mail():
    parsed = parse_mail(_mail(subject="Chorus Pro - Activation de votre compte", anchor="Activer mon compte"))
    assert parsed.is_activation and parsed.link == LINK


def test_text_only_mail_falls_back_to_the_token_url():
    assert parse_mail(_mail(html=False)).link == LINK


def test_the_anchor_wins_over_other_links():
    html = (f'<a href="{PORTAL}/account/activate?token=decoy">old link</a>'
            f'<a href="{LINK.replace("&", "&amp;")}">\n  Activate   my\n account </a>')
    assert extract_activation_link(html) == LINK


def test_without_the_anchor_the_first_token_url_of_the_text():
    text = f"Open <{LINK}>. Or {PORTAL}/account/activate?token=second."
    assert extract_activation_link(text) == LINK
    assert extract_activation_link("Activate my account at https://example.org/") is None
    assert extract_activation_link("") is None


def test_other_subjects_are_not_activation_mails():
    assert not parse_mail(_mail(subject="Chorus Pro - Your verification code")).is_activation
    assert not parse_mail(_mail(subject="Re: Chorus Pro - Activate your account")).is_activation


def test_phishing_link_is_parsed_but_refused_by_origin():
    phishing = parse_mail(_mail(link="https://chorus-pro.example.net/account/activate?token=x"))
    assert phishing.is_activation and phishing.link.startswith("https://chorus-pro.example.net/")
    assert not is_portal_link(phishing.link, PORTAL)


@pytest.mark.parametrize(
    ("link", "ok"),
    [
        (LINK, True),
        ("http://127.0.0.1:8765/other", True),
        ("https://127.0.0.1:8765/account/activate?token=x", False),  # scheme
        ("http://127.0.0.1:8766/account/activate?token=x", False),  # port
        ("http://127.0.0.1/account/activate?token=x", False),  # default port 80
        ("http://127.0.0.1:8765@evil.example/account/activate?token=x", False),  # userinfo trick
        ("http://evil.example/?u=http://127.0.0.1:8765/", False),
        ("/account/activate?token=x", False),  # no host at all
        ("http://127.0.0.1:99999/", False),  # malformed port
    ],
)
def test_only_the_portals_origin_is_accepted(link, ok):
    assert is_portal_link(link, PORTAL) is ok


def test_default_ports_and_bare_hosts():
    assert is_portal_link("https://chorus-pro.gouv.fr/account/activate?token=x", "https://chorus-pro.gouv.fr")
    assert is_portal_link("https://CHORUS-PRO.gouv.fr:443/a", "https://chorus-pro.gouv.fr/")
    assert is_portal_link("https://chorus-pro.gouv.fr/a", "chorus-pro.gouv.fr")
    assert not is_portal_link("https://chorus-pro.gouv.fr.evil.example/a", "chorus-pro.gouv.fr")


def test_recipient_must_match_with_its_plus_detail():
    parsed = parse_mail(_mail(to="Accounts <AP+A1@ssc.example>"))
    assert parsed.addressed_to("ap+a1@ssc.example")
    assert not parsed.addressed_to("ap+a2@ssc.example")
    assert not parsed.addressed_to("ap@ssc.example")


def test_envelope_headers_count_only_without_a_sibling_in_to():
    bcc = parse_mail(_mail(to="undisclosed-recipients:;", X_Original_To="ap+b7@ssc.example"))
    assert bcc.addressed_to("ap+b7@ssc.example")
    # Dovecot may write the final mailbox: it must not hand ap+a1's mail to the flow of ap@
    delivered = parse_mail(_mail(to="ap+a1@ssc.example", Delivered_To="ap@ssc.example"))
    assert not delivered.addressed_to("ap@ssc.example")
    assert delivered.addressed_to("ap+a1@ssc.example")


# ---- one-time codes (the account-first journey's log-in) ------------------------------------------
@pytest.mark.parametrize("text, code", [
    ("Votre code de vérification est 482913. Il est valable 10 minutes.", "482913"),
    ("Your verification code is 004217.\n\nChorus Pro", "004217"),
    ("Code: 482913 (again: 482913)", "482913"),  # the same number twice is still one code
    ("Codes 482913 and 771204", None),  # which one? none is typed rather than a wrong one
    ("No code here, call +33 1 23 45 67 89 or write on 2026-12-01", None),
    ("A 7-digit 1234567 and a 5-digit 12345 are no code", None),
    ("", None),
])
def test_the_code_is_the_mails_only_six_digit_number(text, code):
    assert extract_code(text) == code


def test_a_login_refused_for_now_is_told_from_wrong_credentials():
    restarting = login_answer(("NO", [b"[UNAVAILABLE] Temporary authentication failure. [vm:2026-12-02 05:19:06]"]))
    assert restarting.startswith("[UNAVAILABLE] Temporary authentication failure")
    assert login_refusal_is_temporary(restarting)
    assert login_refusal_is_temporary(login_answer(("NO", [b"[SERVERBUG] Internal error occurred."])))
    for wrong in ([b"[AUTHENTICATIONFAILED] Authentication failed."], [b"LOGIN failed."], None):
        assert not login_refusal_is_temporary(login_answer(("NO", wrong)))
