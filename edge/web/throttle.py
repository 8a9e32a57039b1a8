"""Back-off after wrong tokens, per client address.

The first ``FREE`` wrong tokens from an address cost nothing; each one after that blocks
the address for twice as long as the one before (1 s, 2 s, 4 s, ... at most
``MAX_BLOCK``). A blocked address is answered 429 with Retry-After and its tokens are
not even compared, so guessing goes no faster than the back-off, and nothing sleeps: a
worker is never held. An address is forgotten after a right token, or ``FORGET``
seconds after its last wrong one; the table keeps at most ``MAX_ADDRESSES`` (the
longest quiet go first). IPv6 addresses count by their /64 network, which a single
client usually owns whole.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict

FREE = 5
MAX_BLOCK = 300.0
FORGET = 900.0
MAX_ADDRESSES = 4096


class Throttle:
    def __init__(self, clock=time.monotonic, max_addresses: int = MAX_ADDRESSES):
        self.clock = clock
        self.max_addresses = int(max_addresses)
        self._wrong: OrderedDict[str, tuple[int, float]] = OrderedDict()  # (count, last)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._wrong)

    def wait(self, address: str | None) -> float:
        """Seconds ``address`` must wait before its next token is checked (0: check it)."""
        with self._lock:
            wrong, last = self._get(_key(address))
            return max(0.0, last + blocked_for(wrong) - self.clock()) if wrong else 0.0

    def failed(self, address: str | None) -> None:
        """Count a wrong token from ``address``."""
        key = _key(address)
        with self._lock:
            wrong, _ = self._get(key)
            self._wrong[key] = (wrong + 1, self.clock())
            self._wrong.move_to_end(key)
            while len(self._wrong) > self.max_addresses:
                self._wrong.popitem(last=False)

    def passed(self, address: str | None) -> None:
        """A right token from ``address``: its wrong ones are forgotten."""
        with self._lock:
            self._wrong.pop(_key(address), None)

    def _get(self, key: str) -> tuple[int, float]:
        wrong, last = self._wrong.get(key, (0, 0.0))
        if wrong and self.clock() - last > FORGET:
            del self._wrong[key]
            return 0, 0.0
        return wrong, last


def blocked_for(wrong: int) -> float:
    """Seconds an address is blocked after its ``wrong``-th wrong token."""
    return 0.0 if wrong <= FREE else min(2.0 ** (wrong - FREE - 1), MAX_BLOCK)


def _key(address: str | None) -> str:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return str(address)
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
