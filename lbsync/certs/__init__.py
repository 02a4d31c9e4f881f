"""Certificates: load (PFX/PEM), checks, export, live fetch."""
