"""How many control connections the daemon takes, from whom, for how long, and what it keeps for itself.

Anyone in the daemon's group may connect to the control socket, so no client
(a runaway script, a thousand idle connections, one that sends half a line
and waits) may take what the daemon needs for its own work, nor lock out the
others:

- at most ``Limits.connections`` connections are open at once (64; fewer
  under a low descriptor limit), each served by its own thread;
- a uid other than root and the daemon's own holds at most
  ``Limits.per_uid`` of them;
- a whole request line must arrive within ``Limits.request_timeout``
  seconds of the connection or of the last answer (a deadline, not a gap
  between bytes: dripping a byte at a time does not extend it);
- when every slot is taken, the connection that has waited longest for a
  request line, if it has waited ``Limits.evict_after`` seconds, is closed to
  make room (a client that means to talk sends its line at once); when none
  has, the newcomer gets a busy reply and is closed, never queued;
- nothing is accepted while fewer than ``Limits.fd_reserve`` descriptors are
  free, so the catalog, hashing, inotify and walks never meet EMFILE because
  of the control socket.

:class:`Slots` keeps the books; it does no I/O, so tests drive it with a fake
clock and stand-ins for sockets (the caller passes what shuts one down).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

MAX_CONNECTIONS = 64
PER_UID = 16
REQUEST_TIMEOUT = 5.0
EVICT_AFTER = 1.0
#: Descriptors left for the daemon's own work (SQLite's three per connection, a walk's one per folder level,
#: inotify, the hashing pool's pipes, a mirror run's sockets) beyond what it holds when a connection comes.
FD_RESERVE = 128


@dataclass(frozen=True, slots=True)
class Limits:
    connections: int = MAX_CONNECTIONS
    per_uid: int = PER_UID
    request_timeout: float = REQUEST_TIMEOUT
    evict_after: float = EVICT_AFTER
    fd_reserve: int = FD_RESERVE


def limits_for(nofile: int) -> Limits:
    """The limits under a soft RLIMIT_NOFILE of ``nofile``: connections take at most a quarter of what the
    reserve leaves, and one user a quarter of the connections."""
    if nofile < 0 or nofile == resource.RLIM_INFINITY:
        return Limits()
    connections = max(1, min(MAX_CONNECTIONS, (nofile - FD_RESERVE) // 4))
    return Limits(connections=connections, per_uid=max(1, min(PER_UID, connections // 4)))


# -- descriptors ----------------------------------------------------------------------------------
def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard one; the (soft, hard) limits in force after.

    The soft limit (1024 under systemd) exists for programs whose select()
    breaks on descriptor 1024 and above. Raising it costs nothing until
    descriptors are used, and the control socket's cap keeps the daemon's
    count far below 1024 unless its own work needs more, when EMFILE would be
    the alternative.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and soft != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # a hard limit of infinity, above the kernel's nr_open
            pass
    return soft, hard


def free_descriptors() -> int | None:
    """Descriptors this process may still open: the soft RLIMIT_NOFILE less those open (None if uncounted).

    Listing /proc/self/fd costs microseconds for the few hundred descriptors
    the daemon holds, so it is done for every connection.
    """
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < 0 or soft == resource.RLIM_INFINITY:
        return None
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return soft - (len(os.listdir(folder)) - 1)  # less the listing's own descriptor
        except OSError:
            continue
    return None


# -- slots ------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Slot:
    """One admitted connection. ``waiting_since`` is when it began to wait for a request line (from its
    connection or its last answer); None while a request is answered, when it is never evicted."""

    uid: int | None
    conn: Any
    waiting_since: float | None
    evicted: bool = False


@dataclass(frozen=True, slots=True)
class Admission:
    """A connection let in (``slot``, and ``evicted``, the one closed to make room, if any) or refused."""

    slot: Slot | None
    refusal: str = ""
    evicted: Slot | None = None


class Slots:
    """The connections admitted, by uid; safe to use from the accepting thread and every connection's."""

    def __init__(self, limits: Limits, *, privileged: frozenset[int], clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        self.limits = limits
        self.privileged = privileged
        self.clock = clock
        self._open: list[Slot] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, uid: int | None, conn: Any, *, evict: Callable[[Slot], None]) -> Admission:
        """Let a new connection in, closing the longest-idle one to make room, or say why not.

        ``evict`` shuts the evicted slot's socket down; it is called under the
        lock, so the socket is not closed (and its number reused) meanwhile. An
        evicted slot is out of the books at once, and :meth:`start_request`
        refuses it from then on: its request, if one arrives, is never acted on.
        """
        with self._lock:
            now = self.clock()
            if uid not in self.privileged:
                held = sum(1 for s in self._open if s.uid == uid)
                if held >= self.limits.per_uid:
                    return Admission(None, f"uid {uid} already has {held} control connections open, the most one "
                                           "user may have; try again once one is closed")
            evicted = None
            if len(self._open) >= self.limits.connections:
                evicted = self._longest_idle(now)
                if evicted is None:
                    return Admission(None, f"the control socket is busy: {len(self._open)} connections are open, "
                                           "the most it takes; try again")
                self._evict(evicted, evict)
            slot = Slot(uid, conn, now)
            self._open.append(slot)
            return Admission(slot, evicted=evicted)

    def _longest_idle(self, now: float) -> Slot | None:
        limit = self.limits.evict_after
        idle = [s for s in self._open if s.waiting_since is not None and now - s.waiting_since >= limit]
        return min(idle, key=lambda s: s.waiting_since or 0.0, default=None)

    def start_request(self, slot: Slot) -> bool:
        """A request line arrived: False if the slot was evicted meanwhile (the line is then dropped)."""
        with self._lock:
            if slot.evicted:
                return False
            slot.waiting_since = None
            return True

    def end_request(self, slot: Slot) -> None:
        """The answer is sent: the next request line is due ``request_timeout`` from now."""
        with self._lock:
            slot.waiting_since = self.clock()

    def release(self, slot: Slot) -> None:
        """The connection is done with; call before closing its socket (an eviction may shut it down until then)."""
        with self._lock:
            if slot in self._open:
                self._open.remove(slot)

    def evict_waiting(self, evict: Callable[[Slot], None]) -> None:
        """Evict every slot waiting for a request line (the server stops; those being answered finish)."""
        with self._lock:
            for slot in [s for s in self._open if s.waiting_since is not None]:
                self._evict(slot, evict)

    def _evict(self, slot: Slot, evict: Callable[[Slot], None]) -> None:
        slot.evicted = True
        self._open.remove(slot)
        evict(slot)
