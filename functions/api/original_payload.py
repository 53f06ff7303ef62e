"""The original design's create-subscription body (BFF `POST /suscripciones/suscripcion-
comando`, nested, in Spanish) read into the v1 command's body, so its clients keep working.

{"cliente": {"codigo", "nombre": {"nombres", "apellidos"}, "usuario", "rut": {"numero"},
             "cedula": {"numero"}, "email"},
 "plan": {"codigo", "nombre"}, "facturas": []}

Each field has the limits of the v1 field it becomes (the subscriptions context's
ClientData), so what this route's document declares is what the command accepts.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.api.bodies import CreateSubscriptionBody, field_of
from functions.subscriptions.messages import ClientData, PlanCode
from shared.domain.errors import PermanentError


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Nombre(_Strict):
    nombres: str = field_of(ClientData, "first_names")
    apellidos: str = field_of(ClientData, "last_names")


class Rut(_Strict):
    # A number was sent as such: at most the digits the v1 field takes.
    numero: (
        Annotated[str, Field(min_length=1, max_length=16)] | Annotated[int, Field(ge=0, lt=10**16)]
    ) = Field(union_mode="left_to_right")


class Cedula(_Strict):
    numero: (
        Annotated[str, Field(min_length=1, max_length=20)] | Annotated[int, Field(ge=0, lt=10**20)]
    ) = Field(union_mode="left_to_right")


class Cliente(_Strict):
    codigo: str = field_of(ClientData, "code")
    nombre: Nombre
    usuario: str = field_of(ClientData, "username")
    rut: Rut
    cedula: Cedula
    email: str = field_of(ClientData, "email")


class PlanSolicitado(_Strict):
    codigo: PlanCode
    nombre: Annotated[str, Field(max_length=32)] = ""


class SuscripcionComando(_Strict):
    cliente: Cliente
    plan: PlanSolicitado
    # Invoices of a new subscription: the original always sent an empty list.
    facturas: Annotated[list[Any], Field(max_length=0)] = []


def v1_create_body(original: SuscripcionComando) -> CreateSubscriptionBody:
    """The v1 body of the command the original payload asks for."""
    cliente = original.cliente
    v1 = {
        "client": {
            "code": cliente.codigo,
            "first_names": cliente.nombre.nombres,
            "last_names": cliente.nombre.apellidos,
            "username": cliente.usuario,
            "rut": str(cliente.rut.numero),
            "national_id": str(cliente.cedula.numero),
            "email": cliente.email,
        },
        # The plan code was lowercase ("pro"); ours are BASIC, PRO, ENTERPRISE.
        "plan": original.plan.codigo.upper(),
    }
    try:
        return CreateSubscriptionBody.model_validate(v1)
    except ValidationError as error:  # kept for a v1 field made stricter than its original
        # Where and which rule, never the value that broke it (it may be personal data).
        first = error.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        raise PermanentError("schema_violation", f"{where}: {first['type']}", field=where) from None
