"""What Terraform gives one function to start with: its plain settings and its secrets.

The plain settings are read off the parsed HCL (the platform module's derived settings and
fixed variables, an environment root's `function_environment`), with the region and project
of a stand-in deployment; the secrets are those the topology module mounts into the
function (the `derived` fixture), each with a stand-in value of the shape the code takes.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from tests.unit.deploy.terraform_files import PLATFORM_MODULE, locals_of, modules_of, resources

REGION, PROJECT = "us-central1", "a-project"
FUNCTION_BASE_URL = f"https://{REGION}-{PROJECT}.cloudfunctions.net"
_PAIR = r"(\w+)\s*=\s*\"([^\"]*)\""

# A value of the right shape for every key a secret holds (docs/deploy.md makes the real
# ones): what the code that reads the key must accept.
STAND_INS = {
    "SALUDTECH_HMAC_KEY": "h" * 64,
    "SALUDTECH_FIELD_ENCRYPTION_KEY": base64.b64encode(b"f" * 32).decode(),
    "SALUDTECH_JWT_KEYS": "k0:" + "j" * 64,
    "SALUDTECH_WEBHOOK_SECRETS": "whsec_" + base64.b64encode(b"w" * 32).decode(),
    "SALUDTECH_CONFIRMATION_KEYS": "c" * 64,
    "SALUDTECH_PAYMENT_API_KEY": "p" * 32,
    "SALUDTECH_SMTP_PASSWORD": "s" * 16,
}

# The plain settings docs/deploy.md tells the deployer to put in `_SETTINGS` (mail).
DEPLOYER_SETTINGS = {
    "SALUDTECH_SMTP_HOST": "smtp.example.com",
    "SALUDTECH_SMTP_PORT": "587",
    "SALUDTECH_SMTP_STARTTLS": "true",
}


def _resolve(text: str, derived: dict[str, Any]) -> str:
    base = locals_of(PLATFORM_MODULE)["function_base_url"]
    for expression, value in {
        "${local.function_base_url}": base,
        "${var.region}": REGION,
        "${var.project_id}": PROJECT,
        "${module.topology.front_door}": str(derived["front_door"]),
    }.items():
        text = text.replace(expression, value)
    assert "${" not in text, f"an expression this reader does not resolve: {text}"
    return text


def derived_settings(derived: dict[str, Any]) -> dict[str, str]:
    """The platform module's `derived_settings`, for the stand-in region and project."""
    expression = locals_of(PLATFORM_MODULE)["derived_settings"]
    settings = {name: _resolve(value, derived) for name, value in re.findall(_PAIR, expression)}
    if derived["front_door"] is None:  # `front_door == null ? {} : {...}`
        settings.pop("SALUDTECH_PUBLIC_URL")
    return settings


def function_environment(
    environment: Path, derived: dict[str, Any], function: str
) -> dict[str, str]:
    """Every variable Terraform sets on `function` in one environment root."""
    resource = resources(PLATFORM_MODULE)[("google_cloudfunctions2_function", "function")]
    merged = resource["service_config"][0]["environment_variables"]
    # Derived first, the deployer's settings over them, the fixed ones last (they win).
    assert merged.startswith("${merge(local.derived_settings, var.function_environment, ")
    values = derived_settings(derived)
    given = modules_of(environment)["platform"].get("function_environment", {})
    values.update(given if isinstance(given, dict) else dict(re.findall(_PAIR, given)))
    values.update(DEPLOYER_SETTINGS)
    if derived["functions"][function]["signs_urls"]:
        assert "each.value.signs_urls ? {SALUDTECH_API_SIGNING_SERVICE_ACCOUNT" in merged
        values["SALUDTECH_API_SIGNING_SERVICE_ACCOUNT"] = f"fn-{function}@{PROJECT}.iam"
    fixed = merged[merged.rindex("{") :]
    values.update(dict(re.findall(_PAIR, fixed)))
    values["GOOGLE_CLOUD_PROJECT"] = PROJECT
    values["SALUDTECH_BUCKET_PREFIX"] = f"{PROJECT}-{environment.name}"
    for grant in derived["secret_grants"].values():
        if grant["function"] == function:
            values[grant["env"]] = STAND_INS[grant["env"]]
    return values
