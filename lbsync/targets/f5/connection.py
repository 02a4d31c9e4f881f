"""The connection to a BIG-IP's iControl REST API: token login, TLS verification, timeouts, retries for reads.

TLS verification is on unless the model sets targets.f5.verify_tls: false (then a loud warning); ca_bundle is the
trust anchor for the management certificate. Credentials come only from the environment variables the model
names (targets.f5.username_env / password_env) or a hidden prompt; they are never printed or logged.
Reads are retried with backoff on connection errors and 5xx; a single write is never retried (the transaction as a
whole is, by the caller, after re-reading the device).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import click
import requests
import urllib3

from ...errors import LbsyncError
from ...output.text import env_name
from ...plan.types import Plan


class DeviceError(Exception):
    """The device (or the way to it) refused: exit code 1."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Retryable(DeviceError):
    """A connection error or a 5xx answer: the operation may succeed when repeated."""


@dataclass
class Settings:
    host: str
    port: int
    partition: str
    verify: bool | str          # False, True (system store) or a CA bundle path
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5

    @property
    def base(self) -> str:
        return f"https://{self.host}:{self.port}"


def settings_from(plan: Plan, *, retries: int = 3, backoff: float = 0.5, timeout: float = 30.0,
                  warn: Callable[[str], None] = lambda text: print(text, file=sys.stderr)) -> Settings:
    f5 = plan.model.targets.f5
    if not f5.host:
        raise _model_error(plan, "targets.f5.host is not set: lbsync does not know which BIG-IP to talk to",
                           ("targets", "f5"))
    if not f5.verify_tls:
        warn(f"WARNING: TLS verification of the BIG-IP management certificate is OFF (targets.f5.verify_tls: "
             f"false): anyone between here and {f5.host} can read the F5 credentials and the private key")
        verify: bool | str = False
    else:
        verify = str(f5.ca_bundle) if f5.ca_bundle else True
        if f5.ca_bundle and not f5.ca_bundle.is_file():
            raise _model_error(plan, f"targets.f5.ca_bundle: no such file: {f5.ca_bundle}",
                               ("targets", "f5", "ca_bundle"), key=False)
    return Settings(f5.host, f5.port, f5.partition, verify, timeout, retries, backoff)


def _model_error(plan, message: str, path: tuple, *, key: bool = True) -> LbsyncError:
    """An error about the model's targets.f5 settings, at FILE:LINE:COL of the key (or of its nearest parent)."""
    line, col = plan.model.marks.at(path, key=key)
    return LbsyncError(message, file=plan.model.marks.file, line=line, col=col)


def credentials(plan: Plan, *, interactive: bool | None = None) -> tuple[str, str]:
    """(username, password) from the environment variables the model names, or a hidden prompt on a terminal."""
    f5 = plan.model.targets.f5
    user, password = os.environ.get(f5.username_env), os.environ.get(f5.password_env)
    if interactive is None:
        interactive = sys.stdin.isatty()
    if (not user or not password) and interactive:
        user = user or click.prompt(f"BIG-IP user for {f5.host}")
        password = password or click.prompt(f"Password for {user}@{f5.host}", hide_input=True)
    if not user or not password:  # at targets.f5.username_env (or targets.f5 when the defaults apply)
        raise _model_error(plan, "F5 credentials: set the environment variables "
                                 f"{env_name(f5.username_env, 'targets.f5.username_env')} and "
                                 f"{env_name(f5.password_env, 'targets.f5.password_env')} "
                                 "(targets.f5.username_env / password_env), or run on a terminal to be asked",
                           ("targets", "f5", "username_env"))
    return user, password


def _message(response) -> str:
    try:
        body = response.json()
        text = body.get("message") or str(body)
    except ValueError:
        text = response.text[:200]
    return f"{response.status_code} {text}".strip()


