"""Reading the images of a request: multipart ``file`` fields, a raw body, or an example by id.

Every failure is an :class:`fastapi.HTTPException` with a one-line ``detail`` that names the upload
and says what is wrong: 400 for a body that is not a readable image (not an image, truncated,
too many pixels), 413 for a body over the size limit (:class:`BodyLimit`), 404 for an unknown
example. Decoding runs in a worker thread, never on the event loop, and a bad upload fails only
its own request: images are decoded before they join a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse

from ..use.images import ImageReadError, decode_image, open_image
from .nets import Examples
from .settings import Settings


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body over the limit of {limit:,} bytes; send a smaller image "
                         f"(or start the server with a larger --max-upload-mb)")


def too_large_response(e: BodyTooLarge) -> JSONResponse:
    return JSONResponse({"detail": str(e)}, status_code=413)


class BodyLimit:
    """ASGI middleware: 413 for a declared Content-Length over ``max_bytes``, and for a streamed body
    that grows past it (the endpoint reading it raises :class:`BodyTooLarge`, answered as 413)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return await too_large_response(BodyTooLarge(self.max_bytes))(scope, receive, send)
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


@dataclass
class Upload:
    name: str
    image: Image.Image


def bad_image(e: ImageReadError) -> HTTPException:
    return HTTPException(400, f"{e.path}: {e.reason}")


async def read_images(request: Request, settings: Settings, channels: int, examples: Examples,
                      example: int | None) -> list[Upload]:
    """The request's images, decoded: ``example`` by id, else multipart ``file`` fields, else the raw body."""
    if example is not None:
        return [await read_example(examples, example, channels)]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        blobs = await _multipart(request, settings)
    else:
        blobs = [("body", await request.body())]
    if not blobs or all(not data for _, data in blobs):
        raise HTTPException(400, "no image: send multipart field 'file' (repeatable), an image as the raw "
                                 "request body, or ?example=ID (GET /v1/examples)")
    try:
        return [Upload(name, await run_in_threadpool(decode_image, data, channels, name, settings.max_pixels))
                for name, data in blobs]
    except ImageReadError as e:
        raise bad_image(e) from None


async def _multipart(request: Request, settings: Settings) -> list[tuple[str, bytes]]:
    try:
        form = await request.form(max_files=settings.max_files, max_fields=settings.max_files + 8)
    except BodyTooLarge:
        raise
    except Exception as e:  # python-multipart / starlette parse errors, too many files
        raise HTTPException(400, f"unreadable multipart body: {getattr(e, 'detail', e)}") from None
    try:
        files = form.getlist("file")
        if not files:
            raise HTTPException(400, f"multipart body has no field 'file' (fields: {', '.join(form.keys()) or 'none'})")
        out = []
        for i, f in enumerate(files):
            if not isinstance(f, UploadFile):
                raise HTTPException(400, f"field 'file' #{i + 1} is text, not a file upload")
            out.append((f.filename or f"file {i + 1}", await f.read()))
        return out
    finally:
        await form.close()


async def read_example(examples: Examples, id: int, channels: int) -> Upload:
    try:
        path = examples.path(id)
    except KeyError as e:
        raise HTTPException(404, str(e.args[0])) from None
    try:
        return Upload(path.name, await run_in_threadpool(open_image, path, channels))
    except ImageReadError as e:
        raise HTTPException(500, f"example {id} ({path.name}) could not be read: {e.reason}") from None
