"""The end-to-end lab: simulated Exchange front ends on loopback, real HAProxy / NGINX processes in front.

- exchange.py  `Lab`: N simulated servers (HTTP + HTTPS listener each), enforcing IIS Require-SSL per location,
               per-protocol health URLs, connection-bound NTLM, streamed RPC_IN_DATA / RPC_OUT_DATA.
- iis.py       the Require-SSL state a server is in: the applicationHost.config fixture, with or without the
               generated apply-SERVER.ps1 run through tests/iisinterp.py.
- lb.py        `Haproxy` / `Nginx`: render from a model, run the real binary in the foreground on free loopback
               ports, wait for readiness, always stop it.
- client.py    HTTPS client connecting to 127.0.0.1:PORT with SNI/Host set to a namespace, NTLM legs, raw RPC.
- models.py    lbsync.yaml texts for the lab (servers on 127.0.0.11.., short health intervals).
- fixtures.py  pytest fixtures: a module-wide `lab`, `start_lb(...)` (render + start a load balancer for a
               scenario with the servers' IIS state set), `foreign_ca`.
- scenarios.py every configuration the renderers must produce validly (profiles + variations), made real for
               `haproxy -c` / `nginx -t`.

What the lab proves: the generated LB configuration and the generated Exchange side work as a pair against real
HAProxy/NGINX processes and real TLS (schemes, SNI, verification, routing, health, NTLM connection binding,
streaming). What it does not prove: IIS or Exchange behaviour beyond this emulation (real NTLM cryptography,
Extended Protection channel binding, Managed Availability), or performance (see bench/).
"""
