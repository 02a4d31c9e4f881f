"""An iControl REST emulator: a real HTTPS server on 127.0.0.1 that f5-sdk and requests talk to unmodified.

It enforces, for the endpoints lbsync uses, what a BIG-IP enforces: the /mgmt/tm/sys/ version probe, token login
(/mgmt/shared/authn/login, X-F5-Auth-Token on every other request), ~Partition~name paths, `kind` and `selfLink`
in responses, 404 for missing objects, 409 `01020066:3: ... already exists` on duplicate creates, 400 for a
reference to a missing object or a delete of an object in use, unknown attributes rejected, chunked uploads with
Content-Range, `sys crypto` install, transactions (/mgmt/tm/transaction, X-F5-REST-Coordination-Id, queued writes,
atomic commit on PATCH {"state": "VALIDATING"}, any failing command rolls the whole transaction back), and the
AS3 declare endpoint with async tasks (schema-validated). For tests and benchmarks: fault injection (fail or drop
the Nth matching request, fail the Kth command of a commit), injected latency, and request counters.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .state import COLLECTIONS, VERSION, DeviceError, Op, Store, kind_of

DOWNLOADS = "/var/config/rest/downloads/"
MAX_CHUNK = 1024 * 1024
SCHEMA = Path(__file__).resolve().parent / "as3-schema-3.56.0.json"
_validator = None
_validator_lock = threading.Lock()


def as3_validator():
    global _validator
    with _validator_lock:
        if _validator is None:
            import jsonschema
            _validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
        return _validator


@dataclass
class Fault:
    method: str | None = None       # match this HTTP method (None: any, "WRITE": any but GET)
    path: str | None = None         # match when this regex is found in the path (None: any)
    in_transaction: bool | None = None  # match only requests with (True) / without (False) a coordination id
    nth: int = 1                    # trigger on the nth matching request
    times: int = 1                  # ... and on the times-1 matching requests after it (a retry fails too)
    action: str = "error"           # error | drop (close without answering) | drop_after (apply, then close)
    status: int = 500
    seen: int = 0
    fired: bool = False

    def matches(self, method: str, path: str, txid: str | None) -> bool:
        if self.fired:
            return False
        if self.method == "WRITE" and method == "GET":
            return False
        if self.method and self.method not in ("WRITE", method):
            return False
        if self.path and not re.search(self.path, path):
            return False
        if self.in_transaction is not None and self.in_transaction != bool(txid):
            return False
        self.seen += 1
        if self.nth <= self.seen < self.nth + self.times:
            self.fired = self.seen == self.nth + self.times - 1
            return True
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # handshake failures and dropped clients are expected
        pass


class Emulator:
    def __init__(self, users: dict[str, str] | None = None, partitions=("Common",), latency: float = 0.0,
                 as3_delay: float = 0.05):
        self._settings = (dict(users or {"admin": "admin-secret"}), tuple(partitions), latency, as3_delay)
        self.lock = threading.RLock()
        self._fresh()
        self._dir = None
        self._httpd = None
        self._thread = None
        self.ca_file: Path | None = None
        self.port: int | None = None
        self.host = "127.0.0.1"

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self, pki=None) -> "Emulator":
        import sys
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from pki import make_pki
        pki = pki or make_pki(["localhost"], ips=["127.0.0.1"])
        self._dir = Path(tempfile.mkdtemp(prefix="f5emu-"))
        files = pki.write(self._dir, stem="bigip")
        self.ca_file = files["ca"]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(files["fullchain"], files["key"])
        self._httpd = _Server((self.host, 0), _handler(self))
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _fresh(self) -> None:
        """The state of a device that has just been started: what __init__ sets, and what reset() sets again."""
        users, partitions, latency, as3_delay = self._settings
        self.users = dict(users)
        self.store = Store(partitions)
        self.latency = latency
        self.as3_delay = as3_delay
        self.tokens: dict[str, float] = {}
        self.transactions: dict[int, dict] = {}
        self.uploads: dict[str, bytearray] = {}
        self.tasks: dict[str, dict] = {}
        self.as3_tenants: dict[str, dict] = {}
        self.faults: list[Fault] = []
        self.commit_failures: list[int] = []
        self.counts: Counter = Counter()
        self.log: list[tuple[str, str, str | None]] = []
        self._ids = itertools.count(int(time.time()) % 100000 * 1000)

    def reset(self) -> "Emulator":
        """Back to the state of a newly started emulator (configuration, tokens, transactions, uploads, AS3
        tenants and tasks, faults, counters, log, latency, as3_delay), keeping the running server: its port and
        certificate. For tests that share one emulator instead of starting one each (tests/conftest.py)."""
        with self.lock:
            self._fresh()
        return self

    # -- test controls ------------------------------------------------------------------------------------------
    def inject(self, **kwargs) -> Fault:
        fault = Fault(**kwargs)
        self.faults.append(fault)
        return fault

    def fail_commit_command(self, k: int) -> None:
        """Make the kth queued command of the next commit fail on the device (1-based)."""
        self.commit_failures.append(k)

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.log.clear()

    @property
    def writes(self) -> int:
        return self.counts["writes"]

    @property
    def reads(self) -> int:
        return self.counts["reads"]

    def config(self) -> dict:
        """The configuration (every object of every collection): what a fault must leave unchanged."""
        with self.lock:
            return self.store.snapshot()

    def owned(self, prefix: str = "lbsync_") -> dict[str, set[str]]:
        with self.lock:
            return {c: {p for p, o in objs.items() if o["name"].startswith(prefix)}
                    for c, objs in self.store.objects.items()
                    if any(o["name"].startswith(prefix) for o in objs.values())}

    def new_token(self) -> str:
        token = uuid.uuid4().hex.upper()[:26]
        self.tokens[token] = time.time() + 1200
        return token


def _self_link(path: str) -> str:
    return f"https://localhost{path}?ver={VERSION}"


def _tilde(full: str) -> str:
    return full.replace("/", "~")


def _handler(emu: Emulator):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "f5emu"
        wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request)

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args):  # quiet
            pass

        # -- plumbing -------------------------------------------------------------------------------------------
        def _send(self, status: int, body: dict | None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"code": status, "message": message, "errorStack": [], "apiError": 3})

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _json(self, raw: bytes) -> dict:
            try:
                return json.loads(raw or b"{}")
            except ValueError:
                raise DeviceError(400, "Found invalid JSON body in the request.") from None

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def do_PATCH(self):
            self._dispatch("PATCH")

        def do_PUT(self):
            self._dispatch("PUT")

        def do_DELETE(self):
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            if emu.latency:
                time.sleep(emu.latency)
            url = urlsplit(self.path)
            path = unquote(url.path).rstrip("/")
            query = parse_qs(url.query)
            txid = self.headers.get("X-F5-REST-Coordination-Id")
            raw = self._body()
            with emu.lock:
                emu.counts[method] += 1
                is_auth = path == "/mgmt/shared/authn/login" or path.startswith("/mgmt/shared/authz/tokens/")
                emu.counts["auth" if is_auth else ("reads" if method == "GET" else "writes")] += 1
                emu.log.append((method, path, txid))
                fault = next((f for f in emu.faults if f.matches(method, path, txid)), None)
            if fault and fault.action == "drop":
                return self._drop()
            if fault and fault.action == "error":
                return self._error(fault.status, f"injected fault ({fault.status})")
            try:
                with emu.lock:
                    status, body = self._route(method, path, query, raw, txid)
            except DeviceError as exc:
                return self._error(exc.status, exc.message)
            if fault and fault.action == "drop_after":
                return self._drop()
            self._send(status, body)

        # -- routing --------------------------------------------------------------------------------------------
        def _route(self, method, path, query, raw, txid):
            if path == "/mgmt/shared/authn/login" and method == "POST":
                return self._login(self._json(raw))
            token = self.headers.get("X-F5-Auth-Token")
            if not token or emu.tokens.get(token, 0) < time.time():
                raise DeviceError(401, "X-F5-Auth-Token does not exist.")
            if path == "/mgmt/tm/sys" and method == "GET":
                return 200, {"kind": "tm:sys:syscollectionstate", "selfLink": _self_link("/mgmt/tm/sys"),
                             "items": [{"reference": {"link": _self_link("/mgmt/tm/sys/version")}}]}
            if path == "/mgmt/tm/sys/version" and method == "GET":
                return 200, {"kind": "tm:sys:version:versionstats", "selfLink": _self_link(path),
                             "entries": {"https://localhost/mgmt/tm/sys/version/0": {"nestedStats": {"entries": {
                                 "Product": {"description": "BIG-IP"}, "Version": {"description": VERSION}}}}}}
            if path.startswith("/mgmt/shared/authz/tokens/"):
                return self._token(method, path.rsplit("/", 1)[1])
            if path.startswith("/mgmt/shared/file-transfer/uploads/") and method == "POST":
                return self._upload(path.rsplit("/", 1)[1], raw)
            if path.startswith("/mgmt/shared/appsvcs/"):
                return self._as3(method, path, query, raw)
            if path.startswith("/mgmt/tm/transaction"):
                if txid:
                    raise DeviceError(400, "transaction requests cannot carry X-F5-REST-Coordination-Id")
                return self._transaction(method, path, self._json(raw) if method != "GET" else {})
            if path in ("/mgmt/tm/sys/crypto/cert", "/mgmt/tm/sys/crypto/key") and method == "POST":
                if txid:
                    raise DeviceError(400, "sys crypto install is not supported in a transaction")
                return self._install(path.rsplit("/", 1)[1], self._json(raw))
            if path == "/mgmt/tm/util/unix-rm" and method == "POST":
                if txid:
                    raise DeviceError(400, "util commands are not supported in a transaction")
                return self._unix_rm(self._json(raw))
            if path.startswith("/mgmt/tm/"):
                return self._config(method, path[len("/mgmt/tm/"):], query, raw, txid)
            raise DeviceError(404, f"URI path {path} not registered.")

        def _login(self, body):
            user, password = body.get("username"), body.get("password")
            if user not in emu.users or emu.users[user] != password:
                raise DeviceError(401, "Authentication failed.")
            token = emu.new_token()
            now = int(time.time() * 1_000_000)
            return 200, {"username": user, "loginProviderName": body.get("loginProviderName", "tmos"),
                         "token": {"token": token, "name": token, "userName": user, "timeout": 1200,
                                   "expirationMicros": now + 1200 * 1_000_000, "lastUpdateMicros": now,
                                   "selfLink": _self_link(f"/mgmt/shared/authz/tokens/{token}")},
                         "generation": 0, "lastUpdateMicros": now}

        def _token(self, method, token):
            if token not in emu.tokens:
                raise DeviceError(404, "token not found")
            if method == "DELETE":
                emu.tokens.pop(token)
            return 200, {"token": token, "kind": "shared:authz:tokens:authtokenitemstate",
                         "selfLink": _self_link(f"/mgmt/shared/authz/tokens/{token}")}

        # -- configuration objects ------------------------------------------------------------------------------
        def _split(self, rest: str) -> tuple[str, str | None]:
            for coll in sorted(COLLECTIONS, key=len, reverse=True):
                if rest == coll:
                    return coll, None
                if rest.startswith(coll + "/"):
                    ident = rest[len(coll) + 1:]
                    if not ident.startswith("~") or "/" in ident:
                        raise DeviceError(404, f"URI path /mgmt/tm/{rest} not registered.")
                    return coll, ident.replace("~", "/")
            raise DeviceError(404, f"URI path /mgmt/tm/{rest} not registered.")

        def _present(self, coll: str, obj: dict, expand: bool) -> dict:
            out = {"kind": kind_of(coll), **copy.deepcopy(obj)}
            link = f"/mgmt/tm/{coll}/{_tilde(obj['fullPath'])}"
            out["selfLink"] = _self_link(link)
            if coll == "ltm/virtual" and out.get("persist"):  # as a BIG-IP: name and partition, not a full path
                out["persist"] = [{"name": p["name"].rsplit("/", 1)[-1],
                                   "partition": p["name"].strip("/").split("/")[0] if p["name"].startswith("/")
                                   else obj["partition"], "tmDefault": p.get("tmDefault", "no")}
                                  for p in out["persist"]]
            for attr, sub in (("members", "members"), ("profiles", "profiles")):
                if attr in out and ((coll == "ltm/pool") if attr == "members" else (coll == "ltm/virtual")):
                    items = out.pop(attr)
                    ref = {"link": _self_link(f"{link}/{sub}"), "isSubcollection": True}
                    if expand:
                        ref["items"] = [self._subitem(coll, sub, i, obj["partition"]) for i in items]
                    out[f"{attr}Reference"] = ref
            return out

        @staticmethod
        def _subitem(coll, sub, item, partition):
            name, part = item["name"], partition
            if name.startswith("/"):
                part, name = name.strip("/").split("/", 1)
            # as a BIG-IP lists a pool member: with its session and state (a drain sets session user-disabled; the
            # monitor sets state), which lbsync neither sets nor compares
            runtime = {"session": "monitor-enabled", "state": "unchecked"} if sub == "members" else {}
            return {**runtime, **{k: v for k, v in item.items() if k != "name"}, "name": name, "partition": part,
                    "fullPath": f"/{part}/{name}", "kind": "tm:" + coll.replace("/", ":") + f":{sub}:{sub}state"}

        def _config(self, method, rest, query, raw, txid):
            coll, full = self._split(rest)
            if method == "GET":
                if txid:
                    raise DeviceError(400, "reads are not supported inside a transaction")
                expand = query.get("expandSubcollections", ["false"])[0] == "true"
                if full is None:
                    items = list(emu.store.objects[coll].values())
                    flt = query.get("$filter", [""])[0]
                    m = re.fullmatch(r"\s*partition\s+eq\s+(\S+)\s*", flt) if flt else None
                    if flt and not m:
                        raise DeviceError(400, f"Query parameter $filter={flt} is not supported.")
                    if m:
                        items = [o for o in items if o["partition"] == m.group(1)]
                    return 200, {"kind": kind_of(coll, "collectionstate"),
                                 "selfLink": _self_link(f"/mgmt/tm/{coll}"),
                                 "items": [self._present(coll, o, expand) for o in items]}
                return 200, self._present(coll, emu.store.get(coll, full), expand)
            if method == "POST" and full is not None:
                raise DeviceError(405, "POST to an object URI is not allowed; POST to its collection")
            if method != "POST" and full is None:
                raise DeviceError(405, f"{method} needs an object URI")
            body = self._json(raw) if method != "DELETE" else {}
            op = Op(method, coll, full, body)
            if txid:
                return self._queue(int(txid), op, rest)
            obj = emu.store.apply(op)
            if method == "DELETE":
                return 200, None
            return 200, self._present(coll, obj, False)

        # -- transactions ---------------------------------------------------------------------------------------
        def _queue(self, txid, op: Op, rest):
            tx = emu.transactions.get(txid)
            if tx is None:
                raise DeviceError(404, f"Transaction with id {txid} not found.")
            if tx["state"] != "STARTED":
                raise DeviceError(400, f"Transaction {txid} is in state {tx['state']}; no more commands.")
            if op.method != "DELETE" and not isinstance(op.body, dict):
                raise DeviceError(400, "Found invalid JSON body in the request.")
            tx["commands"].append(op)
            n = len(tx["commands"])
            return 200, {"kind": "tm:transaction:commandsstate", "transId": txid, "commandId": n, "evalOrder": n,
                         "method": op.method, "uri": f"https://localhost/mgmt/tm/{rest}", "body": op.body,
                         "selfLink": _self_link(f"/mgmt/tm/transaction/{txid}/commands/{n}")}

        def _tx_view(self, txid, tx):
            return {"kind": "tm:transactionstate", "transId": txid, "state": tx["state"],
                    "timeoutSeconds": 120, "asyncExecution": False, "validateOnly": False,
                    "executionTimeout": 300, "failureReason": tx.get("failure", ""),
                    "selfLink": _self_link(f"/mgmt/tm/transaction/{txid}")}

        def _transaction(self, method, path, body):
            parts = path.split("/")[4:]  # after /mgmt/tm/transaction
            if not parts:
                if method == "POST":
                    txid = next(emu._ids)
                    emu.transactions[txid] = {"state": "STARTED", "commands": []}
                    return 200, self._tx_view(txid, emu.transactions[txid])
                if method == "GET":
                    return 200, {"kind": "tm:transaction:transactioncollectionstate",
                                 "selfLink": _self_link("/mgmt/tm/transaction"),
                                 "items": [self._tx_view(t, x) for t, x in emu.transactions.items()]}
                raise DeviceError(405, "method not allowed")
            txid = int(parts[0])
            tx = emu.transactions.get(txid)
            if tx is None:
                raise DeviceError(404, f"Transaction with id {txid} not found.")
            if len(parts) > 1 and parts[1] == "commands" and method == "GET":
                return 200, {"kind": "tm:transaction:commandscollectionstate", "items": [
                    {"commandId": i + 1, "method": c.method, "body": c.body} for i, c in enumerate(tx["commands"])]}
            if method == "GET":
                return 200, self._tx_view(txid, tx)
            if method == "DELETE":
                emu.transactions.pop(txid)
                return 200, None
            if method == "PATCH":
                if body.get("state") != "VALIDATING":
                    raise DeviceError(400, "only state VALIDATING can be requested")
                if tx["state"] != "STARTED":
                    raise DeviceError(400, f"Transaction {txid} is in state {tx['state']}.")
                if not tx["commands"]:
                    raise DeviceError(400, "Transaction has no commands.")
                return self._commit(txid, tx, bool(body.get("validateOnly")))
            raise DeviceError(405, "method not allowed")

        def _commit(self, txid, tx, validate_only):
            saved = emu.store.snapshot()
            gen = emu.store.generation
            fail_at = emu.commit_failures.pop(0) if emu.commit_failures else None
            try:
                for i, op in enumerate(tx["commands"], start=1):
                    if i == fail_at:
                        raise DeviceError(400, f"01070734:3: Configuration error: injected failure of command {i}")
                    emu.store.apply(op)
            except DeviceError as exc:
                emu.store.objects, emu.store.generation = saved, gen
                tx["state"], tx["failure"] = "FAILED", exc.message
                raise DeviceError(400, f"transaction failed:{exc.message}") from None
            if validate_only:
                emu.store.objects, emu.store.generation = saved, gen
            tx["state"] = "COMPLETED"
            return 200, self._tx_view(txid, tx)

        # -- files and crypto -----------------------------------------------------------------------------------
        def _upload(self, name, raw):
            rng = self.headers.get("Content-Range")
            m = re.fullmatch(r"(\d+)-(\d+)/(\d+)", rng or "")
            if not m:
                raise DeviceError(400, "Content-Range header is required (start-end/total)")
            start, end, total = map(int, m.groups())
            if len(raw) > MAX_CHUNK:
                raise DeviceError(400, f"chunk larger than {MAX_CHUNK} bytes")
            if end - start + 1 != len(raw) or end >= total:
                raise DeviceError(400, f"Content-Range {rng} does not match a body of {len(raw)} bytes")
            buf = emu.uploads.setdefault(name, bytearray())
            if start == 0:
                buf.clear()
            if start != len(buf):
                raise DeviceError(400, f"Content-Range starts at {start}, expected {len(buf)}")
            buf.extend(raw)
            now = int(time.time() * 1_000_000)
            return 200, {"remainingByteCount": total - end - 1, "usedChunks": {"0": len(raw)},
                         "totalByteCount": total, "localFilePath": DOWNLOADS + name,
                         "temporaryFilePath": DOWNLOADS + "tmp/" + name, "generation": 0,
                         "lastUpdateMicros": now}

        def _install(self, what, body):
            if body.get("command") != "install":
                raise DeviceError(400, "only command install is supported")
            src = body.get("from-local-file") or body.get("fromLocalFile") or ""
            if not src.startswith(DOWNLOADS) or src[len(DOWNLOADS):] not in emu.uploads:
                raise DeviceError(400, f"01070712:3: File not found: {src}")
            name = body.get("name", "")
            full = name if name.startswith("/") else f"/{body.get('partition', 'Common')}/{name}"
            coll = "sys/file/ssl-cert" if what == "cert" else "sys/file/ssl-key"
            emu.store.install(coll, full, bytes(emu.uploads[src[len(DOWNLOADS):]]))
            return 200, {"kind": f"tm:sys:crypto:{what}:{what}state", "command": "install", "name": full,
                         "fromLocalFile": src}

        def _unix_rm(self, body):
            """`tmsh run util unix-rm PATH`: deletes an upload. As with every util command, what rm prints on
            stderr comes back as commandResult of a 200 answer (only the upload directory is modelled: any other
            path is a file that does not exist)."""
            if body.get("command") != "run":
                raise DeviceError(400, "util unix-rm: only command run is supported")
            args = str(body.get("utilCmdArgs") or "")
            if not args.split():
                raise DeviceError(400, "/bin/rm: missing operand")
            out = {"kind": "tm:util:unix-rm:runstate", "command": "run", "utilCmdArgs": args}
            errors = []
            for target in args.split():
                name = target[len(DOWNLOADS):] if target.startswith(DOWNLOADS) else ""
                if name in emu.uploads:
                    del emu.uploads[name]
                else:
                    errors.append(f"/bin/rm: cannot remove '{target}': No such file or directory\n")
            if errors:
                out["commandResult"] = "".join(errors)
            return 200, out

        # -- AS3 ------------------------------------------------------------------------------------------------
        def _as3(self, method, path, query, raw):
            if path == "/mgmt/shared/appsvcs/info" and method == "GET":
                return 200, {"version": "3.56.0", "release": "10", "schemaCurrent": "3.56.0",
                             "schemaMinimum": "3.0.0"}
            if path == "/mgmt/shared/appsvcs/declare" and method == "GET":
                return 200, {"class": "ADC", **copy.deepcopy(emu.as3_tenants)}
            if path == "/mgmt/shared/appsvcs/declare" and method == "POST":
                body = self._json(raw)
                task = str(uuid.uuid4())
                emu.tasks[task] = {"ready": time.time() + emu.as3_delay, "results": self._declare(body)}
                if query.get("async", ["false"])[0] != "true":
                    return 200, {"id": task, "results": emu.tasks[task]["results"]}
                return 202, {"id": task, "results": [{"message": "Declaration successfully submitted",
                                                      "tenant": "", "code": 0}],
                             "declaration": {}, "selfLink": _self_link(f"/mgmt/shared/appsvcs/task/{task}")}
            if path.startswith("/mgmt/shared/appsvcs/task/") and method == "GET":
                task = emu.tasks.get(path.rsplit("/", 1)[1])
                if task is None:
                    raise DeviceError(404, "task not found")
                if time.time() < task["ready"]:
                    return 200, {"id": path.rsplit("/", 1)[1], "results": [{"message": "in progress", "code": 0}]}
                return 200, {"id": path.rsplit("/", 1)[1], "results": task["results"]}
            raise DeviceError(404, f"URI path {path} not registered.")

        def _declare(self, body):
            errors = sorted(as3_validator().iter_errors(body), key=lambda e: list(e.absolute_path))
            if errors:
                e = errors[0]
                return [{"code": 422, "message": "declaration is invalid", "tenant": "",
                         "errors": [f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"]}]
            adc = body.get("declaration", body)
            results = []
            for tenant, value in adc.items():
                if not (isinstance(value, dict) and value.get("class") == "Tenant"):
                    continue
                missing = [p for p in _bigip_pointers(value) if not _exists(p)]
                if missing:
                    results.append({"code": 422, "message": "declaration failed", "tenant": tenant,
                                    "response": f"{missing[0]} does not exist"})
                    continue
                same = emu.as3_tenants.get(tenant) == value
                emu.as3_tenants[tenant] = copy.deepcopy(value)
                results.append({"code": 200, "message": "no change" if same else "success", "tenant": tenant,
                                "host": "localhost", "runTime": 10})
            return results

    def _exists(path: str) -> bool:
        return any(path in objs for objs in emu.store.objects.values())

    return Handler


def _bigip_pointers(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "bigip" and isinstance(v, str):
                yield v
            else:
                yield from _bigip_pointers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _bigip_pointers(v)
