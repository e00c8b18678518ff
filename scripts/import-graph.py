#!/usr/bin/env python3
"""Draws the host's import graph between folders (a crate's top-level
modules, a folder counting as one) and between crates, and fails if either
has a loop. Two single files that import each other (one concept split
in two, like the engine and the formatter it loads) are listed, not
failed; files inside one folder are not looked at.

    python3 scripts/import-graph.py          # check; prints the loops
    python3 scripts/import-graph.py --dot    # the folder graph, Graphviz
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "host")
CRATES = {"exporter": os.path.join(ROOT, "src")}
for name in sorted(os.listdir(os.path.join(ROOT, "crates"))):
    CRATES["exporter_" + name] = os.path.join(ROOT, "crates", name, "src")
# The WIT contract's vocabulary, shared with the plugin SDK.
CRATES["exporter_wit"] = os.path.join(ROOT, "..", "wit", "vocabulary", "src")


def top_module(src, path):
    rel = os.path.relpath(path, src).split(os.sep)
    return rel[0][:-3] if len(rel) == 1 else rel[0]


def uses(text):
    """`crate::a`, `super::a` at top level, and `exporter_x::a` paths."""
    text = re.sub(r"//[^\n]*", "", text)
    for m in re.finditer(r"\b(crate|exporter_\w+)::(?:\{([^}]*)\}|(\w+))", text):
        root, group, single = m.groups()
        names = [single] if single else re.findall(r"(?:^|,)\s*(\w+)", group)
        for name in names:
            yield root, name


def main():
    folder_edges, crate_edges = set(), set()
    for crate, src in CRATES.items():
        modules = {
            top_module(src, os.path.join(d, f))
            for d, _, fs in os.walk(src) for f in fs if f.endswith(".rs")
        }
        for d, _, fs in os.walk(src):
            for f in fs:
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(d, f)
                here = top_module(src, path)
                text = open(path).read()
                if os.path.dirname(path) == src:
                    # In a file at the crate's top, `super::` is the crate.
                    text = re.sub(r"\bsuper::", "crate::", text)
                for root, name in uses(text):
                    if root == "crate":
                        if name in modules and name != here and here not in ("lib", "main"):
                            folder_edges.add((f"{crate}::{here}", f"{crate}::{name}"))
                    elif root != crate and root in CRATES:
                        crate_edges.add((crate, root))
    if "--dot" in sys.argv:
        print("digraph imports {")
        for a, b in sorted(folder_edges | crate_edges):
            print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    loops = cycles(crate_edges) + [
        loop for loop in cycles(folder_edges)
        if len(loop) > 2 or any(is_folder(m) for m in loop)
    ]
    pairs = [loop for loop in cycles(folder_edges) if loop not in loops]
    for loop in loops:
        print("loop: " + " -> ".join(loop + [loop[0]]))
    for pair in pairs:
        print("two files of one concept: " + " <-> ".join(pair))
    print(f"{len(CRATES)} crates, {len(crate_edges)} crate edges, "
          f"{len(folder_edges)} folder edges, {len(loops)} loops")
    return 1 if loops else 0


def is_folder(module):
    crate, name = module.split("::")
    return os.path.isdir(os.path.join(CRATES[crate], name))


def cycles(edges):
    """Strongly connected components of more than one node."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
