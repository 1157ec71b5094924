"""The TaskAction API: constants of the Flyte contract, pydantic models, CRD generation."""
