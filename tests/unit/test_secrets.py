"""SecretRegistry: every form of a secret is masked, token URLs too, and the scanner finds them."""
from __future__ import annotations

import base64
import html
import json
import quopri
import threading
from urllib.parse import quote, quote_plus

import pytest

from bot.flows.registration import _as_fault
from bot.secrets import MASK, MIN_LENGTH, SecretRegistry, first_line, forms, registry

# Punctuation that every encoding treats differently: / + & " < > % = space and non-ASCII.
PASSWORD = 'Kq7/v+R&"<x>%= é!9'
ANSWER = "qwzjhtyplkmnbvcx"


@pytest.fixture
def reg() -> SecretRegistry:
    fresh = SecretRegistry()
    fresh.add(PASSWORD, "password")
    fresh.add(ANSWER, "answer")
    return fresh


ENCODINGS = {
    "raw": lambda v: v,
    "url": lambda v: quote(v, safe=""),
    "url-plus": quote_plus,
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64url-nopad": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "qp": lambda v: quopri.encodestring(v.encode()).decode(),
    "html": html.escape,
    "json": lambda v: json.dumps(v)[1:-1],
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("secret", [PASSWORD, ANSWER])
def test_every_form_is_masked(reg, encoding, secret):
    encoded = ENCODINGS[encoding](secret)
    masked = reg.mask(f"before {encoded} after")
    assert encoded not in masked
    assert masked == f"before {MASK} after"


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5])
def test_base64_inside_a_longer_blob_is_masked_at_any_alignment(reg, offset):
    """E.g. HTTP basic auth or IMAP AUTH PLAIN: `user\\0password` encoded as a whole."""
    blob = base64.b64encode(b"u" * offset + b"\0" + PASSWORD.encode() + b"\0tail").decode()
    masked = reg.mask(blob)
    assert MASK in masked
    decoded_rest = masked.replace(MASK, "")
    assert len(decoded_rest) < len(blob) - 16  # the secret's characters are gone, edges aside
    assert reg.scan_bytes(blob.encode()), "the scanner must see the embedded secret"


def test_token_urls_are_masked_even_when_unknown():
    fresh = SecretRegistry()  # knows nothing
    text = (
        "GET http://127.0.0.1:8000/account/activate?token=Zx9_unknown-TOKEN1 then "
        '<a href="/login/verify?lang=en&amp;code=123456">, next=%2Fa%3Ftoken%3Dabc%2Fdef'
    )
    masked = fresh.mask(text)
    for leaked in ("Zx9_unknown-TOKEN1", "123456", "abc%2Fdef"):
        assert leaked not in masked
    assert f"/account/activate?token={MASK}" in masked
    assert f"&amp;code={MASK}" in masked


def test_ordinary_text_is_left_alone(reg):
    text = "status code 500 at /account/structure?siret=12345678900012 for Acme SARL"
    assert reg.mask(text) == text


def test_short_values_are_ignored():
    fresh = SecretRegistry()
    fresh.add("12345"[: MIN_LENGTH - 1])
    fresh.add("")
    fresh.add(None)
    assert len(fresh) == 0
    assert fresh.mask("code 1234 ok") == "code 1234 ok"
    fresh.add("123456")  # a one-time code is exactly the minimum
    assert fresh.mask("code 123456 ok") == f"code {MASK} ok"


def test_scan_names_each_encoded_form_and_never_the_secret(reg):
    for encoding, encode in ENCODINGS.items():
        found = reg.scan_bytes(f"xx {encode(PASSWORD)} yy".encode())
        assert found, f"{encoding} not found"
        assert all(name.startswith("password:") for name in found)
        assert not any(PASSWORD in name for name in found)
    assert reg.scan_bytes(b"nothing to see here") == []


def test_scan_sees_through_quoted_printable_soft_line_breaks(reg):
    folded = quopri.encodestring(("x" * 70 + ANSWER).encode())  # folded at 76 characters
    assert ANSWER.encode() not in folded
    assert reg.scan_bytes(folded) == ["answer:raw"]


def test_forms_covers_the_documented_encodings():
    names = set(forms(PASSWORD))
    for expected in ("raw", "url", "url-plus", "base64", "base64-nopad", "base64url", "base64url-nopad",
                     "base64-core0", "base64-core1", "base64-core2", "qp", "html", "json"):
        assert expected in names


def test_mask_bytes_matches_mask(reg):
    text = f"a {PASSWORD} b {quote_plus(ANSWER)} c ?token=abcdefgh"
    assert reg.mask_bytes(text.encode()) == reg.mask(text).encode()