class Connection:
    def __init__(self, settings: Settings, username: str, password: str):
        self.settings = settings
        self.session = requests.Session()
        self.session.verify = settings.verify
        self.session.headers["Content-Type"] = "application/json"
        self._user = username
        self._password = password
        self.token: str | None = None
        if settings.verify is False:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    # -- transport ----------------------------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs):
        url = self.settings.base + path
        try:
            # verify per request: a session-level setting loses against REQUESTS_CA_BUNDLE in requests
            return self.session.request(method, url, timeout=self.settings.timeout, verify=self.settings.verify,
                                        **kwargs)
        except requests.exceptions.SSLError as exc:
            raise DeviceError(f"TLS verification of {self.settings.base} failed ({_reason(exc)}); set "
                              "targets.f5.ca_bundle to the CA of the BIG-IP management certificate") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise Retryable(f"cannot reach {self.settings.base}: {_reason(exc)}") from None

    def login(self) -> str:
        body = {"username": self._user, "password": self._password, "loginProviderName": "tmos"}
        r = self._with_retries(lambda: self._checked(self._send("POST", "/mgmt/shared/authn/login", json=body),
                                                     auth=True))
        self.token = r.json()["token"]["token"]
        self.session.headers["X-F5-Auth-Token"] = self.token
        self._password = None  # not kept longer than needed
        return self.token

    def logout(self) -> None:
        if self.token:
            try:
                self._send("DELETE", f"/mgmt/shared/authz/tokens/{self.token}")
            except DeviceError:
                pass
            self.token = None

    def _checked(self, response, *, auth: bool = False):
        if response.status_code >= 500:
            raise Retryable(f"{self.settings.base}: {_message(response)}", response.status_code)
        if response.status_code == 401 and auth:
            raise DeviceError(f"{self.settings.base}: login refused (check the F5 credentials)", 401)
        if response.status_code >= 400:
            raise DeviceError(f"{self.settings.base}: {_message(response)}", response.status_code)
        return response

    def _with_retries(self, attempt):
        delay = self.settings.backoff
        for n in range(self.settings.retries + 1):
            try:
                return attempt()
            except Retryable:
                if n == self.settings.retries:
                    raise
                time.sleep(delay)
                delay *= 2

    # -- API ----------------------------------------------------------------------------------------------------
    def get(self, path: str, params: dict | None = None, *, missing_ok: bool = False):
        """A read, retried on connection errors and 5xx. Returns the JSON body (None for 404 with missing_ok)."""
        def attempt():
            r = self._send("GET", path, params=params)
            if r.status_code == 404 and missing_ok:
                return None
            return self._checked(r)
        r = self._with_retries(attempt)
        return None if r is None else r.json()

    def write(self, method: str, path: str, *, json: dict | None = None, data: bytes | None = None,
              headers: dict | None = None) -> dict | None:
        """One write, never retried here."""
        r = self._checked(self._send(method, path, json=json, data=data, headers=headers))
        return r.json() if r.content else None

    def version(self) -> str:
        """The /mgmt/tm/sys/ probe: the TMOS version from the selfLink."""
        body = self.get("/mgmt/tm/sys/")
        return parse_qs(urlsplit(body.get("selfLink", "")).query).get("ver", ["?"])[0]


def _reason(exc: Exception) -> str:
    """The telling part of a requests/urllib3 error, which nests reprs: cut at the first quote (single or double:
    urllib3 2 quotes with either) or parenthesis after the marker."""
    text = str(exc)
    for marker in ("certificate verify failed", "CERTIFICATE_VERIFY_FAILED", "hostname mismatch",
                   "Connection refused", "timed out", "RemoteDisconnected", "Connection aborted",
                   "Name or service not known"):
        if marker in text:
            i = text.index(marker)
            return re.split(r"['\"()]", text[i:i + 120])[0].rstrip(" .:,")
    return type(exc).__name__


def connect(plan: Plan, *, retries: int = 3, backoff: float = 0.5, timeout: float = 30.0,
            interactive: bool | None = None, warn: Callable[[str], None] | None = None) -> Connection:
    kwargs = {"warn": warn} if warn else {}
    settings = settings_from(plan, retries=retries, backoff=backoff, timeout=timeout, **kwargs)
    user, password = credentials(plan, interactive=interactive)
    conn = Connection(settings, user, password)
    conn.login()
    return conn
