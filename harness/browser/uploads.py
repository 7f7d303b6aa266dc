"""The upload route ``POST /upload/<slot>``: where the page saves a model with ``tf.io.http``.

Uploads are treated as hostile. Only a slot Python reserved is accepted, once. The body must be
``multipart/form-data`` with nothing but the parts tfjs sends (``model.json`` and
``model.weights.bin``, each with its own name as filename) and no more than the size limit in
total. Parts are written into a private staging directory that becomes the slot only when the
whole upload is accepted; anything else gets a 4xx with a message and leaves nothing behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aiohttp import BodyPartReader, web

from harness.browser.slots import SlotStore
from harness.options import DEFAULT_UPLOAD_LIMIT_MIB, mib_to_bytes

MODEL_JSON_PART = "model.json"
WEIGHTS_PART = "model.weights.bin"
UPLOAD_PARTS = (MODEL_JSON_PART, WEIGHTS_PART)
DEFAULT_UPLOAD_LIMIT_BYTES = mib_to_bytes(DEFAULT_UPLOAD_LIMIT_MIB)
CHUNK_BYTES = 2**16

SLOTS = web.AppKey("slots", SlotStore)
UPLOAD_LIMIT = web.AppKey("upload_limit", int)


async def upload(request: web.Request) -> web.Response:
    """Accept one tfjs model upload into a reserved slot; answers ``{"slot", "files": {name: bytes}}``."""
    store, limit = request.app[SLOTS], request.app[UPLOAD_LIMIT]
    if request.content_type != "multipart/form-data":
        raise web.HTTPUnsupportedMediaType(
            text="upload refused: body must be multipart/form-data (as tf.io.http sends), "
                 f"not {request.content_type!r}")
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit, actual_size=request.content_length,
            text=f"upload refused: body of {request.content_length} bytes exceeds the limit of {limit} bytes")
    target = store.claim(request.match_info["slot"])
    if target is None:
        raise web.HTTPNotFound(text="upload refused: no such upload slot (or it was already used)")
    staging = store.staging()
    try:
        sizes = await _receive_parts(request, staging, limit)
        if MODEL_JSON_PART not in sizes:
            raise web.HTTPBadRequest(text=f"upload refused: no '{MODEL_JSON_PART}' part")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return web.json_response({"slot": target.name, "files": sizes})


async def _receive_parts(request: web.Request, staging: Path, limit: int) -> dict[str, int]:
    """Write each accepted part to ``staging/<part name>``; returns the byte count of each."""
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as error:
        raise web.HTTPBadRequest(text=f"upload refused: malformed multipart body: {error}") from error
    sizes: dict[str, int] = {}
    total = 0
    while True:
        try:
            part = await reader.next()
        except ValueError as error:
            raise web.HTTPBadRequest(text=f"upload refused: malformed multipart body: {error}") from error
        if part is None:
            return sizes
        if not isinstance(part, BodyPartReader):
            raise web.HTTPBadRequest(text="upload refused: nested multipart parts are not accepted")
        name = _accepted_name(part, sizes)
        with open(staging / name, "wb") as handle:
            while chunk := await part.read_chunk(CHUNK_BYTES):
                total += len(chunk)
                if total > limit:
                    raise web.HTTPRequestEntityTooLarge(
                        max_size=limit, actual_size=total,
                        text=f"upload refused: body exceeds the limit of {limit} bytes (at part '{name}')")
                handle.write(chunk)
        sizes[name] = (staging / name).stat().st_size


def _accepted_name(part: BodyPartReader, seen: dict[str, int]) -> str:
    """The part's name if it is one tfjs sends, once, with a matching filename; else a 400."""
    name, filename = part.name, part.filename
    if name not in UPLOAD_PARTS:
        raise web.HTTPBadRequest(
            text=f"upload refused: unexpected part {name!r}; accepted parts: {', '.join(UPLOAD_PARTS)}")
    if filename is not None and filename != name:
        raise web.HTTPBadRequest(text=f"upload refused: part {name!r} has filename {filename!r}; "
                                      f"the only accepted filename is {name!r}")
    if name in seen:
        raise web.HTTPBadRequest(text=f"upload refused: part {name!r} sent twice")
    return name
