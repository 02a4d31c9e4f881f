"""Audit: applicationHost.config and evidence readers, drift, fix script; live probe."""
