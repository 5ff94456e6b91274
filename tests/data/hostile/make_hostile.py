#!/usr/bin/python3
"""Writes the committed hostile-input files of tests/cli/test_hostile_inputs.cpp (rerun to regenerate).

Only what the C++ test cannot make with OpenCV alone lives here: animations, CMYK, hand-built headers with valid
checksums. Every file is tiny; the test adds truncations, empty files, symlink loops and the like at run time.
Needs Debian's python3-numpy and python3-pil (run with /usr/bin/python3).
"""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent


def pattern(w, h):
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([(x * 40) % 256, (y * 40) % 256, ((x + y) * 20) % 256], -1).astype(np.uint8))


def save(name, im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    (HERE / name).write_bytes(b.getvalue())


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, rows, color_type=2, depth=8, crc_ok=True):
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows))
    if not crc_ok:
        body = body[:-4] + bytes(4)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def main():
    frames = [pattern(12, 10), pattern(12, 10).rotate(90), pattern(12, 10).transpose(Image.FLIP_LEFT_RIGHT)]
    # Animations: giflib (our GIF decoder) and OpenCV 4.6 (APNG) read the first frame; OpenCV refuses animated WebP.
    save("animated.gif", frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0, duration=50)
    save("animated_apng.png", frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50)
    save("animated.webp", frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50, lossless=True)
    save("cmyk.jpg", pattern(16, 12).convert("CMYK"), "JPEG", quality=90)
    # A decompression bomb: a valid 65535x65535 RGB header over a few bytes of data (a decoder that trusted it
    # would allocate 12 GiB); its single row is all the data there is.
    (HERE / "bomb_65535x65535.png").write_bytes(png(65535, 65535, bytes(1 + 3 * 65535)))
    # The same header in a JPEG: SOF0 claims 65500x65500, the scan is an 8x8 block.
    b = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 40, 200)).save(b, "JPEG")
    jpg = bytearray(b.getvalue())
    sof = jpg.index(b"\xff\xc0")
    jpg[sof + 5:sof + 9] = struct.pack(">HH", 65500, 65500)
    (HERE / "bomb_65500x65500.jpg").write_bytes(bytes(jpg))
    # A PNG whose IHDR CRC is wrong, and one whose IDAT holds fewer rows than the header says.
    (HERE / "bad_crc.png").write_bytes(png(4, 4, bytes(4 * 13), crc_ok=False))
    (HERE / "short_idat.png").write_bytes(png(8, 8, bytes(2 * 25)))
    # A TIFF whose first directory offset points past the end of the file.
    (HERE / "ifd_past_end.tif").write_bytes(b"II*\x00" + struct.pack("<I", 1 << 30) + bytes(8))
    # A BMP whose info header claims -2147483648 rows (top-down), and a PPM that promises 100000x100000.
    bmp_info = struct.pack("<IiiHHIIiiII", 40, 4, -(1 << 31), 1, 24, 0, 0, 2835, 2835, 0, 0)
    (HERE / "huge_rows.bmp").write_bytes(b"BM" + struct.pack("<IHHI", 14 + 40 + 48, 0, 0, 54) + bmp_info + bytes(48))
    (HERE / "huge_header.ppm").write_bytes(b"P6\n100000 100000\n255\n" + bytes(30))
    # Good-but-unusual: 16-bit grey PNG, grey+alpha PNG, palette PNG with transparency.
    Image.fromarray((np.arange(120).reshape(10, 12) * 500).astype(np.uint16)).save(HERE / "gray16.png")
    pattern(9, 9).convert("LA").save(HERE / "gray_alpha.png")
    pattern(9, 9).convert("P").save(HERE / "palette_trns.png", transparency=3)


if __name__ == "__main__":
    main()
    files = [p for p in HERE.iterdir() if p.suffix != ".py"]
    print(f"{HERE}: {len(files)} files, {sum(p.stat().st_size for p in files)} bytes")
