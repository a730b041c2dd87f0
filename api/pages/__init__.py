"""The pages mailed links open (their assets sit here) and the OpenAPI document."""
