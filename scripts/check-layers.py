#!/usr/bin/env python3
"""Find import cycles between the modules of a crate (default: crates/host/src).

Reads every `.rs` file, drops comments and the `#[cfg(test)]` part at the end of a
file (tests may reach anywhere), and collects the module paths the code names:
`crate::a::b`, `super::x` (resolved against the file's module) and, for files of a
folder module, `self::x`. Each reference becomes an edge between sibling modules at
every level (`abi::send -> abi::async_io` inside `abi`, `backends -> session` at the
top). A strongly connected group of two or more siblings is a cycle: printed, and
the exit code is 1.

    scripts/check-layers.py [--graph] [SRC_DIR]

`--graph` also prints every edge, bottom-up order first.
"""
import re
import sys
from pathlib import Path


def module_of(src: Path, f: Path) -> list[str]:
    parts = list(f.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def strip(text: str) -> str:
    # Test code at the end of a file may use anything.
    m = re.search(r"^#\[cfg\(test\)\]", text, re.M)
    if m:
        text = text[: m.start()]
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}", re.S)


def references(text: str, here: list[str], is_folder: bool) -> list[list[str]]:
    out = []

    def resolve(root: str, rest: list[str]) -> list[str] | None:
        # The module a file of `here` names: `self` of a folder module is itself.
        base = here if is_folder else here[:-1]
        if root == "crate":
            return rest
        if root == "self":
            return (here if is_folder else here) + rest
        # super: the parent of this module.
        parent = here[:-1]
        while rest and rest[0] == "super":
            parent = parent[:-1]
            rest = rest[1:]
        _ = base
        return parent + rest

    for m in GROUP.finditer(text):
        head = [p for p in m.group(2).split("::") if p]
        for item in re.split(r",", m.group(3)):
            item = item.strip().split(" as ")[0].strip()
            if not item or item.startswith("{"):
                continue
            names = [p for p in item.split("::") if p and p != "self"]
            r = resolve(m.group(1), head + names[:1])
            if r is not None:
                out.append(r)
    for m in PATH.finditer(text):
        rest = [p for p in m.group(2).split("::") if p]
        r = resolve(m.group(1), rest)
        if r is not None:
            out.append(r)
    return out


def sccs(nodes, edges):
    index, low, stack, on, result = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
            result.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return result


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show = "--graph" in sys.argv
    src = Path(args[0] if args else "crates/host/src")
    files = sorted(src.rglob("*.rs"))
    modules = {tuple(module_of(src, f)) for f in files}
    # Sibling edges: parent -> {child -> {child}}.
    edges: dict[tuple, dict[str, set[str]]] = {}
    why: dict[tuple, str] = {}
    for f in files:
        here = module_of(src, f)
        is_folder = f.name in ("mod.rs", "lib.rs", "main.rs")
        text = strip(f.read_text(encoding="utf-8"))
        for ref in references(text, here, is_folder):
            # The longest prefix that is a module.
            target = list(ref)
            while target and tuple(target) not in modules:
                target.pop()
            # Compare with `here` to find the sibling level where they part.
            i = 0
            while i < min(len(here), len(target)) and here[i] == target[i]:
                i += 1
            if i >= len(here) or i >= len(target):
                continue  # one contains the other: not a sibling edge
            parent = tuple(here[:i])
            a, b = here[i], target[i]
            edges.setdefault(parent, {}).setdefault(a, set()).add(b)
            why.setdefault((parent, a, b), f"{f.relative_to(src)}: {'::'.join(ref)}")
    bad = 0
    for parent in sorted(edges):
        g = edges[parent]
        nodes = set(g) | {b for bs in g.values() for b in bs}
        where = "::".join(parent) or "crate"
        for comp in sccs(nodes, g):
            if len(comp) > 1:
                bad += 1
                print(f"cycle in {where}: {' <-> '.join(comp)}")
                for a in comp:
                    for b in sorted(g.get(a, ())):
                        if b in comp:
                            print(f"  {a} -> {b}   ({why[(parent, a, b)]})")
        if show:
            for a in sorted(g):
                print(f"{where}: {a} -> {', '.join(sorted(g[a]))}")
    if bad:
        print(f"{bad} import cycle(s) in {src}")
        return 1
    print(f"no import cycles in {src} ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
