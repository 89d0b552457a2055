#!/usr/bin/env python3
"""Writes a stack of N null resources for apply and plan benchmarks.

Usage: bench/gen_null_chains.py N OUT_DIR [--chain K] [--world]

Resources come in chains of K (default 10): the first of each chain has a
constant trigger, every other one has the id of the one before it as a
trigger, so each chain waits on ids known only at apply. `--chain 1` gives
independent resources. `--world` writes `test_resource`s (the file-backed test
world, `INFRA_TEST_WORLD`) instead of `null_resource`s. Split into files of
1,000 resources. Deterministic for given arguments.
"""

import os
import sys


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n, out = int(args[0]), args[1]
    chain = 10
    if "--chain" in sys.argv:
        chain = int(sys.argv[sys.argv.index("--chain") + 1])
        args = [a for a in args if a != str(chain)] if len(args) > 2 else args
    world = "--world" in sys.argv
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.endswith(".infra"):
            os.remove(os.path.join(out, name))
    kind = "test_resource" if world else "null_resource"
    files = {}
    for i in range(n):
        link = i % chain
        if world:
            value = '"start"' if link == 0 else f"{kind}.r{i - 1}.id"
            body = f'  name  = "r{i}"\n  value = {value}\n'
        else:
            trigger = '"start"' if link == 0 else f"{kind}.r{i - 1}.id"
            body = f"  triggers = {{ prev = {trigger} }}\n"
        files.setdefault(i // 1000, []).append(f'resource "{kind}" "r{i}" {{\n{body}}}\n')
    for index, blocks in files.items():
        with open(os.path.join(out, f"r{index:04}.infra"), "w") as f:
            f.write("\n".join(blocks))


if __name__ == "__main__":
    main()
