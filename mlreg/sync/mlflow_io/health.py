"""What MLflow's records alone do not show: webhooks the server can no longer read, and store objects that are gone.

Both are reported as `broken` items: `sync --check` fails on them, and so does a sync (it cannot mend them).
"""

from __future__ import annotations

from ..ops import Item
from ..uri import Target

WEBHOOKS = "/api/2.0/mlflow/webhooks"


def unreadable_webhooks(target: Target) -> list[Item]:
    """One item when the server answers its webhook list with a server error: MLflow encrypts each webhook's
    secret with MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY (a random key per process when unset), so a server
    restarted with another key can read none of them and delivers nothing. Only http(s) servers are asked."""
    if not target.uri.lower().startswith(("http://", "https://")):
        return []
    from .diagnose import probe

    answer = probe(target.uri, WEBHOOKS, {"max_results": 1000})
    if answer.status is None or answer.status < 500:
        return []  # no answer is the sync's own error to report; 404: an MLflow without webhooks
    return [
        Item(
            "webhook",
            "(every webhook)",
            "broken",
            f"the server cannot read its webhooks (HTTP {answer.status} on GET {WEBHOOKS}), so none fires: their "
            "secrets were encrypted with another MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY; restart the server with "
            "the key they were made with (set it fixed, kept like the other secrets), or re-create them",
        )
    ]


def missing_objects(wants: list) -> list[Item]:
    """One item per store-backed file of the versions in `wants` (WantModel) whose object is gone or has another
    size: checked through each record's own URI, a few at a time."""
    from ...core.records import Artifact
    from ...objects.uploads import check_stored

    found: list[tuple[str, Artifact]] = []
    for w in wants:
        for v in w.versions.values():
            for uri, rel in v.run.stored:
                size, sha = v.run.expect.get(rel, (-1, ""))
                found.append((v.ref, Artifact(sha256=sha, size=size, path=rel, uri=uri)))
    if not found:
        return []
    results = check_stored([a for _, a in found])
    out = []
    for (ref, a), (status, _) in zip(found, results, strict=True):
        if status != "ok":
            what = "no object there" if status == "missing" else "the object has another size"
            out.append(
                Item(
                    "store",
                    f"{ref}:{a.path}",
                    "broken",
                    f"{a.uri}: {what}; `models:/` cannot load this "
                    "version (restore the object from a copy; `mlreg verify` lists every one)",
                )
            )
    return out
