"""The SyncWell API service (API Gateway + dual JWT authorizer in one ASGI app). ``create_app(config)``."""
