"""One sync at a time per registry and server: a lease held in MLflow itself.

The lease is a registered model named `mlreg-sync-lease.<registry id>` whose tag `mlreg.lease` names the holder
(host, pid, start, expiry). MLflow creates a registered model only when the name is free (a unique key in its
database), so creating it is the compare-and-set: one sync wins, the others wait. The holder renews the expiry
while it works and deletes the model when it ends. A holder that died stops renewing: once its expiry has
passed (by the holder's clock, or after a whole TTL without a renewal by the waiter's own clock, whichever
comes first), a waiter takes the lease over by renaming the stale model away (a rename, too, succeeds for one
caller only), checking it renamed the stale holder's model, and deleting it.
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
from dataclasses import asdict, dataclass

from ...errors import MlregError

PREFIX = "mlreg-sync-lease."
TAG = "mlreg.lease"
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

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, started at {self.started}"

    def to_tag(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Holder | None:
        try:
            return cls(**json.loads(tags.get(TAG) or "null"))
        except (TypeError, ValueError):
            return None


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
            if self._create():
                self._thread = threading.Thread(target=self._renew, name="mlreg-lease", daemon=True)
                self._thread.start()
                return
            other = self._read(self.name)
            if other is None:
                continue  # released between our create and our read: try again at once
            first = seen.setdefault((other.token, other.beat), time.monotonic())
            if other.expires < time.time() or time.monotonic() - first > self.ttl:
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
                {TAG: self.me.to_tag()},
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
        """Delete the lease if it is still ours; when the server cannot be reached it expires by itself."""
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
