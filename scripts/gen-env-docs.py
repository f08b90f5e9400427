#!/usr/bin/env python3
"""Regenerates docs/env-vars.md from the doc comments in src/envvars.rs (the one place every
environment variable is declared). Run after adding a variable; tests/docs_env.rs checks it."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
src = (root / "src/envvars.rs").read_text()
rows, doc, section = [], [], None
for line in src.splitlines():
    s = line.strip()
    if s.startswith("// ----"):
        section = s.strip("/ -").strip()
        rows.append(("section", section, ""))
    elif s.startswith("///"):
        doc.append(s[3:].strip())
    elif m := re.match(r'pub const \w+: &str = "([^"]+)";', s):
        rows.append(("var", m.group(1), " ".join(doc)))
        doc = []
    elif not s.startswith("//"):
        doc = []

out = ["# Environment variables", "",
       "Generated from `src/envvars.rs` by `scripts/gen-env-docs.py`; do not edit by hand.", "",
       "Provider API-key variables (`OPENROUTER_API_KEY`, `DEEPSEEK_API_KEY`, …) and their base-URL",
       "overrides are data: see the `api_key_env_vars` and `base_url_env` columns of",
       "`src/providers/registry.tsv`.", ""]
header = ["| variable | effect |", "|---|---|"]
out += ["## General", ""] + header
for kind, name, text in rows:
    if kind == "section":
        out += ["", f"## {name}", ""] + header
    else:
        cell = text.replace("|", "\\|")
        out.append(f"| `{name}` | {cell} |")
text = "\n".join(out) + "\n"
target = root / "docs/env-vars.md"
if "--check" in sys.argv:
    sys.exit(0 if target.exists() and target.read_text() == text else 1)
target.write_text(text)
