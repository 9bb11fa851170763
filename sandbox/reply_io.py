"""Placeholder twin; being written."""
from sandbox.server import Response, VendorTwin


class ReplyIoTwin(VendorTwin):
    vendor = "reply_io"
    api_key = "sandbox-reply_io-key"

    def register_routes(self) -> None:
        pass

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        return None

    def error(self, status: int, message: str, **extra):  # type: ignore[no-untyped-def]
        return Response.json(status, {"message": message})
