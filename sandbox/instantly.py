"""Placeholder twin; being written."""
from sandbox.server import Response, VendorTwin


class InstantlyTwin(VendorTwin):
    vendor = "instantly"
    api_key = "sandbox-instantly-key"

    def register_routes(self) -> None:
        pass

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        return None

    def error(self, status: int, message: str, **extra):  # type: ignore[no-untyped-def]
        return Response.json(status, {"message": message})
