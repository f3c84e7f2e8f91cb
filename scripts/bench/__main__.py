"""``make bench``: run the benchmark suites and record them in docs/benchmarks.md.

python -m scripts.bench                 # every suite
python -m scripts.bench --suite gateway # one suite
"""

from __future__ import annotations

import argparse
import sys

from scripts.bench import gateway_fanout, video
from scripts.bench.report import write_section

# suite name -> (title, runner returning the markdown body)
SUITES = {
    "gateway": ("Gateway fan-out (foundation)", gateway_fanout.run),
    "video": ("Video: Cross-Efficient-ViT detector and keyframes (issue 5)", video.run),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", choices=sorted(SUITES), action="append", help="run only these suites")
    args = parser.parse_args(argv)
    for name in args.suite or list(SUITES):
        title, runner = SUITES[name]
        print(f"running {name} benchmark…", flush=True)
        body = runner()
        path = write_section(
            name, title, body, command=f"make bench  # python -m scripts.bench --suite {name}"
        )
        print(body)
        print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
