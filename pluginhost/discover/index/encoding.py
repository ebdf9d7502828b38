"""Content codings of an index's answers, decoded a bounded step at a time.

An HTTP client that decodes ``Content-Encoding`` for its caller inflates each chunk that
arrives whole: a page of a few kilobytes sent as ``gzip, gzip`` becomes gigabytes in memory
before the caller can count a byte of it. Here each coding is undone by ``zlib`` with a limit
on every step's output, so the page's size cap stops the read after at most a step beyond it.

Pages and core metadata are asked for in ``gzip`` or ``deflate`` (the codings that indexes
use, and that the standard library decodes); any other coding is refused. Files are asked for
as ``identity`` and never decoded, as pip does: a server that labels a wheel with a coding
still sends the file whose sha256 the index lists.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Final

from ...model.errors import IndexResponseError

__all__ = ["ACCEPT_FILE", "ACCEPT_PAGE", "MAX_CODINGS", "decoded"]

#: The ``Accept-Encoding`` of a page or of core metadata.
ACCEPT_PAGE: Final = "gzip, deflate"
#: The ``Accept-Encoding`` of a file download.
ACCEPT_FILE: Final = "identity"
#: The most codings a body may be sent in, one on top of the other (urllib3 takes five; a
#: server sends one).
MAX_CODINGS: Final = 4
#: The most bytes one step of inflating may give.
STEP: Final = 64 * 1024

# zlib's window bits: a gzip member, a zlib stream, raw deflate (which some servers send as
# "deflate" although HTTP means a zlib stream by it).
_GZIP: Final = 16 + zlib.MAX_WBITS
_ZLIB: Final = zlib.MAX_WBITS
_RAW: Final = -zlib.MAX_WBITS


def decoded(header: str, chunks: Iterable[bytes], *, url: str) -> Iterator[bytes]:
    """``chunks`` (the body of ``url``) with every coding of ``Content-Encoding: header``
    undone, in order.

    :raises IndexResponseError: a coding other than gzip, deflate and identity, or more than
        :data:`MAX_CODINGS` of them (raised before a chunk is read), or a body that is not in
        the coding it claims.
    """
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    if len(codings) > MAX_CODINGS:
        # Each coding is a decoder stacked on the one before: 2,000 of them raised a bare
        # RecursionError out of the read (attack probe 08), which failed the whole poll.
        reason = (
            f"sent a body in {len(codings)} stacked content codings "
            f"(Content-Encoding: {_cut(header)!r}), more than the {MAX_CODINGS} decoded here"
        )
        raise IndexResponseError(reason, url=url)
    for coding in codings:
        if coding not in {"gzip", "x-gzip", "deflate", "identity"}:
            reason = f"sent a body in Content-Encoding {coding!r}, which is not decoded here"
            raise IndexResponseError(reason, url=url)
    # Applied first to last by the server, so undone last to first.
    for coding in reversed(codings):
        if coding in {"gzip", "x-gzip"}:
            chunks = _inflated(chunks, _GZIP)
        elif coding == "deflate":
            chunks = _inflated(chunks, _ZLIB, fallback=_RAW)
    return _checked(chunks, header, url)


def _cut(text: str, limit: int = 60) -> str:
    """``text`` for a message, cut short: a header may be kilobytes long."""
    return text if len(text) <= limit else text[:limit] + "..."


def _checked(chunks: Iterable[bytes], header: str, url: str) -> Iterator[bytes]:
    try:
        yield from chunks
    except zlib.error as exc:
        reason = f"sent a body that is not the {header.strip()} it claims to be ({exc})"
        raise IndexResponseError(reason, url=url) from exc


def _inflated(chunks: Iterable[bytes], wbits: int, fallback: int | None = None) -> Iterator[bytes]:
    """Each chunk inflated at most :data:`STEP` bytes at a time; the stream must end.

    :param fallback: the window bits to try instead when ``wbits`` fails before any output;
        the input given until then is given to it again.
    """
    inflater = zlib.decompressobj(wbits)
    kept: list[bytes] | None = [] if fallback is not None else None
    for chunk in chunks:
        data = chunk
        if kept is not None:
            kept.append(chunk)
        while data:
            try:
                out = inflater.decompress(data, STEP)
            except zlib.error:
                if kept is None or fallback is None:
                    raise
                inflater, fallback = zlib.decompressobj(fallback), None
                data = b"".join(kept)
                continue
            data = inflater.unconsumed_tail
            if out:
                kept = None  # decided: what was kept is not given again
                yield out
            if inflater.eof:
                # Bytes after the end of the stream: what a client would drop. A second
                # gzip member (which gzip allows) is not looked for.
                data = b""
    # Output the last input left pending (a match longer than the last step had room for).
    while not inflater.eof and (out := inflater.decompress(b"", STEP)):
        yield out
    if not inflater.eof:
        raise zlib.error("the compressed body ended before its stream did")
