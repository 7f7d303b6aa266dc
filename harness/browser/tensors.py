"""Tensors between Python and the page: base64 of the typed array's little-endian bytes, plus shape and dtype."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

SUPPORTED_DTYPES = ("float32", "int32")


def encode_tensor(array: np.ndarray) -> dict[str, Any]:
    """``{shape, dtype, b64}`` for the page; only float32 and int32 cross the boundary."""
    if str(array.dtype) not in SUPPORTED_DTYPES:
        raise TypeError(f"cannot send {array.dtype} to the browser (supported: {', '.join(SUPPORTED_DTYPES)})")
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return {"shape": list(array.shape), "dtype": str(array.dtype), "b64": base64.b64encode(little.tobytes()).decode()}


def decode_named(raw: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """``[{name, value: {shape, dtype, b64}}]`` from the page (weights, variables) as arrays by name."""
    return {entry["name"]: decode_tensor(entry["value"]) for entry in raw}


def decode_tensor(encoded: dict[str, Any]) -> np.ndarray:
    """The numpy array for a ``{shape, dtype, b64}`` sent by the page."""
    dtype = np.dtype(encoded["dtype"]).newbyteorder("<")
    data = np.frombuffer(base64.b64decode(encoded["b64"]), dtype=dtype)
    return data.reshape(encoded["shape"]).astype(dtype.newbyteorder("="), copy=False)