def test_registry_is_thread_safe():
    fresh = SecretRegistry()
    values = [f"secret-value-{i:04d}" for i in range(200)]

    def add(chunk):
        for value in chunk:
            fresh.add(value)
            assert value not in fresh.mask(value)

    threads = [threading.Thread(target=add, args=(values[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fresh) == 200
    assert all(fresh.mask(v) == MASK for v in values)


def test_module_registry_is_shared():
    from bot import secrets

    assert secrets.registry is registry


def test_a_registered_link_keeps_its_address_and_loses_its_token():
    fresh = SecretRegistry()
    fresh.add("http://127.0.0.1:8765/account/activate?lang=en&token=Ab%2Fcd-EF_gh12345", "link")
    text = "opening http://127.0.0.1:8765/account/activate?lang=en&token=Ab%2Fcd-EF_gh12345 now"
    assert fresh.mask(text) == "opening http://127.0.0.1:8765/account/activate?lang=en&token=******** now"
    assert fresh.mask("hidden input value=Ab/cd-EF_gh12345") == "hidden input value=********"
    assert fresh.scan_bytes(b"Ab/cd-EF_gh12345") == ["link:raw"]
    fresh.add("https://portal.example/activate/Zq9-path-style-token", "link")  # no query credential
    assert fresh.mask("go https://portal.example/activate/Zq9-path-style-token") == f"go {MASK}"


def test_masking_stays_fast_with_thousands_of_secrets():
    """A long batch registers a few secrets per supplier; logging and trace scrubbing must
    not slow down with their number (a regex alternation would: seconds per log line)."""
    import time

    fresh = SecretRegistry()
    started = time.perf_counter()
    values = [f"Pw-{i:05d}-{'x' * (i % 7)}/+&!" for i in range(1500)]
    for value in values:
        fresh.add(value, "password")
    trace_like = ('{"type":"after","callId":"call@12","params":{"value":"Acme SARL"}}\n' * 15_000).encode()
    line = "2026-11-27 | INFO | run | 73282932000074 | bot.flows:_journey:12 | waiting for the activation mail"
    for _ in range(2000):
        assert fresh.mask(line) == line
    assert fresh.mask_bytes(trace_like + values[777].encode()).endswith(MASK.encode())
    assert time.perf_counter() - started < 10  # about 1 s on the shared 2-core machine


def test_every_form_is_found_at_every_offset():
    """The index probes every 3rd position only: check no start offset slips through."""
    import random

    rng = random.Random(20261127)
    fresh = SecretRegistry()
    values = ["".join(rng.choice("abcXYZ0189/+&%= é!\"<") for _ in range(rng.randint(6, 24))) for _ in range(40)]
    values = [v for v in values if len(v.strip()) >= MIN_LENGTH]
    for value in values:
        fresh.add(value)
    for trial in range(400):
        value = rng.choice(values)
        name, form = rng.choice(sorted(forms(value).items()))
        text = "." * rng.randint(0, 7) + form + "." * rng.randint(0, 7)
        masked = fresh.mask(text)
        assert form not in masked, (trial, name)
        assert fresh.scan_bytes(text.encode()), (trial, name)


def test_first_line_of_an_exception_is_masked_and_never_empty():
    secret = "Vq4-first-line-" + "".join(sorted(ANSWER))  # unique to this test
    registry.add(secret, "password")
    playwright_like = RuntimeError(f'Locator.fill: typed {secret}\nCall log:\n  - fill("{secret}")')
    assert first_line(playwright_like) == f"Locator.fill: typed {MASK}"
    assert first_line(RuntimeError("")) == "RuntimeError"  # no IndexError inside an `except`
    assert first_line(RuntimeError("\n  net::ERR_CONNECTION_REFUSED\nmore")) == "net::ERR_CONNECTION_REFUSED"


def test_a_fault_made_of_a_playwright_error_is_one_masked_line_of_200_characters_at_most():
    secret = "Wz5-as-fault-" + "".join(sorted(PASSWORD.encode().hex()))
    registry.add(secret, "password")
    fault = _as_fault(RuntimeError(f"Timeout  30000ms\t{secret}\nCall log: {secret}"), "step 2")
    assert fault.message == f"step 2: Timeout 30000ms {MASK}"
    assert _as_fault(TimeoutError(), "step 2").message == "step 2: TimeoutError"
    assert len(_as_fault(RuntimeError("x" * 500), "step 2").message) == len("step 2: ") + 200
