"""SMTP, IMAP and POP behind a load balancer: the ports, greetings, timeouts and limits of Exchange's front-end
services (2013 and later), each with its source. The load balancer passes them through at layer 4: Exchange keeps
the certificate (993/995 and STARTTLS), the load balancer terminates nothing.

Sources:
 [LB]   Microsoft Learn, "Load balancing in Exchange Server": the ports to load balance — "25 | Mailbox | Inbound
        SMTP", "587 | Mailbox | Inbound SMTP for clients", "110 | POP3 clients", "143 | IMAP4 clients", "993 |
        Secure IMAP4 clients", "995 | Secure POP3 clients"; "Knowing only a single IP address, the load balancer
        can monitor only a single service" (so: a check per protocol and port).
 [RC]   Microsoft Learn, "Receive connectors": Front End Transport "Client Frontend <ServerName>" on 587 ("Accepts
        connections from authenticated SMTP clients") and "Default Frontend <ServerName>" on 25 ("Accepts anonymous
        connections from external SMTP servers"); the Transport service's 2525, 465 and 717 are back-end ports.
 [P3I4] Microsoft Learn, "POP3 and IMAP4 in Exchange Server": "Clients connect to the POP3 and IMAP4 services in the
        Client Access (frontend) services on the Mailbox server"; "993 for always SSL/TLS encrypted connections,
        and 143 for unencrypted connections, or for opportunistic TLS (STARTTLS)" (POP3: 995 / 110); "By default,
        IMAP4 client connectivity isn't enabled in Exchange".
 [IMAP] Microsoft Learn, Set-ImapSettings: -Banner "The default value is: The Microsoft Exchange IMAP4 service is
        ready."; -AuthenticatedConnectionTimeout "The default setting is 00:30:00 (30 minutes)" (30 s to 1 h);
        -ProxyTargetPort (back end) "The default value is 1993". Set-PopSettings: the same for POP3 (1995).
 [SRC]  Microsoft Learn, Set-ReceiveConnector: -ConnectionTimeout "00:10:00 (10 minutes)",
        -ConnectionInactivityTimeout "00:05:00"; -MaxInboundConnectionPerSource "The default value is 20";
        -RemoteIPRanges: "the Receive connector with the most specific match to the IP address of the connecting
        server is used".
 [PROXY] No Microsoft page says Exchange reads the PROXY protocol, and no cmdlet has a setting for it (searched:
        Set-ReceiveConnector, Set-ImapSettings, Set-PopSettings): a PROXY header would reach Exchange as a
        protocol command (SMTP) or break the TLS handshake (993/995). lbsync never sends it.
 [SMTP] RFC 5321: a server greets with 220 and answers EHLO with 250.
The load balancer's idle timeouts are lbsync's decision from these: longer than Exchange's own (so that Exchange,
not the load balancer, ends an idle session): IMAP/POP 35 minutes (> 30), SMTP 15 minutes (> 10).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailProtocol:
    key: str
    title: str
    ports: tuple[int, ...]            # the front-end ports Microsoft lists [LB] [RC] [P3I4]
    default_ports: tuple[int, ...]    # what lbsync publishes unless mail.<key>.ports says otherwise
    implicit_tls: tuple[int, ...]     # ports that speak TLS from the first byte
    greeting: str                     # the prefix of a healthy server's first line (never the banner text)
    goodbye: str                      # what ends a health check politely (no error in Exchange's logs)
    idle_timeout_s: int
    plain_port_of: dict[int, int]     # TLS port -> the same service's plain port (an F5 tcp monitor cannot TLS)
    services: str                     # the Windows services behind it (README)


PROTOCOLS: dict[str, MailProtocol] = {p.key: p for p in [
    MailProtocol("smtp", "SMTP (Front End Transport)", (25, 587), (25,), (), "220", "QUIT\r\n", 900, {},
                 "Front End Transport: receive connectors Default Frontend (25), Client Frontend (587)"),
    MailProtocol("imap", "IMAP4 (Client Access front end)", (993, 143), (993,), (993,), "* OK", "a1 LOGOUT\r\n",
                 2100, {993: 143}, "MSExchangeIMAP4 and MSExchangeIMAP4BE (disabled by default)"),
    MailProtocol("pop", "POP3 (Client Access front end)", (995, 110), (995,), (995,), "+OK", "QUIT\r\n",
                 2100, {995: 110}, "MSExchangePOP3 and MSExchangePOP3BE (disabled by default)"),
]}
MAIL_KEYS = tuple(PROTOCOLS)

# Ports of the back-end services: never published by a load balancer [RC] [IMAP].
BACK_END_PORTS = (465, 717, 1993, 1995, 2525)
# Default Frontend's connections per source address [SRC]: with SNAT every client is one source.
SMTP_PER_SOURCE_DEFAULT = 20

# source_address: how the servers see a client
SOURCE_LB = "lb"          # SNAT: the servers see the load balancer's address (works in every network)
SOURCE_CLIENT = "client"  # transparent: the servers see the client's address; their route back must be the LB
SOURCES = (SOURCE_LB, SOURCE_CLIENT)
