"""Audit: what is deployed against the Plan, and the live probe.

apphost.py   applicationHost.config reader (effective sslFlags, inheritance resolved)
evidence.py  per-server evidence: applicationHost.config, verify JSON, Get-OutlookAnywhere JSON, evidence folder
drift.py     drift entries with stable codes (against the plan, the catalog's defaults, and between servers)
vdirauth.py  what each virtual directory accepts, as the Exchange cmdlets show it (verify writes, audit compares)
fix.py       the remediation script: the apply script rendered from a plan restricted to what drifted
lbdiff.py    HAProxy / NGINX configuration drift (normalised unified diff against a fresh render)
probe.py     live checks through the VIPs and on each server (requests)
report.py    tables and JSON for audit and probe
"""
