"""A sample client of the subscriptions context (the original design's example), for the
demo, the README and the tests. Fictitious data."""

SAMPLE_CLIENT = {
    "code": "0001",
    "first_names": "Pablo",
    "last_names": "Pérez Prieto",
    "username": "pperez",
    "rut": "12.345.678-5",
    "national_id": "123457890",
    "email": "pperez@example.com",
}
