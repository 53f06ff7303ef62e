"""The context refuses the public development keys in the cloud."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from functions.notifications import wiring
from shared.config import Settings


def test_development_keys_are_refused_in_the_cloud_and_real_ones_taken() -> None:
    with pytest.raises(ValueError, match="must be set"):
        wiring._keys(Settings.model_construct(environment="cloud"))
    with pytest.raises(ValueError, match="must be set"):
        wiring._keys(
            Settings.model_construct(environment="cloud", confirmation_keys=SecretStr("k" * 40))
        )
    real = Settings.model_construct(
        environment="cloud",
        confirmation_keys=SecretStr("new-key,old-key"),
        webhook_secrets=SecretStr("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    )
    assert wiring._keys(real) == (
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        [b"new-key", b"old-key"],
    )
