"""The local stack: emulators, functions host and Eventarc bridge (see docs/local-stack.md)."""
