"""synclink benchmark harness (stdlib only). Entry point: bench/bench.py."""
