"""Every secret value known at run time, in every form it could be written in.

Why a registry: a secret leaks through the one place nobody thought of (a log line written
by mistake, an exception message, a DOM snapshot in a trace, a URL in a network entry).
So every component registers each secret the moment it exists (`registry.add`), and every
writer of text that leaves the process (logs, reports, failure HTML, trace zips) passes it
through `registry.mask`. The scanner (`scan_bytes`) is the proof side: tests unpack the
artifacts of a run and ask it which form of which secret they contain.

A secret is looked for raw and in the encodings it meets on its way: URL-encoded (form
posts, query strings, Playwright network entries), base64 (HTTP basic auth, IMAP AUTH,
data URLs, MIME bodies), quoted-printable (mail bodies), HTML-escaped (page HTML, DOM
snapshots) and JSON-escaped (trace NDJSON, JSON logs, reports).

Base64 of a secret *inside a longer text* depends on the secret's byte offset modulo 3
(the encoder groups 3 bytes into 4 characters). For each of the 3 alignments we register
the "core": the characters that depend only on the secret's own bytes. A secret encoded
inside a larger base64 blob is thus found and masked whatever its offset; the 1 or 2
characters at each edge that mix in neighbouring bytes stay (they carry at most 4 bits of
the secret each, never enough to recover it).

Values shorter than `MIN_LENGTH` (6) are ignored: masking them would blank innocent text
all over the logs (a 4-digit number, a common word) and make the scanner cry wolf, while
such a short value is no real secret anyway. The bot's own secrets are long by design
(generated passwords and answers >= 12 characters, tokens ~32); the shortest real one is
the portal's 6-digit one-time code, hence 6.

Beyond the registered values, `mask` also blanks the value of any credential-named URL
parameter (``token=``, ``code=``, ``password=``...), registered or not, so an activation
link logged before anyone registered it is still masked. Matching uses a gram index
(`_GramIndex`) rather than a regex alternation, so masking a log line or scrubbing a trace
costs the same whether a batch has registered ten secrets or ten thousand.
"""
from __future__ import annotations

import base64
import html
import json
import quopri
import re
import threading
from urllib.parse import quote, quote_plus, unquote_plus

MASK = "********"
MIN_LENGTH = 6

# A URL query value that is a credential by its name, even if nobody registered it
# (`?token=…`, `&code=…`, also HTML-escaped `&amp;token=` and URL-encoded `token%3D…`).
_URL_SECRET_PARAM = re.compile(
    r"(?i)(?P<key>(?:[?&;]|&amp;|%26|%3F)"
    r"(?:token|code|otp|password|passwd|secret|answer|key|sig|signature)(?:=|%3D))"
    r"(?P<value>(?:[^&#\s\"'<>\\;%]|%[0-9A-Fa-f]{2})+)"
)
_URL_SECRET_PARAM_BYTES = re.compile(_URL_SECRET_PARAM.pattern.encode())


def _b64_cores(raw: bytes) -> dict[str, str]:
    """Base64 characters that depend only on `raw`, for each offset modulo 3 (see module doc)."""
    cores: dict[str, str] = {}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        first = -(-8 * offset // 6)  # ceil: first char with no bit of the prefix
        last = (8 * (offset + len(raw))) // 6  # floor: chars past it mix in the next bytes
        core = encoded[first:last]
        cores[f"base64-core{offset}"] = core
        cores[f"base64url-core{offset}"] = core.replace("+", "-").replace("/", "_")
    return cores


def _html_forms(value: str) -> dict[str, str]:
    """The ways HTML writers escape a value: Python/Jinja, MarkupSafe, Chromium's serialiser."""
    amp = value.replace("&", "&amp;")
    lt_gt = amp.replace("<", "&lt;").replace(">", "&gt;")
    return {
        "html": html.escape(value, quote=True),
        "html-markupsafe": lt_gt.replace('"', "&#34;").replace("'", "&#39;"),
        "html-attr": lt_gt.replace('"', "&quot;"),  # Chromium: attribute values
        "html-attr-legacy": amp.replace('"', "&quot;"),
        "html-text": lt_gt,  # Chromium: text nodes
    }


def forms(value: str) -> dict[str, str]:
    """Every form of `value` worth looking for: {form name: text}. Pure; for the scanner."""
    raw = value.encode("utf-8")
    out: dict[str, str] = {"raw": value}
    out["url"] = quote(value, safe="")
    out["url-path"] = quote(value)  # keeps "/" as a path would
    out["url-plus"] = quote_plus(value)
    out["url-lower"] = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), out["url"])
    for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        text = enc(raw).decode()
        out[name] = text
        out[f"{name}-nopad"] = text.rstrip("=")
    out.update(_b64_cores(raw))
    out["qp"] = quopri.encodestring(raw).decode("ascii").rstrip("\n")
    out["qp-header"] = quopri.encodestring(raw, header=True).decode("ascii").rstrip("\n")
    out.update(_html_forms(value))
    out["json"] = json.dumps(value)[1:-1]
    out["json-utf8"] = json.dumps(value, ensure_ascii=False)[1:-1]
    out["json-url"] = json.dumps(out["url"])[1:-1]
    out["json-html"] = json.dumps(out["html-attr"])[1:-1]
    # Drop empty forms and forms too short to be told apart from ordinary text.
    return {name: text for name, text in out.items() if len(text) >= MIN_LENGTH}


def _url_credentials(value: str) -> list[str]:
    """The credential query values of `value` if it is an http(s) URL carrying some, else []."""
    if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
        return []
    found = []
    for match in _URL_SECRET_PARAM.finditer(value):
        written = match.group("value")
        found += [written, unquote_plus(written)]
    return found


