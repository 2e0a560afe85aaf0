"""Reading a user's text file without surprises: a bounded number of bytes (``/dev/zero`` or a
mistaken multi-GB file is refused, not slurped), UTF-16/UTF-32/UTF-8 told apart by their byte-order
mark, and a file in another encoding refused with the byte that gave it away and how to convert it."""

from __future__ import annotations

import codecs
from pathlib import Path

from harness.errors import UsageError

#: default ceiling: far above any suite, ratings sheet or telemetry capture edgebench reads
MAX_TEXT_BYTES = 256 * 1024 * 1024

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_bytes_bounded(path: str | Path, limit: int = MAX_TEXT_BYTES, what: str = "file") -> bytes:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except IsADirectoryError:
        raise UsageError(f"{what} {p} is a folder; give a file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {p} ({exc.strerror or exc})") from exc
    if len(data) > limit:
        raise UsageError(f"{what} {p} is larger than {limit / 2**20:.0f} MiB (or endless, like /dev/zero); "
                         f"this is not a {what} edgebench reads: check the path")
    return data


def decode(data: bytes, source: str, what: str = "file") -> str:
    """Text of ``data``: by its byte-order mark if it has one, else UTF-8 (or a clear refusal)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding).lstrip("\ufeff")
            except UnicodeDecodeError as exc:
                raise UsageError(f"{what} {source} starts with a {encoding} byte-order mark but is not valid "
                                 f"{encoding} ({exc.reason} at byte {exc.start}); re-save it as UTF-8") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.start + 1]
        hint = ("it looks like UTF-16 without a byte-order mark" if b"\x00" in data[:64]
                else "it looks like Latin-1 / Windows-1252")
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"{what} {source} is not UTF-8 text (byte {bad!r} on line {line}; {hint}); re-save it "
                         f"as UTF-8, e.g. 'iconv -f latin1 -t utf-8 {source} > fixed.csv' or 'Save as CSV UTF-8' "
                         "in a spreadsheet") from exc


def read_text(path: str | Path, limit: int = MAX_TEXT_BYTES, what: str = "file") -> str:
    """A bounded, decoded text file; every failure is a UsageError saying what to do."""
    return decode(read_bytes_bounded(path, limit, what), str(path), what)
