"""The original design's create-subscription body (BFF `POST /suscripciones/suscripcion-
comando`, nested, in Spanish) read into the v1 command's body, so its clients keep working.

{"cliente": {"codigo", "nombre": {"nombres", "apellidos"}, "usuario", "rut": {"numero"},
             "cedula": {"numero"}, "email"},
 "plan": {"codigo", "nombre"}, "facturas": []}
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.errors import PermanentError

_Text = Annotated[str, Field(min_length=1, max_length=254)]
_Number = Annotated[str | int, Field(union_mode="left_to_right")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class _Nombre(_Strict):
    nombres: _Text
    apellidos: _Text


class _Numero(_Strict):
    numero: _Number


class _Cliente(_Strict):
    codigo: _Text
    nombre: _Nombre
    usuario: _Text
    rut: _Numero
    cedula: _Numero
    email: _Text


class _Plan(_Strict):
    codigo: Annotated[str, Field(min_length=1, max_length=32)]
    nombre: Annotated[str, Field(max_length=32)] = ""


class SuscripcionComando(_Strict):
    cliente: _Cliente
    plan: _Plan
    # Invoices of a new subscription: the original always sent an empty list.
    facturas: Annotated[list[Any], Field(max_length=0)] = []


def v1_create_body(body: Any) -> dict[str, Any]:
    """The v1 body of the command the original payload asks for; schema_violation else."""
    try:
        original = SuscripcionComando.model_validate(body)
    except ValidationError as error:
        # Where and which rule, never the value that broke it (it may be personal data).
        first = error.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        raise PermanentError("schema_violation", f"{where}: {first['type']}", field=where) from None
    cliente = original.cliente
    return {
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
