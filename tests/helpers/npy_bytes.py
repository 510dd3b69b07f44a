"""`.npy` file bytes for the tests that write damaged or unusual archives."""

import io

import numpy as np


def npy(array: np.ndarray, shape: tuple | None = None) -> bytes:
    """`array` as .npy bytes; `shape` rewrites the shape in the header (a damaged file)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    raw = buffer.getvalue()
    if shape is not None:
        end = raw.index(b"\n")
        header = raw[:end].replace(repr(array.shape).encode(), repr(shape).encode())
        raw = header.ljust(end) + raw[end:]
    return raw
