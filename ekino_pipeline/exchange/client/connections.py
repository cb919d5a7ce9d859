"""HTTP connections kept open between the clients of many cinemas, and the requests adapter that
takes a client's connections from them (or keeps its own)."""

from __future__ import annotations

from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.util.retry import Retry


class SharedConnections:
    """Open HTTP connections that the clients of many cinemas take turns on, one exchange host at a
    time: the pulls of a batch (a worker's chunk, a run's threads) reach a host that serves several
    cinemas (a ticketing vendor's, a proxy) over a few kept-alive connections instead of a new one per
    cinema-day. Only the connection is shared: each client keeps its own session (no cookie crosses
    from one cinema to another), its token, retries and deadline. A connection goes back for reuse
    only once its answer was read whole. Thread-safe; `close` ends every connection kept."""

    def __init__(self, per_host: int = 4, hosts: int = 16):
        self._manager = PoolManager(num_pools=hosts, maxsize=max(1, per_host), block=False)

    def close(self) -> None:
        self._manager.clear()

    def __enter__(self) -> SharedConnections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ExchangeAdapter(HTTPAdapter):
    """A client's requests adapter: its retries, on `shared` connections when given, else on
    connections of its own."""

    def __init__(self, retry: Retry, shared: SharedConnections | None):
        self._shared = shared
        super().__init__(max_retries=retry, pool_connections=1, pool_maxsize=2)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
        if self._shared is None:
            super().init_poolmanager(connections, maxsize, block, **kwargs)
        else:
            self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
            self.poolmanager = self._shared._manager

    def close(self) -> None:
        if self._shared is None:
            super().close()
        else:  # the shared connections are their owner's to close; a proxy's are this adapter's own
            for proxy in self.proxy_manager.values():
                proxy.clear()
