"""systemd's notify protocol, spoken directly: datagrams of ``KEY=value`` lines to ``$NOTIFY_SOCKET``.

No dependency: the protocol is one ``sendto`` on an ``AF_UNIX`` datagram
socket. A socket address starting with ``@`` is in the abstract namespace
(a NUL byte replaces the ``@``). Without ``$NOTIFY_SOCKET`` (not run by
systemd, or ``Type=simple``) every call is a no-op, so the daemon never
needs to know how it was started.

The watchdog (``WatchdogSec=`` in the unit, passed as ``$WATCHDOG_USEC``) is
fed by :class:`WatchdogPinger` only while the daemon's main loop proves it
is alive by beating a :class:`Heartbeat`: a pinger that pinged regardless
would keep a wedged daemon running forever.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Mapping


class Notifier:
    """Sends notifications to one socket address (or nowhere)."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self.sent: int = 0
        self.errors: int = 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier:
        return cls(environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: object) -> bool:
        """Send ``KEY=value`` lines (``ready=1`` → ``READY=1``); False if not sent. Never raises."""
        if self.address is None:
            return False
        payload = "\n".join(f"{key.upper()}={_one_line(value)}" for key, value in fields.items()).encode()
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, target)
        except OSError:
            self.errors += 1
            return False
        self.sent += 1
        return True

    def ready(self, status: str) -> bool:
        return self.notify(ready=1, status=status)

    def status(self, status: str) -> bool:
        return self.notify(status=status)

    def stopping(self, status: str = "stopping") -> bool:
        return self.notify(stopping=1, status=status)

    def reloading(self, monotonic_usec: int) -> bool:
        return self.notify(reloading=1, monotonic_usec=monotonic_usec)


def _one_line(value: object) -> str:
    return str(value).replace("\n", " ")


def watchdog_interval(environ: Mapping[str, str], *, pid: int) -> float | None:
    """Seconds between watchdog pings (half of ``$WATCHDOG_USEC``), or None when not asked for.

    ``$WATCHDOG_PID``, when set, names the process meant; another pid means
    the variables were inherited and are not ours.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (owner and owner != str(pid)):
        return None
    return int(usec) / 2e6


class Heartbeat:
    """The main loop's proof of life: a monotonic timestamp, beaten often, read by the pinger."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last = clock()

    def beat(self) -> None:
        self.last = self.clock()

    def age(self) -> float:
        return self.clock() - self.last


class WatchdogPinger:
    """A stoppable thread sending ``WATCHDOG=1`` every ``interval`` while the heartbeat is fresh.

    Fresh means younger than twice the interval (the whole ``WatchdogSec``):
    a main loop stuck for longer stops the pings and systemd restarts us.
    """

    def __init__(self, notifier: Notifier, heartbeat: Heartbeat, interval: float) -> None:
        self.notifier = notifier
        self.heartbeat = heartbeat
        self.interval = interval
        self.pings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bifrostd-watchdog", daemon=True)

    def start(self) -> WatchdogPinger:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.heartbeat.age() < 2 * self.interval and self.notifier.notify(watchdog=1):
                self.pings += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
