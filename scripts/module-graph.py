#!/usr/bin/env python3
"""The module graph of each crate, and its import circles.

    scripts/module-graph.py            # circles only; exit 1 when there is one (make lint)
    scripts/module-graph.py --edges    # every edge, "crate: a -> b (file)", for reading the graph
    scripts/module-graph.py --dot      # Graphviz of the top-level modules (dot -Tsvg)

For every module directory (a crate's src/ and each folder module in it) the graph has one node per child
module; a child A depends on a sibling B when a file of A (or below A) names `crate::…B`, `super::…B` or
`self::…B`-relative paths that resolve into B. A circle is a set of siblings that depend on each other; a
parent (`mod.rs`) naming its own children is not one. `main.rs` is skipped: it only calls into lib.rs.
Reads `use` trees with braces (`use crate::{a, b::{c, d}}`) and inline paths (`crate::a::f()`).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["runtime", "monitor", "sys", "integration", "shim-tests"]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(src, path):
    """Module path (list) of the file `path` under crate dir `src`."""
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return re.sub(r"//[^\n]*", "", text)


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (paths as lists)."""
    tree = tree.replace(" ", "").replace("\n", "")
    out = []

    def walk(prefix, s):
        depth, parts, cur = 0, [], ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            m = re.match(r"^(.*?)::\{(.*)\}$", p, re.S)
            if m:
                walk(prefix + m.group(1).split("::"), m.group(2))
            elif p.startswith("{") and p.endswith("}"):
                walk(prefix, p[1:-1])
            else:
                p = re.sub(r"as" + IDENT + "$", "", p) if "as" in p and "::" not in p.split("as")[-1] else p
                out.append(prefix + [x for x in p.split("::") if x])

    walk([], tree)
    return out


def referenced_paths(text, module):
    """Absolute module paths named in `text`, a file of module `module`."""
    paths = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", text, re.S):
        paths.extend(expand_use_tree(m.group(1)))
    for m in re.finditer(r"(?<![:\w])((?:crate|super|self)(?:::" + IDENT + ")+)", text):
        paths.append(m.group(1).split("::"))
    resolved = []
    for p in paths:
        base = list(module)
        if p and p[0] == "crate":
            base, p = [], p[1:]
        while p and p[0] in ("super", "self"):
            if p[0] == "super":
                base = base[:-1]
            p = p[1:]
        resolved.append(base + [re.sub(r"as.*$", "", x) if " " in x else x for x in p])
    return resolved


def crate_edges(crate):
    src = os.path.join(ROOT, crate, "src")
    files = []
    for d, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs") and not (d == src and n == "main.rs") and "/bin" not in d[len(src) :]:
                files.append(os.path.join(d, n))
    modules = {tuple(module_of(src, f)) for f in files}
    edges = {}
    for f in files:
        mod = module_of(src, f)
        text = strip_comments(open(f, encoding="utf-8").read())
        for target in referenced_paths(text, mod):
            # The deepest module the path names (items are cut off).
            while target and tuple(target) not in modules:
                target = target[:-1]
            common = 0
            while common < min(len(mod), len(target)) and mod[common] == target[common]:
                common += 1
            if common == len(mod) or common == len(target):
                continue  # a parent naming its child, or a child its ancestor's items
            parent = tuple(mod[:common])
            a, b = mod[common], target[common]
            edges.setdefault(parent, {}).setdefault(a, {}).setdefault(b, os.path.relpath(f, ROOT))
    return edges


def circles(graph):
    """Strongly connected components of size > 1 (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    found = 0
    if mode == "--dot":
        print("digraph modules {")
    for crate in CRATES:
        for parent, graph in sorted(crate_edges(crate).items()):
            where = crate + ("::" + "::".join(parent) if parent else "")
            if mode == "--edges":
                for a in sorted(graph):
                    for b, f in sorted(graph[a].items()):
                        print(f"{where}: {a} -> {b} ({f})")
            elif mode == "--dot" and not parent:
                for a in sorted(graph):
                    for b in sorted(graph[a]):
                        print(f'  "{crate}::{a}" -> "{crate}::{b}";')
            for comp in circles(graph):
                found += 1
                chain = "; ".join(f"{a} -> {b} ({graph[a][b]})" for a in comp for b in graph[a] if b in comp)
                print(f"import circle in {where}: {', '.join(comp)}: {chain}", file=sys.stderr)
    if mode == "--dot":
        print("}")
    if found:
        sys.exit(1)
    if not mode:
        print(f"module graph: no import circles in {', '.join(CRATES)}")


if __name__ == "__main__":
    main()
