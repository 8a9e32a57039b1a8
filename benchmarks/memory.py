"""Peak memory of the commands on hostile and very large photos.

    .venv/bin/python -m benchmarks.memory            # or: make memory

Makes the photos in a temporary folder (a real face from ``../shared/data/celebs`` pasted
large into a textured 48 MP frame): a 48 MP JPEG, the same turned sideways with an EXIF
orientation tag (as phones write them), a 12 MP JPEG, a 48 MP PNG, and a 1 MB PNG that
declares 20000 x 20000 pixels (a decompression bomb). Runs the real ``edge-enroll`` and
``edge-identify`` on each under ``/usr/bin/time -v`` and prints the peak resident memory,
the seconds, the exit status and the line the command printed, against the budget
(400 MB). Exits non-zero when a command goes over it or ends in a traceback.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import cv2
import numpy as np

BUDGET_MB = 400


def photos(data: Path, out: Path) -> dict[str, Path]:
    """name -> path of each test photo, made in ``out``."""
    from PIL import Image

    face = cv2.imread(str(sorted((data / "celebs" / "iu").glob("*.jpg"))[0]))
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(60, 200, (6000, 8000, 3), dtype=np.uint8), (0, 0), 3)
    frame[2000:4000, 3000:5000] = cv2.resize(face, (2000, 2000), interpolation=cv2.INTER_CUBIC)
    made = {"48 MP JPEG": out / "p48.jpg", "48 MP JPEG, EXIF-rotated": out / "p48_exif.jpg",
            "12 MP JPEG": out / "p12.jpg", "48 MP PNG": out / "p48.png",
            "PNG bomb (20000 x 20000)": out / "bomb.png"}
    cv2.imwrite(str(made["48 MP JPEG"]), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(made["48 MP PNG"]), frame)
    cv2.imwrite(str(made["12 MP JPEG"]), cv2.resize(frame, (4000, 3000), interpolation=cv2.INTER_AREA))
    sideways = Image.fromarray(np.ascontiguousarray(np.rot90(frame[:, :, ::-1])))
    exif = Image.Exif()
    exif[0x0112] = 6        # stored turned; shown upright after a quarter turn clockwise
    sideways.save(made["48 MP JPEG, EXIF-rotated"], "JPEG", quality=90, exif=exif)
    made["PNG bomb (20000 x 20000)"].write_bytes(bomb_png(20_000, 20_000))
    return made


def bomb_png(width: int, height: int) -> bytes:
    """A real PNG of zeros: about 1 MB that unpacks into width x height x 3 bytes."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\0" * (1 + 3 * width)
    z = zlib.compressobj(9)
    pixels = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def measure(cmd: list[str]) -> dict:
    """Peak RSS (MB), seconds, exit status and the last line of output of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    said = [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip() and not line.startswith("\t") and "Command exited" not in line]
    return {"peak_mb": int(rss.group(1)) / 1024 if rss else float("nan"), "seconds": seconds,
            "status": proc.returncode, "said": said[-1] if said else "",
            "traceback": "Traceback" in proc.stderr}


@click.command()
@click.option("--data", default="../shared/data", show_default=True, type=click.Path(file_okay=False))
@click.option("--bundle", default="accurate", show_default=True)
def main(data, bundle):
    bin_dir = Path(sys.executable).parent
    worst, failed = 0.0, False
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        made = photos(Path(data), tmp)
        click.echo(f"{'photo':<28}{'command':<15}{'peak MB':>8}{'s':>6}{'exit':>5}  output")
        for name, path in made.items():
            gallery = tmp / "g.db"
            gallery.unlink(missing_ok=True)
            for command, args in (("edge-enroll", ["Ada", "--image", str(path)]),
                                  ("edge-identify", ["--images", str(path)])):
                if command == "edge-identify" and not gallery.exists():
                    subprocess.run([str(bin_dir / "edge-enroll"), "Ada", "--image",
                                    str(made["12 MP JPEG"]), "--gallery", str(gallery),
                                    "--bundle", bundle], capture_output=True, check=True)
                r = measure([str(bin_dir / command), *args, "--gallery", str(gallery),
                             "--bundle", bundle])
                worst = max(worst, r["peak_mb"])
                failed |= r["traceback"] or r["peak_mb"] > BUDGET_MB
                click.echo(f"{name:<28}{command:<15}{r['peak_mb']:>8.0f}{r['seconds']:>6.1f}"
                           f"{r['status']:>5}  {r['said'][:70]}")
    click.echo(f"worst peak {worst:.0f} MB against a budget of {BUDGET_MB} MB: "
               f"{'over' if worst > BUDGET_MB else 'within'}"
               + ("; a traceback was printed" if failed and worst <= BUDGET_MB else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
