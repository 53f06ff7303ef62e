"""Test support code shared by test suites (kept independent of the code under test)."""
