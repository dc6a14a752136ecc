"""Server-wide guards, checked before the work is done (SPEC §10): 429 when busy, 413/400 when it can never fit.

Three budgets:

- requests admitted at once (``max_queue``);
- encoded image bytes in flight (``max_inflight_image_bytes``), known from
  the request before anything is fetched or decoded;
- memory once decoded (``max_inflight_decoded_bytes``): text being tokenized
  (``TEXT_BYTES_PER_CHAR`` a character), the encoded images' copies
  (``ENCODED_COPIES``), and per image the decoded pixels and
  the float32 views the engine takes (``intake.cost``), charged by intake as
  soon as each image's header is known, before its pixels are decoded.

An image's encoded size is what admission knows of it before anything is
fetched: a data URL's decoded length, an uploaded file's or a stored
conversation's image's stored size (the store knows it; a file's header
too, so intake charges its decoded cost before reading a byte of it), and
the per-image maximum for an http(s) URL, whose size is unknown until it is
fetched. The same image inline, by file id or stored costs the same.

Text is also bounded against the model's context before it is tokenized
(``check_text_length``): tokenizing a 100 MB prompt took 21 GB before the
context-length check could refuse it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oculi.domain import ImagePart
from oculi.errors import InvalidRequest, Overloaded, PayloadTooLarge
from oculi.memory import Trimmer
from oculi.metrics import Metrics

#: No tokenizer packs more characters than this into an average token of a whole prompt, so text
#: longer than ``context × MAX_CHARS_PER_TOKEN`` can never fit the context: refused untokenized.
MAX_CHARS_PER_TOKEN = 32
#: Peak memory of tokenizing one character (measured on the transformers engine: 5 MB of text
#: took 2.2 GB, about 440 bytes a character); generous for the other engines.
TEXT_BYTES_PER_CHAR = 512
#: An encoded image is in memory about this many times over while its request runs: the body's base64
#: text, the parsed JSON string, the decoded bytes (and their stored copy).
ENCODED_COPIES = 4


def estimate_image_bytes(
    images: list[ImagePart], max_image_bytes: int, known_bytes: Mapping[str, int] | None = None
) -> int:
    """Upper estimate of the encoded bytes the images will occupy (see module docstring).

    ``known_bytes``: the size of images the store holds, by their reference
    (``ImagePart.url``: ``fileid:…``, ``stored:…``); any other reference
    but a data URL counts the per-image maximum.
    """
    known = known_bytes or {}
    total = 0
    for image in images:
        if image.url.startswith("data:"):
            payload = len(image.url) - image.url.find(",") - 1
            total += min(payload * 3 // 4, max_image_bytes)
        else:
            total += min(known.get(image.url, max_image_bytes), max_image_bytes)
    return total


def check_text_length(chars: int, context_length: int, param: str) -> None:
    """400 for text that cannot fit ``context_length`` tokens, decided by its length alone (no tokenizer)."""
    limit = context_length * MAX_CHARS_PER_TOKEN
    if chars > limit:
        raise InvalidRequest(
            f"The text of this request is {chars} characters; the model's context of {context_length} tokens "
            f"cannot hold more than about {limit} characters. Shorten the text or split it over several requests.",
            param=param,
        )


@dataclass
class Ticket:
    """What one admitted request holds until it finishes."""

    image_bytes: int
    decoded_bytes: int = 0
    released: bool = False


class Admission:
    """Counts admitted generations and reserved bytes; refuses with 429 beyond the limits.

    No queue of its own: engines batch what is admitted, and everything over
    the limit is refused at once with ``retry-after`` rather than held in memory.
    ``max_decoded_bytes`` 0 turns the decoded-memory budget off.
    """

    def __init__(
        self,
        max_requests: int,
        max_image_bytes: int,
        per_image_bytes: int,
        metrics: Metrics | None = None,
        *,
        max_decoded_bytes: int = 0,
        trimmer: Trimmer | None = None,
    ) -> None:
        self.max_requests = max_requests
        self.max_image_bytes = max_image_bytes
        self.per_image_bytes = per_image_bytes
        self.max_decoded_bytes = max_decoded_bytes
        self.active = 0
        self.image_bytes = 0
        self.decoded_bytes = 0
        self._metrics = metrics
        self._trimmer = trimmer  # memory goes back to the system once the last request finishes

    def admit(
        self, images: list[ImagePart], text_chars: int = 0, *, known_bytes: Mapping[str, int] | None = None
    ) -> Ticket:
        """Reserve a slot, the images' bytes and the text's memory, or raise ``Overloaded`` / ``PayloadTooLarge``.

        ``known_bytes``: stored images' sizes by reference (``estimate_image_bytes``).
        """
        image_bytes = estimate_image_bytes(images, self.per_image_bytes, known_bytes)
        if image_bytes > self.max_image_bytes:
            raise PayloadTooLarge(
                f"The images of this request need up to {image_bytes} bytes, more than this server's "
                f"in-flight image budget of {self.max_image_bytes} bytes. Send fewer or smaller images per request."
            )
        text_bytes = text_chars * TEXT_BYTES_PER_CHAR
        self._check_decoded(text_bytes, text_bytes, "the text of this request", "Shorten the text")
        reserved = text_bytes + image_bytes * ENCODED_COPIES
        self._check_decoded(reserved, reserved, "this request", "Send fewer or smaller images, or shorter text")
        if self.active >= self.max_requests:
            raise Overloaded(
                f"The server is at capacity ({self.active} requests in progress). Retry shortly.", retry_after=1
            )
        if self.image_bytes + image_bytes > self.max_image_bytes:
            raise Overloaded("The server is processing too many image bytes right now. Retry shortly.", retry_after=1)
        self.active += 1
        if self._trimmer is not None:
            self._trimmer.busy()
        self.image_bytes += image_bytes
        self.decoded_bytes += reserved
        self._publish()
        return Ticket(image_bytes, reserved)

    def charge(self, ticket: Ticket, nbytes: int, image: str | None = None) -> None:
        """Add ``nbytes`` of decoded memory to an admitted request (intake calls it per image, before decoding).

        ``image`` names the image (e.g. "image 3 (file 'file-…', 8000×6000)"):
        one that alone is over the whole budget is refused naming it.
        """
        if ticket.released or nbytes <= 0:
            return
        if image is not None and self.max_decoded_bytes and nbytes > self.max_decoded_bytes:
            raise self._too_large(nbytes, f"{image} alone", "Send a smaller image")
        self._check_decoded(
            nbytes, ticket.decoded_bytes + nbytes, "the images of this request", "Send fewer or smaller images"
        )
        ticket.decoded_bytes += nbytes
        self.decoded_bytes += nbytes
        self._publish()

    def _check_decoded(self, nbytes: int, request_total: int, what: str, advice: str) -> None:
        budget = self.max_decoded_bytes
        if not budget or nbytes <= 0:
            return
        if request_total > budget:
            raise self._too_large(request_total, what, advice)
        if self.decoded_bytes + nbytes > budget:
            raise Overloaded(
                "The server's memory budget for decoded images and text is in use by other requests. Retry shortly.",
                retry_after=1,
            )

    def _too_large(self, nbytes: int, what: str, advice: str) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"Decoded, {what} would take about {nbytes // 2**20} MiB of memory, more than this server's "
            f"budget of {self.max_decoded_bytes // 2**20} MiB for all requests at once. {advice} (detail 'low' "
            "images cost least), or split the work over several requests."
        )

    def release(self, ticket: Ticket) -> None:
        """Give back what ``ticket`` reserved (idempotent)."""
        if ticket.released:
            return
        ticket.released = True
        self.active -= 1
        self.image_bytes -= ticket.image_bytes
        self.decoded_bytes -= ticket.decoded_bytes
        self._publish()
        if self.active == 0 and self._trimmer is not None:
            self._trimmer.idle()

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.queue_depth.set(self.active)
            self._metrics.inflight_image_bytes.set(self.image_bytes)
            self._metrics.inflight_decoded_bytes.set(self.decoded_bytes)
