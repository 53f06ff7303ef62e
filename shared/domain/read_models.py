"""What a context's doors answer, as typed models: part of each context's published contract
(its messages.py), so the doors and the api that reads them use one definition."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class ReadModel(BaseModel):
    """What a door answers: exactly the fields its model names. A field the store holds and
    the model does not name is left out of the answer and logged by name (never its value),
    so a read model that grows ahead of its door is seen, not answered with a 500."""

    model_config = ConfigDict(extra="ignore")


class Page(ReadModel, Generic[T]):
    """One page of a read model; `next_cursor` is null on the last one."""

    items: list[T]
    next_cursor: str | None
