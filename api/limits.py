"""How `salvo api` holds out against slow and numerous clients.

- Headers: a connection must finish sending a request's headers within `api_header_timeout`
  seconds of opening (or of its previous answer), else it is closed. aiohttp's keep-alive timer
  does exactly that (it is armed at connection start and closes a connection still waiting for
  a whole request), so the header timeout is its keep-alive timeout, and an idle keep-alive
  connection is closed after the same time.
- Bodies: a JSON body must arrive within `api_body_timeout` seconds (408); a campaign upload
  may take as long as it needs but is dropped when no byte arrives for that long (api/shared.py,
  api/campaigns.py).
- Connections: at most `api_max_connections` open at once per process; one more is answered
  503 with Retry-After and closed, without being parsed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

#: What a connection over the cap is told before it is closed.
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 41\r\n\r\n"
    b'{"error": "too many connections, retry"}\n'
)


class _Busy(asyncio.Protocol):
    """A connection over the cap: answered 503 at once and closed a second later (closing at
    once would reset the connection under the client's request and lose the answer); what it
    sends meanwhile is dropped unparsed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY)
        transport.write_eof()
        asyncio.get_running_loop().call_later(1.0, transport.close)

    def data_received(self, data: bytes) -> None:
        pass


class CappedSite(web.TCPSite):
    """A TCP site that serves at most `max_connections` connections at once."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, max_connections: int) -> None:
        super().__init__(runner, host, port)
        self.max_connections = max_connections

    async def start(self) -> None:
        # TCPSite.start, with a protocol factory that counts the open connections first.
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.Protocol:
            assert server is not None
            if len(server.connections) >= self.max_connections:
                return _Busy()
            return server()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(protocol, self._host, self._port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
