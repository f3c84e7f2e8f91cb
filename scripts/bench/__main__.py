"""``make bench``: run the benchmark suites and record them in docs/benchmarks.md.

python -m scripts.bench                 # every suite
python -m scripts.bench --suite gateway # one suite
python -m scripts.bench --suite detectors --detector fft_spectral --requests 100 --threads 1
python -m scripts.bench --suite detect  # /detect latency at 1024x1024 and the PNG/JPEG gap, real stack
python -m scripts.bench --suite unseen  # fused and per-detector ROC-AUC on held-out package images, real stack
python -m scripts.bench --suite abuse   # 8 concurrent 39.6 MP uploads: stack RSS, answers, recovery
python -m scripts.bench --suite jobs    # /detect p50 alone and while a 1,000-image batch job runs
"""

from __future__ import annotations

import argparse
import sys

from scripts.bench import abuse, detect, detectors, gateway_fanout, jobs, quality, unseen, video
from scripts.bench.report import write_section

# suite name -> (title, runner returning the markdown body)
SUITES = {
    "gateway": ("Gateway fan-out (foundation)", gateway_fanout.run),
    "video": ("Video: Cross-Efficient-ViT detector and keyframes (issue 5)", video.run),
    "detectors": ("Image detectors: throughput, batching and SDK overhead (issue 4)", detectors.run),
    "detect": ("/detect end to end: 1024x1024 latency and PNG/JPEG format gap (issue 12)", detect.run),
    "quality": ("Detection quality, leave-source-out (issue 12)", quality.run),
    "unseen": ("Detection on held-out sources, whole uploads through the stack (issue 12)", unseen.run),
    "abuse": ("Huge images under load: memory-bounded decoding (issue 13)", abuse.run),
    "jobs": ("Batch jobs beside interactive /detect (issue 14)", jobs.run),
}


def _suite_options(name: str, args: argparse.Namespace) -> dict:
    """Keyword arguments of one suite's runner from the command line (the detectors and detect suites)."""
    if name in ("detect", "jobs"):
        return {} if args.requests is None else {"requests": args.requests}
    if name != "detectors":
        return {}
    options = {"names": args.detector, "requests": args.requests, "threads": args.threads}
    return {k: v for k, v in options.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", choices=sorted(SUITES), action="append", help="run only these suites")
    parser.add_argument(
        "--detector",
        choices=sorted(detectors.IMAGE_DETECTORS),
        action="append",
        help="detectors suite: measure only these detectors (default: every image detector)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        help="detectors suite: measured requests per configuration (default: about 8 s worth each); "
        "detect suite: timed /detect requests at the default crop count (default 30); "
        "jobs suite: timed /detect requests per condition (default 30)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="detectors suite: OMP/MKL/torch threads of the services and the bare loop (default: as deployed)",
    )
    args = parser.parse_args(argv)
    for name in args.suite or list(SUITES):
        title, runner = SUITES[name]
        print(f"running {name} benchmark…", flush=True)
        body = runner(**_suite_options(name, args))
        path = write_section(
            name, title, body, command=f"make bench  # python -m scripts.bench --suite {name}"
        )
        print(body)
        print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
