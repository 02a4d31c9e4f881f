"""lbsync: one model of an Exchange organisation, both sides of TLS offloading/bridging."""

__version__ = "0.1.0"
