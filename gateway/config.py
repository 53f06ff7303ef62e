"""The gateway's settings, read from one TOML file (docs/gateway.md shows a full one).

The center account's password is never in the file's values that get logged and never on
the command line (argv is visible to every local user through /proc): it comes from a file
(`password_file`, readable by the gateway's user only) or an environment variable.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Grouping = Literal["study", "instance"]
# DICOM AE titles: up to 16 characters of the default repertoire, no backslash.
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
DEFAULT_PASSWORD_ENV = "SALUDTECH_GATEWAY_PASSWORD"  # noqa: S105 - a variable's name


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the setting, never a secret."""


@dataclass(frozen=True)
class TlsConfig:
    cert: Path
    key: Path
    # With a CA, the PACS must present a certificate it signed (mutual TLS).
    ca: Path | None = None


@dataclass(frozen=True)
class ScpConfig:
    ae_title: str = "SALUDTECH_GW"
    bind: str = "127.0.0.1"  # loopback until the operator opens it to the PACS's network
    port: int = 11112
    allowed_calling_aets: tuple[str, ...] = ()
    tls: TlsConfig | None = None
    # Concurrent associations; a PACS usually opens one or a few per study.
    max_associations: int = 10


@dataclass(frozen=True)
class PlatformConfig:
    api_url: str
    username: str
    password_file: Path | None = None
    password_env: str = DEFAULT_PASSWORD_ENV
    timeout_seconds: float = 30.0

    def password(self) -> str:
        if self.password_file is not None:
            try:
                return self.password_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"platform.password_file unreadable: {exc.strerror}") from None
        value = os.environ.get(self.password_env, "")
        if not value:
            raise ConfigError(f"no password: set platform.password_file or ${self.password_env}")
        return value


@dataclass(frozen=True)
class UploadConfig:
    # "study": one zip per study once no instance of it has arrived for `study_quiet_seconds`
    # (one signed URL and one PUT for the whole study; the platform's command rate limit,
    # 60 a minute per account by default, would cap "instance" at one instance a second).
    grouping: Grouping = "study"
    study_quiet_seconds: float = 5.0
    # A study larger than this goes in several zips (the platform refuses zips over 4 GiB).
    max_batch_bytes: int = 1024 * 1024 * 1024
    max_batch_entries: int = 5000
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    # Uploads in flight at once (each batch on its own signed URL).
    workers: int = 1
    keep_sent: bool = False  # move sent instances to <spool>/sent instead of deleting them
    poll_seconds: float = 0.5


@dataclass(frozen=True)
class StatusConfig:
    """The status page (status_page.py), when a port is set (docs/gateway.md sets 11180);
    on this host only unless told otherwise."""

    host: str = "127.0.0.1"
    port: int = 0  # off


@dataclass(frozen=True)
class GatewayConfig:
    spool_dir: Path
    platform: PlatformConfig
    scp: ScpConfig = field(default_factory=ScpConfig)
    upload: UploadConfig = field(default_factory=UploadConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    log_level: str = "INFO"

    @property
    def status_file(self) -> Path:
        return self.spool_dir / "status.json"


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _path(value: Any, base: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _known(table: dict[str, Any], name: str, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"[{name}] unknown settings: {', '.join(unknown)}")


def parse(raw: dict[str, Any], base: Path) -> GatewayConfig:
    """Settings from a parsed TOML document; relative paths are relative to `base`."""
    _known(raw, "top level", {"spool_dir", "log_level", "scp", "platform", "upload", "status"})
    scp_raw, platform_raw = _section(raw, "scp"), _section(raw, "platform")
    upload_raw, status_raw = _section(raw, "upload"), _section(raw, "status")
    _known(status_raw, "status", set(StatusConfig.__dataclass_fields__))
    tls_raw = _section(scp_raw, "tls")
    if "password" in platform_raw:
        raise ConfigError("[platform] takes password_file or password_env, never a password")
    _known(scp_raw, "scp", {f.name for f in ScpConfig.__dataclass_fields__.values()})
    _known(tls_raw, "scp.tls", {"cert", "key", "ca"})
    _known(platform_raw, "platform", set(PlatformConfig.__dataclass_fields__))
    _known(upload_raw, "upload", set(UploadConfig.__dataclass_fields__))
    if "spool_dir" not in raw:
        raise ConfigError("spool_dir is required")
    if "api_url" not in platform_raw or "username" not in platform_raw:
        raise ConfigError("[platform] needs api_url and username")
    tls = None
    if tls_raw:
        if "cert" not in tls_raw or "key" not in tls_raw:
            raise ConfigError("[scp.tls] needs cert and key")
        tls = TlsConfig(
            cert=_path(tls_raw["cert"], base),
            key=_path(tls_raw["key"], base),
            ca=_path(tls_raw["ca"], base) if "ca" in tls_raw else None,
        )
    scp_values = {k: v for k, v in scp_raw.items() if k != "tls"}
    scp_values["allowed_calling_aets"] = tuple(scp_values.get("allowed_calling_aets", ()))
    scp = ScpConfig(**scp_values, tls=tls)
    for title in (scp.ae_title, *scp.allowed_calling_aets):
        if not _AE_TITLE.match(title) or not title.strip():
            raise ConfigError(f"not a valid AE title: {title!r}")
    if not scp.allowed_calling_aets:
        raise ConfigError("[scp] allowed_calling_aets must name the PACS's AE title(s)")
    platform_values = dict(platform_raw)
    if "password_file" in platform_values:
        platform_values["password_file"] = _path(platform_values["password_file"], base)
    upload = UploadConfig(**upload_raw)
    if upload.grouping not in ("study", "instance"):
        raise ConfigError('[upload] grouping is "study" or "instance"')
    return GatewayConfig(
        spool_dir=_path(raw["spool_dir"], base),
        platform=PlatformConfig(**platform_values),
        scp=scp,
        upload=upload,
        status=StatusConfig(**status_raw),
        log_level=str(raw.get("log_level", "INFO")).upper(),
    )


def load(path: Path) -> GatewayConfig:
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return parse(raw, path.resolve().parent)
    except TypeError as exc:  # a wrong type of value reached a dataclass
        raise ConfigError(str(exc)) from None
