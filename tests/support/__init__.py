"""Test helpers shared by unit, server and interop tests: a DNS server, challenge responders."""
