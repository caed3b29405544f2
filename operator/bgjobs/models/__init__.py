"""pydantic models of the custom resources and the handler registry.

They are the single source of the CRD schemas in ``crds/`` (see
:mod:`bgjobs.models.crd`) and of the operator's own validation.
"""
