"""A loopback stand-in for the Hugging Face Hub, so that uploads and `from_pretrained(repo_id)` can be tested offline.

No open-source Hub server accepts uploads, and the public Hub cannot be reached from CI. `HubTestServer` speaks the
HTTP endpoints that huggingface_hub 2.x calls for `create_repo`, `upload_folder` / `create_commit` (regular, non-LFS
uploads only), `model_info` / `repo_info`, `list_repo_tree`, `list_repo_refs`, `list_repo_commits` and
`hf_hub_download` (which `transformers` and `ModelCard.load` use), with the request and response shapes read from
huggingface_hub 2.4.0's `hf_api.py`, `_commit_api.py`, `file_download.py` and `utils/_http.py`. Point a client at it
with `HF_ENDPOINT=server.url` set before huggingface_hub is imported, plus `HF_HUB_DISABLE_XET=1` (the server has no
Xet storage) and any token (`HF_TOKEN=dummy`): writes need a bearer token, whatever its value.

Repositories live in memory as git-like histories: every commit has a sha, a parent and a full snapshot of the files;
branches (only `main` unless seeded otherwise) point at commits, and any revision may be a branch name or a full
commit sha, so a pinned `revision=<sha>` keeps resolving to the old content after later pushes. Errors carry the
`X-Error-Code` headers (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`) that huggingface_hub turns into
`RepositoryNotFoundError`, `RevisionNotFoundError` and `RemoteEntryNotFoundError`.

Not implemented, on purpose: LFS and Xet uploads (preupload always answers `uploadMode: regular`), pull requests
(`create_pr`), `.gitignore` matching at preupload, `cardData` parsing of README front matter (it would need PyYAML;
clients read the README themselves), pagination (every listing fits in one page), HTTP ranges. Requests to routes it
does not know are answered 404 and listed in `server.unhandled`, so a test can tell "the client asked for something
new" apart from "the file is missing".

Standard library only, so it runs wherever the tests run.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO_TYPES = ("model", "dataset", "space")
# URL prefix of a repo's web pages and `resolve` routes: models have none, as on huggingface.co.
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
# What the Hub puts in a new repo's first commit; keeps `model_info().sha` defined before the first upload.
INITIAL_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha(data: bytes) -> str:
    """Git's object id of a blob: what the Hub returns as a regular file's oid and ETag, and what huggingface_hub
    compares with the local file's (`CommitOperationAdd._local_oid`) to skip unchanged files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    date: str
    files: dict[str, bytes]  # full snapshot: path in repo -> content
    added: list[str] = field(default_factory=list)  # what this commit's operations touched, for assertions
    deleted: list[str] = field(default_factory=list)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        """A branch name or a full commit sha (the only revisions huggingface_hub pins to)."""
        oid = self.branches.get(revision, revision)
        return self.commits.get(oid)


class _HubError(Exception):
    """An error answer: status, the `X-Error-Code` huggingface_hub maps to an exception class, and a message."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.body = {"error": message, **(body or {})}


class HubTestServer:
    """An in-memory Hub on `http://127.0.0.1:<free port>`, served from a background thread.

    Use as a context manager (or `start()` / `stop()`). Inspect what clients did with `repo_exists`, `files`,
    `commits`, `head`, `requests` and `unhandled`; put content there without a client with `seed`.
    """

    def __init__(self, user: str = "test-user"):
        self.user = user
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every request answered
        self.unhandled: list[tuple[str, str]] = []  # routes this server does not implement
        self.lock = threading.RLock()
        self._counter = itertools.count()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------------------------------
    def start(self) -> HubTestServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="HubTestServer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = self._thread = None

    def __enter__(self) -> HubTestServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The value for `HF_ENDPOINT` (no trailing slash, as huggingface_hub expects)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- inspection and seeding (no HTTP) -----------------------------------------------------------------------------
    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        return (repo_type, repo_id) in self.repos

    def head(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> str:
        """The commit sha a branch (or sha) points at."""
        return self.repos[(repo_type, repo_id)].resolve(revision).oid

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        """The repo's files at a revision: path in repo -> content."""
        with self.lock:
            return dict(self.repos[(repo_type, repo_id)].resolve(revision).files)

    def commits(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[Commit]:
        """The history reachable from a revision, newest first (the first entry is the repo's creation)."""
        with self.lock:
            repo = self.repos[(repo_type, repo_id)]
            history, commit = [], repo.resolve(revision)
            while commit is not None:
                history.append(commit)
                commit = repo.commits.get(commit.parent) if commit.parent else None
            return history

    def seed(self, repo_id: str, files: dict[str, bytes], message: str = "Seed", repo_type: str = "model",
             branch: str = "main", private: bool = False) -> str:
        """Create the repo if needed and commit `files` on top of `branch` directly; returns the commit sha."""
        with self.lock:
            repo = self.repos.get((repo_type, repo_id)) or self._create_repo(repo_type, repo_id, private)
            parent = repo.resolve(branch) or repo.resolve("main")
            snapshot = {**parent.files, **files}
            return self._commit(repo, branch, parent.oid, snapshot, message, "", sorted(files), []).oid

    # -- state changes (callers hold the lock) ------------------------------------------------------------------------
    def _create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_type, repo_id, private, _now())
        self.repos[(repo_type, repo_id)] = repo
        self._commit(repo, "main", None, {".gitattributes": INITIAL_GITATTRIBUTES}, "initial commit", "",
                     [".gitattributes"], [])
        return repo

    def _commit(self, repo: Repo, branch: str, parent: str | None, files: dict[str, bytes], title: str,
                description: str, added: list[str], deleted: list[str]) -> Commit:
        digest = hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}\n{parent}\n{next(self._counter)}\n{title}\n".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{git_blob_sha(files[path])}\n".encode())
        commit = Commit(digest.hexdigest(), parent, title, description, _now(), files, added, deleted)
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit


