"""A test client of one Cloud Function of main.py, as functions-framework serves it."""

from __future__ import annotations

from pathlib import Path

import functions_framework
from flask import Flask
from flask.testing import FlaskClient

MAIN = str(Path(__file__).parents[2] / "main.py")


def function_client(target: str) -> FlaskClient:
    """The client of `target` (an entry point of main.py), served by functions-framework."""
    app: Flask = functions_framework.create_app(target, MAIN)  # type: ignore[no-untyped-call]
    return app.test_client()
