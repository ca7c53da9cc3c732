"""One sync at a time per registry and server: a lease held in MLflow itself.

The lease is a registered model named `mlreg-sync-lease.<registry id>` whose tag `mlreg.lease` names the holder
(host, pid, start, expiry). MLflow creates a registered model only when the name is free (a unique key in its
database), so creating it is the compare-and-set: one sync wins, the others wait. The holder renews the expiry
while it works and deletes the model when it ends. A holder that died stops renewing: once its expiry has
passed (by the holder's clock, or after a whole TTL without a renewal by the waiter's own clock, whichever
comes first), a waiter takes the lease over by renaming the stale model away (a rename, too, succeeds for one
caller only), checking it renamed the stale holder's model, and deleting it.

A holder that died on this very machine need not be waited for: its tag `mlreg.lease.process` records the
kernel's boot id, its PID namespace, its user, pid and process start time. A waiter that shares the first
three and finds no process with that pid and start time (it ended; a pid used again has another start)
takes the lease over at once; so does a sync in the holder's own process (a notebook's rerun) once the sync
that took the lease has ended. Anything less certain (another host or container, another user, a holder that
recorded no process, a system without /proc) waits for the expiry as before. The record is a tag of its own
so that an mlreg without this reads the lease as it always did.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

from ...errors import MlregError

PREFIX = "mlreg-sync-lease."
TAG = "mlreg.lease"
PROCESS_TAG = "mlreg.lease.process"  # "boot-id pid-namespace uid pid start-ticks" of the holder (Linux)
TTL = 120.0  # seconds a lease lives without a renewal
WAIT = 300.0  # seconds a second sync waits for the lease by default
POLL = 1.0


@dataclass
class Holder:
    """Who holds the lease: shown to whoever waits for it."""

    token: str
    host: str
    pid: int
    started: str  # ISO 8601, UTC
    expires: float  # seconds since the epoch (the holder's clock)
    beat: int = 0  # renewals so far
    process: str = ""  # PROCESS_TAG's value: kept in a tag of its own, never in TAG's JSON

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, started at {self.started}"

    def to_tag(self) -> str:
        doc = asdict(self)
        del doc["process"]
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Holder | None:
        try:
            doc = json.loads(tags.get(TAG) or "null")
            known = {f.name for f in fields(cls)} - {"process"}  # fields a newer mlreg adds are left aside
            return cls(**{k: v for k, v in doc.items() if k in known}, process=tags.get(PROCESS_TAG) or "")
        except (TypeError, ValueError, AttributeError):
            return None

    def gone(self) -> bool:
        """True only when this holder ran on this machine, in this PID namespace, as this user, and its
        process has ended (or its pid now names a process started later)."""
        recorded = self.process.split(" ")
        here = _here()
        if here is None or len(recorded) != 5 or self.host != socket.gethostname() or recorded[3] != str(self.pid):
            return False
        if recorded[:3] != [*here, str(os.getuid())]:
            return False
        if self.pid == os.getpid() and recorded[4] == _start_ticks(self.pid):
            return self.token not in _HELD  # this process's: left by a sync of it that has ended (a notebook's)
        return _start_ticks(self.pid) != recorded[4]


_HELD: set[str] = set()  # tokens of the leases this process holds now


def _here() -> tuple[str, str] | None:
    """(boot id, PID namespace) of this process, None where the system does not say (not Linux)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        return boot, os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _start_ticks(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat's 22nd field); None when there is
    no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return "unknown"  # there, but unreadable: taken as alive
    fields_after_name = stat.rsplit(")", 1)[-1].split()  # the name, in parentheses, may hold spaces
    return fields_after_name[19] if len(fields_after_name) > 19 else "unknown"


def _process_record() -> str:
    """PROCESS_TAG's value for this process, or "" where the system does not say."""
    here, start = _here(), _start_ticks(os.getpid())
    if here is None or start in (None, "unknown"):
        return ""
    return f"{here[0]} {here[1]} {os.getuid()} {os.getpid()} {start}"


def lease_name(registry_id: str) -> str:
    return PREFIX + (registry_id or "unnamed")


@contextmanager
def held(
    registry,
    registry_id: str,
    shown: str,
    wait: float = WAIT,
    ttl: float = TTL,
    on_wait: Callable[[Holder], None] | None = None,
) -> Iterator[Lease]:
    """Hold this registry's sync lease on the server (`registry`: MLflow's registry client) for the block."""
    lease = Lease(registry, lease_name(registry_id), ttl)
    lease.acquire(wait, shown, on_wait)
    try:
        yield lease
    finally:
        lease.release()


class Lease:
    """The lease of one registry on one server (see the module docstring)."""

    def __init__(self, registry, name: str, ttl: float):
        self.registry, self.name, self.ttl = registry, name, ttl
        self.me = Holder(
            secrets.token_hex(8),
            socket.gethostname(),
            os.getpid(),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            0.0,
            process=_process_record(),
        )
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- acquire ---------------------------------------------------------------------------------
    def acquire(self, wait: float, shown: str, on_wait: Callable[[Holder], None] | None) -> None:
        deadline, told = time.monotonic() + wait, False
        seen: dict[tuple, float] = {}  # (holder's token, its last beat) -> when this sync first saw it
        while True:
            self.me.expires = time.time() + self.ttl
            _HELD.add(self.me.token)  # before the create: another thread of this process never sees it unheld
            created = False
            try:
                created = self._create()
            finally:
                if not created:
                    _HELD.discard(self.me.token)
            if created:
                self._thread = threading.Thread(target=self._renew, name="mlreg-lease", daemon=True)
                self._thread.start()
                return
            other = self._read(self.name)
            if other is None:
                continue  # released between our create and our read: try again at once
            first = seen.setdefault((other.token, other.beat), time.monotonic())
            if other.expires < time.time() or time.monotonic() - first > self.ttl or other.gone():
                self._take_over(other)
                continue
            if time.monotonic() >= deadline:
                waited = f"; waited {wait:g} s" if wait else ""
                raise MlregError(
                    f"another mlreg sync of this registry is running on {shown} ({other.describe()}; its lease "
                    f"expires in {max(0, other.expires - time.time()):.0f} s unless renewed){waited}. Rerun when it "
                    "has finished, or pass --wait SECONDS to wait longer"
                )
            if on_wait is not None and not told:
                on_wait(other)
                told = True
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))  # polling the server, not ordering

    def _create(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.registry.create_registered_model(
                self.name,
                {TAG: self.me.to_tag(), **({PROCESS_TAG: self.me.process} if self.me.process else {})},
                "mlreg sync holds this while it writes (one sync at a time); deleted when it ends",
            )
            return True
        except MlflowException as e:
            if e.error_code == "RESOURCE_ALREADY_EXISTS":
                return False
            raise

    def _read(self, name: str) -> Holder | None:
        from mlflow.exceptions import MlflowException

        try:
            rm = self.registry.get_registered_model(name)
        except MlflowException as e:
            if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                return None
            raise
        return Holder.from_tags(dict(rm.tags)) or Holder("", "unknown", 0, "unknown", 0.0)

    def _take_over(self, stale: Holder) -> None:
        """Move the stale lease out of the way; put it back if what moved was someone's fresh lease."""
        from mlflow.exceptions import MlflowException

        aside = f"{self.name}.stale.{self.me.token}"
        try:
            self.registry.rename_registered_model(self.name, aside)
        except MlflowException as e:
            if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                return  # someone else moved it first
            raise
        moved = self._read(aside)
        if moved is not None and moved.token != stale.token:  # a fresh lease made after we looked: give it back
            try:
                self.registry.rename_registered_model(aside, self.name)
                return
            except MlflowException:
                pass
        self._delete(aside)

    # -- while held ------------------------------------------------------------------------------
    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                now = self._read(self.name)
                if now is None or now.token != self.me.token:
                    self.lost = True
                    return
                self.me.beat += 1
                self.me.expires = time.time() + self.ttl
                self.registry.set_registered_model_tag(self.name, TAG, self.me.to_tag())
            except Exception:  # noqa: BLE001 - a failed renewal is retried; the sync's own calls report it
                continue

    def check(self) -> None:
        """Raise when another sync took the lease over (this one stopped renewing for a whole TTL)."""
        if self.lost:
            raise MlregError(f"this sync lost its lease ({self.name}) to another sync; rerun `mlreg sync`")

    # -- release ---------------------------------------------------------------------------------
    def release(self) -> None:
        """Delete the lease if it is still ours; when the server cannot be reached it expires by itself (or is
        taken at once by the next sync on this machine: this process no longer holds it)."""
        _HELD.discard(self.me.token)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            now = self._read(self.name)
            if now is not None and now.token == self.me.token:
                self._delete(self.name)
        except Exception:  # noqa: BLE001 - the sync's own error (if any) is the one to report
            pass

    def _delete(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.registry.delete_registered_model(name)
        except MlflowException as e:
            if e.error_code not in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                raise
