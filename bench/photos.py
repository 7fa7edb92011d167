"""Server CPU per photo ingest, and peak memory over a run of large photos.

    python -m bench.photos [--runs 25] [--photos-dir DIR]

Ingest = photos.inspect(): SHA-256, format check, EXIF, one reduced-scale decode,
pHash and the 256-px thumbnail. Timed on the real 13-megapixel Oppo R7 Plus JPEG and a
12-megapixel iPhone 8 HEIC from shared/testdata/photos. CPU time is process_time()
(all threads of the process, so libheif's decoder threads count too).
"""

import argparse
import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import imagehash
from PIL import Image

from bench import cpu_model, summary
from config import BASE_DIR
from server.services import photos

DEFAULT_DIR = Path(os.environ.get("PHOTOS_DIR") or BASE_DIR.parent / "shared/testdata/photos")
JPEG = "mei_oppo_r7plus.jpg"
HEIC = "mei_iphone8_IMG_1034.heic"
LIMITS = {"max_bytes": 30 * 1024 * 1024, "max_pixels": 100_000_000}


def timed(function, runs):
    function()  # warm-up: imports, decoder set-up
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return wall, cpu


def naive(data):
    # What the pipeline avoids: full-resolution decode, then hash and resize.
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        imagehash.phash(image)
        image.convert("RGB").resize((256, 192)).save(io.BytesIO(), "JPEG")


def report(label, function, runs):
    wall, cpu = timed(function, runs)
    print(f"  {label:38s} cpu {summary(cpu)}")
    print(f"  {'':38s} wall {summary(wall)}")


def timings(directory: Path, runs: int) -> None:
    jpeg = (directory / JPEG).read_bytes()
    heic = (directory / HEIC).read_bytes()
    print(f"ingest, {JPEG} ({len(jpeg) / 1e6:.1f} MB, 3120x4160):")
    report("photos.inspect (the ingest path)", lambda: photos.inspect(jpeg, **LIMITS), runs)
    report("  of which SHA-256", lambda: hashlib.sha256(jpeg).digest(), runs)
    report("photos.render display (first view)", lambda: photos.render(jpeg, "display"), runs)
    report("naive: full decode + pHash + resize", lambda: naive(jpeg), max(5, runs // 4))
    print(f"ingest, {HEIC} ({len(heic) / 1e6:.1f} MB, 4032x3024):")
    report("photos.inspect (the ingest path)", lambda: photos.inspect(heic, **LIMITS), runs)
    print("ingest, every other HEIC (5 runs each; no reduced-scale decode exists for HEVC):")
    for path in sorted(directory.glob("*.heic")):
        if path.name != HEIC:
            data = path.read_bytes()
            report(path.name, lambda data=data: photos.inspect(data, **LIMITS), 5)


def large_photos(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.glob("*") if p.suffix in (".jpg", ".heic") and p.stat().st_size > 1e6
    )


def _status_kb(field: str) -> int:
    # VmHWM is the peak resident set of this process image. getrusage's ru_maxrss is
    # not: Linux carries it across exec, so a child would report its parent's peak.
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_rss(directory: Path, count: int) -> None:
    """Run in a fresh process so that only this workload sets the high-water mark."""
    files = large_photos(directory)
    base = _status_kb("VmHWM")
    for i in range(count):
        photos.inspect(files[i % len(files)].read_bytes(), **LIMITS)
    peak = _status_kb("VmHWM")
    print(
        f"  {count} large photos ({len(files)} files, JPEG and HEIC, 1-3 MB, 8-13 MP) in turn:"
        f" peak RSS {peak / 1024:.0f} MB (after imports: {base / 1024:.0f} MB)"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--photos-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--rss-count", type=int, default=100)
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not (args.photos_dir / JPEG).is_file():
        sys.exit(f"test photos not found in {args.photos_dir} (set --photos-dir or PHOTOS_DIR)")
    if args.rss_only:
        peak_rss(args.photos_dir, args.rss_count)
        return
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    timings(args.photos_dir, args.runs)
    print("peak memory (VmHWM of a fresh process; includes native decoder buffers):")
    command = [sys.executable, "-m", "bench.photos", "--rss-only"]
    command += ["--photos-dir", str(args.photos_dir), "--rss-count", str(args.rss_count)]
    subprocess.run(command, check=True, cwd=BASE_DIR)


if __name__ == "__main__":
    main()