def _tree_oid(entries: list[dict]) -> str:
    return hashlib.sha1(json.dumps(sorted((e["path"], e["oid"]) for e in entries)).encode()).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    """One request: route it, answer JSON or bytes with an exact Content-Length (HTTP/1.1 keep-alive, which httpx
    uses), and turn `_HubError` into the Hub's error headers."""

    protocol_version = "HTTP/1.1"
    server_version = "HubTestServer/1.0"

    @property
    def hub(self) -> HubTestServer:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # the request list is the log; stderr noise would only clutter pytest's output

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # -- plumbing -----------------------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        self.query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        body = self._read_body()
        try:
            with self.hub.lock:
                status, payload, headers = self._route(method, split.path.strip("/").split("/"), body)
        except _HubError as error:
            headers = {"X-Error-Message": error.message, **error.headers}
            if error.code:
                headers["X-Error-Code"] = error.code
            status, payload = error.status, error.body
        except Exception as error:  # a server bug: answer 500 so that the client fails loudly, not hangs
            status, payload, headers = 500, {"error": f"HubTestServer: {type(error).__name__}: {error}"}, {}
        self._send(method, status, payload, headers)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, method: str, status: int, payload, headers: dict) -> None:
        # Logged before answering: once a client has its answer, the request is in the list.
        self.hub.requests.append((method, urlsplit(self.path).path, status))
        if isinstance(payload, (bytes, bytearray)):
            data, content_type = bytes(payload), "application/octet-stream"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def _token(self) -> str | None:
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            return None
        return authorization[len("Bearer "):].strip() or None

    def _require_token(self) -> None:
        if self._token() is None:
            raise _HubError(401, "Invalid credentials in Authorization header")

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and self._token() is None):
            raise _HubError(404, f"Repository not found: {repo_id}", "RepoNotFound")
        return repo

    def _commit_at(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _json(self, body: bytes) -> dict:
        try:
            return json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            raise _HubError(400, f"Invalid JSON body: {error}") from error

    # -- routes -------------------------------------------------------------------------------------------------------
    def _route(self, method: str, parts: list[str], body: bytes):
        if parts[:1] == ["api"]:
            return self._route_api(method, parts[1:], body)
        # File downloads: /{ns}/{name}/resolve/{rev}/{path} (models), /datasets/... and /spaces/... for the others.
        repo_type = "model"
        if parts[0] in ("datasets", "spaces") and len(parts) > 1:
            repo_type, parts = parts[0][:-1], parts[1:]
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            path = unquote("/".join(parts[4:]))
            return self._resolve(repo_type, f"{unquote(parts[0])}/{unquote(parts[1])}", unquote(parts[3]), path)
        return self._unhandled(method)

    def _route_api(self, method: str, parts: list[str], body: bytes):
        if parts == ["whoami-v2"] and method == "GET":
            self._require_token()
            return 200, {"type": "user", "name": self.hub.user, "fullname": "Test User", "orgs": [],
                         "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}}, {}
        if parts == ["repos", "create"] and method == "POST":
            return self._create_repo(self._json(body))
        if parts == ["validate-yaml"] and method == "POST":
            return self._validate_yaml(self._json(body))
        if len(parts) < 3 or parts[0].rstrip("s") not in REPO_TYPES or not parts[0].endswith("s"):
            return self._unhandled(method)
        repo_type, repo_id, rest = parts[0][:-1], f"{unquote(parts[1])}/{unquote(parts[2])}", parts[3:]
        if method == "GET" and not rest:
            return self._info(repo_type, repo_id, "main")
        if method == "GET" and rest[0] == "revision" and len(rest) == 2:
            return self._info(repo_type, repo_id, unquote(rest[1]))
        if method == "GET" and rest[0] == "tree" and len(rest) >= 2:
            return self._tree(repo_type, repo_id, unquote(rest[1]), unquote("/".join(rest[2:])))
        if method == "GET" and rest == ["refs"]:
            return self._refs(repo_type, repo_id)
        if method == "GET" and rest[0] == "commits" and len(rest) == 2:
            return self._list_commits(repo_type, repo_id, unquote(rest[1]))
        if method == "POST" and rest[0] == "preupload" and len(rest) == 2:
            return self._preupload(repo_type, repo_id, unquote(rest[1]), self._json(body))
        if method == "POST" and rest[0] == "commit" and len(rest) == 2:
            return self._create_commit(repo_type, repo_id, unquote(rest[1]), body)
        return self._unhandled(method)

    def _unhandled(self, method: str):
        self.hub.unhandled.append((method, self.path))
        raise _HubError(404, f"HubTestServer does not implement {method} {urlsplit(self.path).path}")

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.hub.url}/{URL_PREFIXES[repo.repo_type]}{repo.repo_id}"

    def _create_repo(self, payload: dict):
        """`HfApi.create_repo`: {name, organization, visibility?, type?} -> {url}; 409 when it exists (the client
        accepts that with `exist_ok=True`, and then reads `url` from the error body)."""
        self._require_token()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES or not payload.get("name"):
            raise _HubError(400, f"Invalid repo type or name: {payload}")
        repo_id = f"{payload.get('organization') or self.hub.user}/{payload['name']}"
        private = payload.get("visibility", "public") != "public" or bool(payload.get("private"))
        existing = self.hub.repos.get((repo_type, repo_id))
        if existing is not None:
            raise _HubError(409, f"You already created this {repo_type} repo", body={"url": self._repo_url(existing)})
        repo = self.hub._create_repo(repo_type, repo_id, private)
        return 200, {"url": self._repo_url(repo), "name": repo_id, "id": repo_id}, {}

    def _validate_yaml(self, payload: dict):
        """`create_commit` posts a README.md here before uploading. Without PyYAML only the front matter's fences
        are checked: an opened but unclosed `---` block is the error the Hub would report too."""
        content = payload.get("content", "")
        if content.startswith("---") and "\n---" not in content[3:]:
            return 400, {"errors": [{"message": "The YAML front matter is not closed by '---'"}]}, {}
        warnings = [] if content.startswith("---") else [{"message": "Empty or missing yaml metadata in repo card"}]
        return 200, {"errors": [], "warnings": warnings}, {}

    def _info(self, repo_type: str, repo_id: str, revision: str):
        """`model_info` / `repo_info`: the fields `ModelInfo` reads, siblings with sizes and blob ids when asked."""
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        with_blobs = self.query.get("blobs", "").lower() in ("1", "true")
        siblings = [
            {"rfilename": path, **({"size": len(data), "blobId": git_blob_sha(data)} if with_blobs else {})}
            for path, data in sorted(commit.files.items())
        ]
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "author": repo_id.split("/")[0],
            "sha": commit.oid, "lastModified": commit.date, "createdAt": repo.created_at, "private": repo.private,
            "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
            "usedStorage": sum(len(data) for data in commit.files.values()),
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        return 200, info, {}

    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str):
        """`list_repo_tree` / `list_repo_files`: entries under `path`, files and folders, recursive on request."""
        commit = self._commit_at(self._repo(repo_type, repo_id), revision)
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        if prefix and not any(name.startswith(prefix) for name in commit.files):
            raise _HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        files, folders = [], {}
        for name, data in sorted(commit.files.items()):
            if not name.startswith(prefix):
                continue
            relative = name[len(prefix):].split("/")
            for depth in range(1, len(relative)):
                folder = prefix + "/".join(relative[:depth])
                if recursive or depth == 1:
                    folders.setdefault(folder, [])
                folders.get(folder, []).append({"path": name, "oid": git_blob_sha(data)})
            if recursive or len(relative) == 1:
                files.append({"type": "file", "oid": git_blob_sha(data), "size": len(data), "path": name})
        entries = [{"type": "directory", "oid": _tree_oid(content), "size": 0, "path": folder}
                   for folder, content in sorted(folders.items())]
        return 200, entries + files, {}

    def _refs(self, repo_type: str, repo_id: str):
        repo = self._repo(repo_type, repo_id)
        branches = [{"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
                    for name, oid in sorted(repo.branches.items())]
        return 200, {"branches": branches, "converts": [], "tags": []}, {}

    def _list_commits(self, repo_type: str, repo_id: str, revision: str):
        self._commit_at(self._repo(repo_type, repo_id), revision)
        history = self.hub.commits(repo_id, revision, repo_type)
        return 200, [{"id": c.oid, "title": c.title, "message": c.description, "date": c.date,
                      "authors": [{"user": self.hub.user}]} for c in history], {}

    def _preupload(self, repo_type: str, repo_id: str, revision: str, payload: dict):
        """`_fetch_upload_modes`: every file is 'regular' (its bytes go base64 in the commit), never ignored; `oid`
        is the blob sha already at that path, so the client drops unchanged files from the commit as on the Hub."""
        self._require_token()
        commit = self._commit_at(self._repo(repo_type, repo_id), revision)
        if self.query.get("create_pr"):
            raise _HubError(400, "HubTestServer does not implement pull requests (create_pr)")
        files = []
        for item in payload.get("files", []):
            existing = commit.files.get(item["path"])
            files.append({"path": item["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": git_blob_sha(existing) if existing is not None else None})
        return 200, {"files": files, "commitOid": commit.oid}, {}

    def _create_commit(self, repo_type: str, repo_id: str, revision: str, body: bytes):
        """`_send_commit`: NDJSON lines `header` {summary, description, parentCommit?}, `file` {path, content,
        encoding}, `deletedFile` / `deletedFolder` {path}; commits on a branch (never on a bare sha, as on the Hub)
        and answers {commitOid, commitUrl, ...}."""
        self._require_token()
        repo = self._repo(repo_type, repo_id)
        if self.query.get("create_pr"):
            raise _HubError(400, "HubTestServer does not implement pull requests (create_pr)")
        if revision not in repo.branches:
            raise _HubError(404, f"Invalid rev id: {revision} is not a branch", "RevisionNotFound")
        head = repo.commits[repo.branches[revision]]
        try:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _HubError(400, f"Invalid NDJSON commit payload: {error}") from error
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        if header.get("parentCommit") and header["parentCommit"] != head.oid:
            raise _HubError(412, "A commit has happened since. Please refresh and try again.")
        files, added, deleted = dict(head.files), [], []
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = value.get("path", "")
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise _HubError(400, f"Invalid path in repo: {path!r}")
            if key == "file":
                content = value.get("content", "")
                files[path] = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                added.append(path)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise _HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                deleted.append(path)
            elif key == "deletedFolder":
                inside = [name for name in files if name.startswith(path.rstrip("/") + "/")]
                if not inside:
                    raise _HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                for name in inside:
                    del files[name]
                deleted.extend(inside)
            elif key == "lfsFile":
                raise _HubError(400, "HubTestServer does not store LFS objects (preupload answers 'regular')")
            else:
                raise _HubError(400, f"Unknown commit operation {key!r}")
        commit = self.hub._commit(repo, revision, head.oid, files, header.get("summary") or "Update",
                                  header.get("description") or "", added, deleted)
        commit_url = f"{self._repo_url(repo)}/commit/{commit.oid}"
        return 200, {"success": True, "commitOid": commit.oid, "commitUrl": commit_url, "hookOutput": "",
                     "pullRequestUrl": None}, {}

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str):
        """`hf_hub_download` / `get_hf_file_metadata`: HEAD and GET answer directly (no redirect), with
        `X-Repo-Commit` (required by the client), the blob sha as `ETag`, and the exact Content-Length. A missing
        file is `EntryNotFound` and still names the commit, which lets the client cache the file's absence."""
        commit = self._commit_at(self._repo(repo_type, repo_id), revision)
        data = commit.files.get(path)
        if data is None:
            raise _HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        return 200, data, {"X-Repo-Commit": commit.oid, "ETag": f'"{git_blob_sha(data)}"',
                           "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.split('/')[-1])}"}
