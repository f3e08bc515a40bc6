"""uvicorn's h11 HTTP/1.1 protocol with a deadline for request headers and JSON errors.

uvicorn times out idle keep-alive connections but not a request's headers: a client that
sends one header byte every few seconds holds its connection (and a place under any
connection limit) for as long as it likes. :func:`guarded_h11_protocol` makes a protocol
class that closes a connection whose request headers are not complete
``header_timeout_s`` seconds after the connection opened or after its previous response
was sent (answering 408 if part of a request had arrived), and that answers malformed
HTTP with the server's JSON error shape instead of uvicorn's plain-text 400. Body time is
bounded by the app's gate (:mod:`scalinglab.serve.gate`), which sees the body arrive.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from scalinglab.serve.errors import raw_error_response


class _GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` with a header deadline; see the module docstring."""

    header_timeout_s: float = 10.0

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._header_timer is None:
            self._arm_header_timer()  # first bytes of a request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """Answer malformed HTTP (which uvicorn finds before any app runs) as JSON."""
        self._cancel_header_timer()
        self.transport.write(
            raw_error_response(400, "bad_request", f"{msg.rstrip('.')}: send valid HTTP/1.1")
        )
        self.transport.close()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        partial, _ = self.conn.trailing_data
        if partial:
            self.transport.write(
                raw_error_response(
                    408,
                    "request_timeout",
                    f"the request headers were not complete {self.header_timeout_s:g} s after "
                    "the connection opened (header_timeout_s): send them at once",
                    limit="header_timeout_s",
                    limit_value=self.header_timeout_s,
                )
            )
        self.transport.close()


def guarded_h11_protocol(header_timeout_s: float) -> type[H11Protocol]:
    """A protocol class for ``uvicorn.run(http=...)`` with this header deadline (seconds)."""
    if header_timeout_s <= 0:
        raise ValueError(f"header_timeout_s must be positive, got {header_timeout_s}")
    return type(
        "GuardedH11Protocol", (_GuardedH11Protocol,), {"header_timeout_s": header_timeout_s}
    )
