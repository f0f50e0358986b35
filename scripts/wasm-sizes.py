#!/usr/bin/env python3
"""What a first visit to each route downloads of WASM, as served (brotli):
the main file, plus for a lazy route its own split file and the shared
chunks it needs (from cargo leptos' split manifest). Reads target/site/pkg
of a `cargo leptos build --release --precompress --split`."""
import glob
import json
import os
import sys

PKG = sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg"
BUDGET = 250 * 1024


def brotli(stem: str) -> int:
    return os.path.getsize(os.path.join(PKG, stem + ".wasm.br"))


def main() -> None:
    mains = glob.glob(os.path.join(PKG, "ci-dashboard.*.wasm.br"))
    if len(mains) != 1:
        sys.exit(f"expected one main WASM file in {PKG}, found {len(mains)}")
    main_size = os.path.getsize(mains[0])
    manifests = glob.glob(os.path.join(PKG, "__wasm_split_manifest*.json"))
    routes = {"/ (overview)": []}
    if manifests:
        with open(manifests[0]) as f:
            for name, files in json.load(f).items():
                route = name.removeprefix("__").split("_route_view")[0]
                routes[route] = files
    print("| route | WASM on a first visit, brotli | within 250 KB |")
    print("|---|---|---|")
    for route, files in sorted(routes.items()):
        total = main_size + sum(brotli(f) for f in files)
        print(f"| {route} | {total / 1024:.0f} KB ({total:,} bytes; main {main_size:,}) "
              f"| {'yes' if total <= BUDGET else 'no'} |")
    if main_size > BUDGET:
        sys.exit(f"the overview's first visit downloads {main_size:,} bytes of WASM, over {BUDGET:,}")


main()
