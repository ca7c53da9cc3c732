"""sync's bulk reads from an MLflow tracking server's REST API with urllib, without importing MLflow.

The requests are the ones MLflow's client sends for the same questions (the same endpoints, filters and page
sizes: see collect.py), their JSON read as MLflow's client reads it (proto defaults for absent fields, NaN and
Infinity metrics). Credentials as MLflow's client takes them: MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME /
PASSWORD (or ~/.mlflow/credentials, or user:password in the URI), MLFLOW_TRACKING_INSECURE_TLS,
MLFLOW_TRACKING_SERVER_CERT_PATH. Any answer other than a plain 200, and any setting this reader does not
reproduce (a client certificate, AWS SigV4, an auth plugin, a workspace), raises Unanswerable: MLflow's client
then asks again, and reports the failure in its words.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlsplit

from .actual import HaveModel, HaveRun, HaveVersion
from .collect import (
    IDS_PER_QUERY,
    NAMES_PER_QUERY,
    Unanswerable,
    chunks,
    ids_filter,
    legacy_filter,
    names_filter,
    registry_filter,
    sync_filter,
)
from .http import auth_header, base_url, tls_context

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
WEBHOOKS = f"{API}/webhooks"
_UNSUPPORTED = (
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_AWS_SIGV4",
    "MLFLOW_TRACKING_AUTH",
    "MLFLOW_WORKSPACE",
)


class RestSource:
    """collect.Source over one tracking server's REST API."""

    def __init__(self, uri: str, timeout: float | None = None):
        for name in _UNSUPPORTED:
            if os.environ.get(name, "").strip() and os.environ.get(name, "").strip().lower() not in ("false", "0"):
                raise Unanswerable(f"{name} is set")
        self.base, parts = base_url(uri)
        self.path = parts.path
        self.timeout = timeout or float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or 10)  # sync's own default
        self.headers = {"Accept": "application/json", **auth_header(parts)}
        self.context = tls_context()
        self.workers = 4

    def close(self) -> None:
        pass

    # -- HTTP ------------------------------------------------------------------------------------
    def status(self, endpoint: str, params: dict[str, Any], timeout: float) -> int | None:
        """The HTTP status of one GET (None: no answer)."""
        try:
            with self._open("GET", self.base + endpoint + "?" + urlencode(params), None, timeout) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            e.close()
            return e.code
        except (OSError, ValueError):
            return None

    def call(self, method: str, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        """One request (GET: `params` in the query; POST: as the JSON body); its JSON answer."""
        url = self.base + endpoint
        body = None
        if method == "GET":
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        else:
            body = json.dumps({k: v for k, v in params.items() if v is not None}).encode()
        try:
            with self._open(method, url, body, self.timeout) as resp:
                if resp.status != 200:
                    raise Unanswerable(f"HTTP {resp.status} from {endpoint}")
                doc = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            e.close()
            raise Unanswerable(f"HTTP {e.code} from {endpoint}") from None
        except (OSError, ValueError) as e:  # no answer, a broken connection, not JSON
            raise Unanswerable(f"{endpoint}: {e}") from None
        if not isinstance(doc, dict):
            raise Unanswerable(f"{endpoint}: not a JSON object")
        return doc

    def _open(self, method: str, url: str, body: bytes | None, timeout: float):
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, body, headers, method=method)
        return urllib.request.urlopen(request, timeout=timeout, context=self.context)

    def pages(self, method: str, endpoint: str, params: dict[str, Any], key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token = None
        while True:
            doc = self.call(method, endpoint, params | {"page_token": token})
            out += _list(doc, key)
            token = doc.get("next_page_token") or None
            if not token:
                return out

    # -- the questions of collect.Source ---------------------------------------------------------
    def models_named(self, names: list[str]) -> list[HaveModel]:
        return [
            _model(rm, aliases=True)
            for chunk in chunks(names, NAMES_PER_QUERY)
            for rm in self._search_models(names_filter(chunk))
        ]

    def registry_models(self, registry_id: str) -> list[HaveModel]:
        return [_model(rm, aliases=False) for rm in self._search_models(registry_filter(registry_id))]

    def _search_models(self, where: str) -> list[dict[str, Any]]:
        params = {"filter": where, "max_results": 1000}
        return self.pages("GET", f"{API}/registered-models/search", params, "registered_models")

    def versions_of(self, names: list[str]) -> list[tuple[str, HaveVersion]]:
        out = []
        for chunk in chunks(names, NAMES_PER_QUERY):
            params = {"filter": names_filter(chunk), "max_results": 10000}
            for mv in self.pages("GET", f"{API}/model-versions/search", params, "model_versions"):
                hv = HaveVersion(
                    int(mv["version"]),
                    mv.get("run_id") or None,
                    mv.get("source") or "",
                    mv.get("description") or "",
                    _tags(mv),
                )
                out.append((str(mv["name"]), hv))
        return out

    def experiment_ids(self) -> list[str]:
        found = self.pages(
            "POST", f"{API}/experiments/search", {"max_results": 50000, "view_type": "ALL"}, "experiments"
        )
        return [str(e["experiment_id"]) for e in found]

    def _search_runs(self, experiment_ids: list[str], where: str) -> list[HaveRun]:
        params = {"experiment_ids": experiment_ids, "run_view_type": "ALL", "filter": where, "max_results": 50000}
        return [_run(r) for r in self.pages("POST", f"{API}/runs/search", params, "runs")]

    def sync_runs(self, experiment_ids: list[str], pattern: str) -> list[HaveRun]:
        return self._search_runs(experiment_ids, sync_filter(pattern))

    def legacy_runs(self, experiment_ids: list[str], scope: list[str], registry_id: str) -> list[HaveRun]:
        return self._search_runs(experiment_ids, legacy_filter(scope, registry_id))

    def runs_by_id(self, experiment_ids: list[str], run_ids: list[str]) -> list[HaveRun]:
        return [
            r for chunk in chunks(run_ids, IDS_PER_QUERY) for r in self._search_runs(experiment_ids, ids_filter(chunk))
        ]

    def get_run(self, run_id: str) -> HaveRun | None:
        try:
            with self._open(
                "GET", f"{self.base}{API}/runs/get?" + urlencode({"run_id": run_id}), None, self.timeout
            ) as r:
                doc = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            code = _error_code(e)
            if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                return None
            raise Unanswerable(f"HTTP {e.code} from runs/get") from None
        except (OSError, ValueError) as e:
            raise Unanswerable(f"runs/get: {e}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("run"), dict):
            raise Unanswerable("runs/get: no run in the answer")
        return _run(doc["run"])

    def list_files(self, runs: list[HaveRun]) -> None:
        """Each run's files, listed through the server's artifact proxy (`mlflow-artifacts:/` locations only)."""
        roots = [(run, self._artifact_root(run.artifact_uri)) for run in runs]

        def walk(item: tuple[HaveRun, str]) -> None:
            run, root = item
            files: dict[str, int | None] = {}
            folders: list[str | None] = [None]
            while folders:
                for path, is_dir, size in self._list(root, folders.pop()):
                    if is_dir:
                        folders.append(path)
                    else:
                        files[path] = size
            run.files = files

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="mlreg-list") as pool:
            list(pool.map(walk, roots))

    def _artifact_root(self, uri: str | None) -> str:
        """The path the artifact proxy lists for a run's `mlflow-artifacts:/...` location (as MLflow resolves it)."""
        parts = urlsplit(uri or "")
        if parts.scheme != "mlflow-artifacts" or parts.netloc or parts.query or parts.path in ("", "/", ARTIFACTS):
            raise Unanswerable(f"artifact location {uri!r} is not a run folder on this server's artifact proxy")
        resolved = re.sub(r"//+", "/", f"{self.path}/{ARTIFACTS}/{parts.path}").rstrip("/")
        return resolved.split("/mlflow-artifacts/artifacts", 1)[1].lstrip("/")

    def _list(self, root: str, path: str | None) -> list[tuple[str, bool, int | None]]:
        """One folder's entries (path, is folder, size), as MLflow's HTTP artifact repository lists them."""
        doc = self.call("GET", ARTIFACTS, {"path": posixpath.join(root, path) if path else root})
        out = []
        for f in _list(doc, "files"):
            rel = str(f["path"])
            if rel.startswith("/") or ".." in rel.split("/"):
                raise Unanswerable(f"unsafe artifact path {rel!r}")
            size = int(f["file_size"]) if "file_size" in f else None
            out.append((posixpath.join(path, rel) if path else rel, bool(f.get("is_dir")), size))
        if (
            len(out) == 1
            and not out[0][1]
            and path is not None
            and out[0][0] == posixpath.join(path, posixpath.basename(path))
        ):
            return []  # the path names a single file
        return sorted(out)


def _list(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = doc.get(key, [])
    if not isinstance(found, list) or not all(isinstance(x, dict) for x in found):
        raise Unanswerable(f"{key}: not a list of objects")
    return found


def _tags(doc: dict[str, Any], key: str = "tags") -> dict[str, str]:
    return {str(t["key"]): t.get("value", "") for t in _list(doc, key)}


def _model(rm: dict[str, Any], aliases: bool) -> HaveModel:
    have = HaveModel(str(rm["name"]), rm.get("description") or "", _tags(rm))
    if aliases:
        have.aliases = {str(a["alias"]): int(a["version"]) for a in _list(rm, "aliases")}
    return have


def _run(doc: dict[str, Any]) -> HaveRun:
    info, data = doc.get("info"), doc.get("data") or {}
    if not isinstance(info, dict) or not isinstance(data, dict) or "status" not in info:
        raise Unanswerable("a run without info")
    return HaveRun(
        str(info.get("run_id") or info.get("run_uuid") or ""),
        str(info.get("experiment_id", "")),
        str(info["status"]),
        info.get("lifecycle_stage") == "deleted",
        info.get("artifact_uri", ""),
        {str(p["key"]): p.get("value", "") for p in _list(data, "params")},
        {str(m["key"]): float(m.get("value", 0.0)) for m in _list(data, "metrics")},
        _tags(data),
    )


def _error_code(e: urllib.error.HTTPError) -> str | None:
    try:
        doc = json.loads(e.read() or b"{}")
    except (OSError, ValueError):
        return None
    finally:
        e.close()
    return doc.get("error_code") if isinstance(doc, dict) else None
