"""Server-wide guards: requests admitted at once and image bytes in flight (429 / 413)."""

from __future__ import annotations

from dataclasses import dataclass

from oculi.domain import ImagePart
from oculi.errors import Overloaded, PayloadTooLarge
from oculi.metrics import Metrics


def estimate_image_bytes(images: list[ImagePart], max_image_bytes: int) -> int:
    """Upper estimate of the encoded bytes the images will occupy.

    Data URLs count their decoded size; URLs and stored images count the
    per-image maximum, since their size is unknown until fetched.
    """
    total = 0
    for image in images:
        if image.url.startswith("data:"):
            payload = len(image.url) - image.url.find(",") - 1
            total += min(payload * 3 // 4, max_image_bytes)
        else:
            total += max_image_bytes
    return total


@dataclass
class Ticket:
    """What one admitted request holds until it finishes."""

    image_bytes: int
    released: bool = False


class Admission:
    """Counts admitted generations and reserved image bytes; refuses with 429 beyond the limits.

    No queue of its own: engines batch what is admitted, and everything over
    the limit is refused at once with ``retry-after`` rather than held in memory.
    """

    def __init__(
        self, max_requests: int, max_image_bytes: int, per_image_bytes: int, metrics: Metrics | None = None
    ) -> None:
        self.max_requests = max_requests
        self.max_image_bytes = max_image_bytes
        self.per_image_bytes = per_image_bytes
        self.active = 0
        self.image_bytes = 0
        self._metrics = metrics

    def admit(self, images: list[ImagePart]) -> Ticket:
        """Reserve a slot and the images' bytes, or raise ``Overloaded`` / ``PayloadTooLarge``."""
        image_bytes = estimate_image_bytes(images, self.per_image_bytes)
        if image_bytes > self.max_image_bytes:
            raise PayloadTooLarge(
                f"The images of this request need up to {image_bytes} bytes, more than this server's "
                f"in-flight image budget of {self.max_image_bytes} bytes. Send fewer or smaller images per request."
            )
        if self.active >= self.max_requests:
            raise Overloaded(
                f"The server is at capacity ({self.active} requests in progress). Retry shortly.", retry_after=1
            )
        if self.image_bytes + image_bytes > self.max_image_bytes:
            raise Overloaded("The server is processing too many image bytes right now. Retry shortly.", retry_after=1)
        self.active += 1
        self.image_bytes += image_bytes
        self._publish()
        return Ticket(image_bytes)

    def release(self, ticket: Ticket) -> None:
        """Give back what ``ticket`` reserved (idempotent)."""
        if ticket.released:
            return
        ticket.released = True
        self.active -= 1
        self.image_bytes -= ticket.image_bytes
        self._publish()

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.queue_depth.set(self.active)
            self._metrics.inflight_image_bytes.set(self.image_bytes)
