"""Files out: the Jinja environment (shipped templates, --templates overrides), the all-or-nothing writer and the
--diff view, README.txt assembly, and the runner for the real programs' own checks (haproxy -c, nginx -t)."""
