"""One header limit, both sides, through the real load balancers: http.max_header_bytes sets the load balancer's
buffers and (above HTTP.sys's default) the HTTP.sys registry values the generated apply script writes — the lab
servers enforce exactly what the interpreted apply left (tests/lab/exchange.py). A request just under the load
balancer's limit reaches a server and is answered by it; one just over gets the load balancer's own 400, a whole
HTTP response, not a reset."""

from __future__ import annotations

import socket
import ssl

import pytest

from lab import client
from lab.fixtures import lab, start_lb  # noqa: F401 - fixtures
from lbsync.facts import httpsys
from lbsync.targets import haproxy, nginx

pytestmark = pytest.mark.lab

HOST = "mail.contoso.com"
RAISED = 70656   # a 48,000-byte Kerberos token (MaxTokenSize's default since Windows Server 2012) and the rest
MARGIN = 256     # HAProxy counts its own bookkeeping against the buffer (64 bytes + 4 per header field, measured)


def request(total: int, line_max: int) -> bytes:
    """A GET of exactly `total` bytes of request line and headers (CRLFs and the empty line included), no header
    line longer than `line_max` bytes with its CRLF."""
    head = f"GET /owa/lab.aspx HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n".encode()
    rest = total - len(head) - 2
    fill, i = [], 0
    while rest > 0:
        name = b"X-Fill-%02d: " % i
        size = min(line_max, rest)
        if rest - size and rest - size < len(name) + 3:   # keep room for a last header of at least one byte
            size = rest - (len(name) + 3)
        assert size >= len(name) + 3, (total, line_max)
        fill.append(name + b"a" * (size - len(name) - 2) + b"\r\n")
        rest -= size
        i += 1
    out = head + b"".join(fill) + b"\r\n"
    assert len(out) == total and max(len(x) for x in fill) <= line_max
    return out


def exchange(port: int, ca, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send one request over TLS; (status line, headers, body) of the whole answer, or ("RESET", ...) when the
    connection was reset or closed without an answer (also while the request was still being sent)."""
    ctx = client.client_tls(ca)
    with socket.create_connection((client.LB_ADDRESS, port), 10) as sock, \
            ctx.wrap_socket(sock, server_hostname=HOST) as tls:
        data = b""
        try:
            tls.sendall(raw)
            while chunk := tls.recv(65536):
                data += chunk
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
            return "RESET", {}, data
    if not data:
        return "RESET", {}, data
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return lines[0], headers, body


@pytest.fixture(scope="module", params=[("haproxy", None), ("nginx", None), ("haproxy", RAISED), ("nginx", RAISED)],
                ids=["haproxy-default", "nginx-default", "haproxy-raised", "nginx-raised"])
def running(request, lab, pki_files, tmp_path_factory):  # noqa: F811
    target, limit = request.param
    r = start_lb(lab, pki_files, tmp_path_factory, target, "bridge", max_header_bytes=limit)
    r.target, r.lab = target, lab
    yield r
    r.lb.stop()


def test_one_value_sets_the_servers_and_the_load_balancer(running):
    plan = running.plan
    n = plan.max_header_bytes
    raised = n > httpsys.DEFAULT_REQUEST_BYTES
    # the servers: what the interpreted apply script left in the registry, as HTTP.sys uses it after a restart
    want = {httpsys.MAX_FIELD_LENGTH: min(n, 65534), httpsys.MAX_REQUEST_BYTES: n} if raised else httpsys.DEFAULT
    assert all(s.http_sys == want for s in running.lab.servers), [s.http_sys for s in running.lab.servers]
    # the load balancer: the same value, less the room for the headers it adds
    assert plan.lb_header_bytes == n - 1024
    if running.target == "haproxy":
        conf = running.lb.files[haproxy.CONFIG].content
        assert f"    tune.bufsize {n // 16 * 16}\n" in conf and "    tune.maxrewrite 1024\n" in conf
    else:
        conf = running.lb.files[nginx.HTTP_CONF].content
        size = min(n - 1024, 65536)
        assert f"large_client_header_buffers {-(-(n - 1024) // size)} {size // 1024}k;" in conf


def _limit(running) -> tuple[int, int]:
    """(largest head, longest line) the load balancer is configured to pass: HAProxy counts the whole head, NGINX
    each line (one buffer)."""
    plan = running.plan
    if running.target == "haproxy":
        return plan.lb_header_bytes, 32 * 1024
    size = nginx.header_buffer_size(plan)
    return size, size


def test_a_request_just_under_the_limit_reaches_a_server(running):
    total, line = _limit(running)
    raw = request(total - MARGIN, line)    # NGINX: one header line MARGIN shorter than a buffer
    status, headers, body = exchange(running.port, running.ca, raw)
    assert status.startswith("HTTP/1.1 200"), (running.target, status, body[:300])
    assert headers.get("x-lab-server") in ("EX01", "EX02")


def test_a_request_just_over_the_limit_gets_the_load_balancers_400_not_a_reset(running):
    total, line = _limit(running)
    if running.target == "haproxy":
        raw = request(total + 1, line)
    else:
        raw = request(line + 200, line + 1)      # one header line one byte longer than a buffer
    status, headers, body = exchange(running.port, running.ca, raw)
    assert status.split()[1:2] in (["400"], ["431"]), (running.target, status, body[:300])
    assert "x-lab-server" not in headers, "the server answered: the load balancer let it through"
    if running.target == "nginx":
        assert b"Request Header Or Cookie Too Large" in body


def test_a_kerberos_token_of_the_default_maximum_passes_only_a_raised_limit(running):
    """A 48,000-byte token (Windows Server 2012+'s MaxTokenSize) is a 64 KB Authorization header (KB 327825): the
    servers take it only with raised HTTP.sys values, and the load balancer passes it exactly then."""
    line = httpsys.encoded_token_bytes(48000)
    head = f"GET /EWS/Exchange.asmx HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n".encode()
    raw = head + b"Authorization: Negotiate " + b"A" * (line - 27) + b"\r\n\r\n"
    served = sum(s.counts.get("requests", 0) + s.counts.get("http_sys_400", 0) for s in running.lab.servers)
    status, headers, _ = exchange(running.port, running.ca, raw)
    if running.plan.max_header_bytes > httpsys.DEFAULT_REQUEST_BYTES:
        # not a lab Kerberos token: the server answers 401 — it got the header through the load balancer
        assert status.startswith("HTTP/1.1 401") and headers.get("x-lab-server"), status
    else:
        # four times the limit: the load balancer answers 400 as soon as its buffer is full and closes, so the
        # client may still be sending (then it sees the connection end); the servers never see the request
        assert status == "RESET" or status.split()[1] in ("400", "431"), status
        assert "x-lab-server" not in headers
        assert sum(s.counts.get("requests", 0) + s.counts.get("http_sys_400", 0) for s in running.lab.servers) == served
