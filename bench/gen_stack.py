#!/usr/bin/env python3
"""Writes a synthetic stack of N resources for benchmarks.

Usage: bench/gen_stack.py N OUT_DIR [--files K]

The stack mixes everything the front end has to handle: variables with
validation, environments, locals, `null_resource` and `local_file` resources
that reference earlier ones, `for_each` and `count`, heredocs, comments of all
three kinds and outputs. A resource is about 100 bytes on average (80 to 170;
comments on 4 in 10, one line each), so 100,000 resources come to about
10 MB. The output is deterministic for a given N.
"""

import os
import sys


def resource(i: int) -> str:
    kind = i % 10
    prev = f"null_resource.r{i - 1}.id" if i > 0 else '"root"'
    if i > 0 and (i - 1) % 10 == 5:
        # The previous resource is counted: refer to its first instance.
        prev = f"null_resource.r{i - 1}[0].id"
    if kind == 0:
        # 1 in 10: a file per port, with for_each, interpolation and a heredoc.
        return (
            f"# r{i}: per port\n"
            f'resource "local_file" "r{i}" {{\n'
            f"  for_each = local.ports\n"
            f'  path     = "out/r{i}-${{each.key}}"\n'
            f"  content  = <<EOT\n"
            f"PORT=${{each.value}}\n"
            f"EOT\n"
            f"}}\n"
        )
    if kind == 5:
        # 1 in 10: counted, with an object value.
        return (
            f'/* r{i} */\n'
            f'resource "null_resource" "r{i}" {{\n'
            f"  count    = var.replicas\n"
            f"  triggers = {{ i = count.index, after = {prev} }}\n"
            f"}}\n"
        )
    if kind in (2, 7):
        # 2 in 10: a comment and an interpolated name.
        return (
            f"// r{i}\n"
            f'resource "null_resource" "r{i}" {{\n'
            f'  triggers = {{ name = "${{var.prefix}}-{i}", after = {prev} }}\n'
            f"}}\n"
        )
    if kind in (3, 8):
        # 2 in 10: arithmetic and a call, no reference to another resource.
        return (
            f'resource "null_resource" "r{i}" {{\n'
            f"  inputs = {i % 7} * 2 + length(local.tags)\n"
            f"}}\n"
        )
    # 4 in 10: the smallest resource, one reference.
    return (
        f'resource "null_resource" "r{i}" {{\n'
        f"  triggers = {{ after = {prev} }}\n"
        f"}}\n"
    )


HEADER = '''stack "bench" {
  default_environment = "dev"
}

variable "prefix" {
  type    = string
  default = "bench"
  validate {
    condition = length(var.prefix) > 0
    message   = "prefix must not be empty"
  }
}

variable "replicas" {
  type    = number
  default = 1
}

environment "dev" {
  vars = { replicas = 1 }
}

environment "prod" {
  vars      = { replicas = 2 }
  protected = true
}

locals {
  ports = { api = 8080, worker = 8081 }
  tags  = ["bench", "generated"]
}
'''


def main() -> None:
    args = sys.argv[1:]
    files = 1
    if "--files" in args:
        at = args.index("--files")
        files = int(args[at + 1])
        del args[at : at + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    count, out = int(args[0]), args[1]
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.endswith(".infra"):
            os.remove(os.path.join(out, name))
    # Null resources only reference lower-numbered null resources, so they must
    # all be present: every r{i} with i % 10 != 0 is a null_resource. Fix up
    # references to local_file resources by pointing them further back.
    per_file = (count + files - 1) // files
    for f in range(files):
        parts = [HEADER] if f == 0 else []
        for i in range(f * per_file, min(count, (f + 1) * per_file)):
            text = resource(i)
            if i % 10 == 1:
                # The previous resource is a local_file; refer to the one before.
                before = f"null_resource.r{i - 2}.id" if i >= 2 else '"root"'
                text = text.replace(f"null_resource.r{i - 1}.id", before)
            parts.append(text)
        last = count - 1 if (count - 1) % 10 else count - 2
        if f == 0:
            parts.append(
                'output "last_id" {\n'
                f"  value = null_resource.r{last}{'[0]' if last % 10 == 5 else ''}.id\n"
                "}\n"
            )
        with open(os.path.join(out, f"part{f:03}.infra"), "w") as handle:
            handle.write("\n".join(parts))


if __name__ == "__main__":
    main()