_GRAM = 4  # forms are indexed by 4-character pieces...
_STEP = MIN_LENGTH - _GRAM + 1  # ...and texts probed every 3rd position (see _GramIndex)


class _GramIndex:
    """Finds every occurrence of many literal forms in one pass, whatever their number.

    One big regex alternation costs (forms x text length) per call and recompiles on each
    `add`: seconds per log line in a long batch. Instead a text is probed at every `_STEP`-th
    position only, and each form is filed under `_STEP` of its 4-character grams, one per
    offset class modulo `_STEP` (whatever the form's start in a text, exactly one of them
    then sits on a probed position; forms are >= MIN_LENGTH = _GRAM + _STEP - 1 long). In each
    class the gram whose bucket is emptiest so far is chosen, which avoids structural grams
    shared by many forms ("%2F%", "&amp"). Candidates are verified with `startswith`.

    Buckets are lists only ever appended to (under the registry's lock); readers iterate
    them without the lock, which CPython makes safe (an append is atomic under the GIL).
    """

    def __init__(self) -> None:
        self.grams: dict = {}  # gram -> list of (form, offset of the gram in the form)

    def add(self, form) -> None:
        grams = self.grams
        for first in range(_STEP):
            offsets = range(first, len(form) - _GRAM + 1, _STEP)
            offset = min(offsets, key=lambda o: len(grams.get(form[o : o + _GRAM], ())))
            grams.setdefault(form[offset : offset + _GRAM], []).append((form, offset))

    def find(self, text) -> list[tuple[int, int, object]]:
        """(start, end, form) of every occurrence, sorted, duplicates removed."""
        grams, found = self.grams, set()
        if not grams:
            return []
        get = grams.get
        for probe in range(0, len(text) - _GRAM + 1, _STEP):
            candidates = get(text[probe : probe + _GRAM])
            if candidates:
                for form, offset in candidates:
                    start = probe - offset
                    if start >= 0 and text.startswith(form, start):
                        found.add((start, start + len(form), form))
        return sorted(found)

    def mask(self, text, mask):
        """`text` with the union of all occurrences replaced, one `mask` per merged span."""
        spans = self.find(text)
        if not spans:
            return text
        pieces, cursor, span_start, span_end = [], 0, spans[0][0], spans[0][1]
        for start, end, _ in spans[1:]:
            if start <= span_end:  # overlapping or touching forms: one span
                span_end = max(span_end, end)
                continue
            pieces += [text[cursor:span_start], mask]
            cursor, span_start, span_end = span_end, start, end
        pieces += [text[cursor:span_start], mask, text[span_end:]]
        return text[:0].join(pieces)


class SecretRegistry:
    """Thread-safe set of secret values and their forms; masks text and scans bytes.

    Browser flows, the IMAP watcher and log sinks run on several threads: `add` takes the
    lock; `mask` and `scan_bytes` read copy-on-write indexes and never wait.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._names: dict[bytes, str] = {}  # UTF-8 form -> "label:form name"
        self._labels: dict[str, str] = {}  # raw value -> label
        self._text = _GramIndex()
        self._bytes = _GramIndex()

    def add(self, value: str | None, label: str = "secret") -> None:
        """Register `value` and all its forms. Ignores None and values < MIN_LENGTH chars.

        A URL whose query carries credentials (``…/activate?token=T``) registers those values
        (T, decoded and as written) rather than the whole URL: scheme, host and path are no
        secret, and keeping them readable ("opening …/account/activate?token=********") is
        what makes a log line or a trace useful. A URL without one is registered whole."""
        if not value or len(value) < MIN_LENGTH:
            return
        credentials = _url_credentials(value)
        if credentials:
            for part in credentials:
                self.add(part, label)
            return
        with self._lock:
            if value in self._labels:
                return
            self._labels[value] = label
            for name, text in forms(value).items():
                encoded = text.encode()
                if encoded not in self._names:
                    self._names[encoded] = f"{label}:{name}"
                    self._text.add(text)
                    self._bytes.add(encoded)

    def __len__(self) -> int:
        return len(self._labels)

    def values(self) -> list[str]:
        """The registered raw values (for tests and the e2e scanner; never log them)."""
        with self._lock:
            return list(self._labels)

    def clear(self) -> None:
        """Forget every value (tests; a long-lived process never needs it)."""
        with self._lock:
            self._names, self._labels = {}, {}
            self._text, self._bytes = _GramIndex(), _GramIndex()

    def mask(self, text: str) -> str:
        """`text` with every known form and every credential-like URL parameter masked."""
        if not text:
            return text
        text = self._text.mask(text, MASK)
        return _URL_SECRET_PARAM.sub(lambda m: m.group("key") + MASK, text)

    def mask_bytes(self, data: bytes) -> bytes:
        """`mask` for UTF-8 (or ASCII-compatible) bytes: trace members, HTML, NDJSON."""
        if not data:
            return data
        data = self._bytes.mask(data, MASK.encode())
        return _URL_SECRET_PARAM_BYTES.sub(lambda m: m.group("key") + MASK.encode(), data)

    def scan_bytes(self, data: bytes) -> list[str]:
        """Names ("label:form") of the known forms found in `data`; never the secret itself.

        Also looks through quoted-printable soft line breaks ("=\\r\\n"), which fold long
        lines such as the activation link in the portal's mail.
        """
        if not data:
            return []
        names = self._names
        found = {names[form] for haystack in (data, re.sub(rb"=\r?\n", b"", data))
                 for _, _, form in self._bytes.find(haystack)}
        return sorted(found)


registry = SecretRegistry()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, masked: what a log line or a one-line error
    may show of it (Playwright's messages go on with call logs, which quote typed values)."""
    text = registry.mask(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
