"""The wire contracts services exchange, one module per producing service.

Pydantic models only (never table models): the producer uses them as its request and response
models, and the typed clients of :mod:`shared.clients` parse answers with them.
"""
