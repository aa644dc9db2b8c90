"""Writing YAML: libyaml's C emitter where PyYAML was built with it, else the pure-Python one.

Both emit the same text for the plain data written here (mappings, lists, strings, numbers); the C
emitter is about five times faster on a resolved scenario. Reading YAML lives in ``sim.scenario``.
"""

from __future__ import annotations

from typing import Any

import yaml

# CSafeDumper is not a SafeDumper subclass (it mixes in the C emitter), hence ``type``.
DUMPER: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_yaml(data: Any, sort_keys: bool = False) -> str:
    """YAML text of plain data (safe types only), Unicode kept as is, block style."""
    return yaml.dump(data, Dumper=DUMPER, sort_keys=sort_keys, allow_unicode=True)
