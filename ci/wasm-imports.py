#!/usr/bin/env python3
"""Lists a wasm module's imports and fails if there are any: the core must
not reach the host (no clock, no randomness, no I/O)."""
import sys


def leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def imports(data):
    assert data[:4] == b"\0asm", "not a wasm module"
    i = 8
    found = []
    while i < len(data):
        section, i = data[i], i + 1
        size, i = leb(data, i)
        end = i + size
        if section == 2:
            count, j = leb(data, i)
            for _ in range(count):
                n, j = leb(data, j)
                module = data[j:j + n].decode()
                j += n
                n, j = leb(data, j)
                name = data[j:j + n].decode()
                j += n
                kind = data[j]
                j += 1
                if kind == 0:
                    _, j = leb(data, j)
                elif kind == 1:
                    j += 1
                    flags, j = leb(data, j)
                    _, j = leb(data, j)
                    if flags & 1:
                        _, j = leb(data, j)
                elif kind == 2:
                    flags, j = leb(data, j)
                    _, j = leb(data, j)
                    if flags & 1:
                        _, j = leb(data, j)
                elif kind == 3:
                    j += 2
                found.append(f"{module}.{name}")
        i = end
    return found


if __name__ == "__main__":
    path = sys.argv[1]
    data = open(path, "rb").read()
    found = imports(data)
    print(f"{path}: {len(data)} bytes, {len(found)} imports")
    for name in found:
        print(f"  import {name}")
    sys.exit(1 if found else 0)
