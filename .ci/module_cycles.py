#!/usr/bin/env python3
"""Fails when two modules of a workspace crate import each other in a circle.

Every `.rs` file under a crate's `src/` is one module (`mod.rs` / `lib.rs`
name their folder). An edge A -> B is any path A's code names in B:
`crate::b::...`, `super::...`, `self::...` and bare `b::...` after a `use`
of it, resolved through `pub use` re-exports to the module that defines the
item. Left out, because they are not dependencies between concepts:
- a parent naming its own children in `mod` and `pub use` lines (a facade);
- code under `#[cfg(test)]` (a test may use any helper), and the files of
  modules declared under it (`#[cfg(test)] mod tests;`);
- comments, doc comments and string literals.

Crates cannot form cycles between each other (cargo refuses), so each crate
is checked on its own. Usage: module_cycles.py CRATE_DIR... (exit 1 and the
cycles on stderr when any crate has one).
"""

import re
import sys
from pathlib import Path


def strip_comments_and_strings(text: str) -> str:
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            hashes = m.group(1)
            end = text.find('"' + hashes, i + len(m.group(0)))
            out.append('""')
            i = n if end < 0 else end + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_cfg_test(text: str) -> str:
    """Removes items under #[cfg(test)] (the attribute and the item after it)."""
    out = []
    i = 0
    pattern = re.compile(r"#\[cfg\((test|all\(test[^\]]*|any\(test[^\]]*)\)\]")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i:m.start()])
        j = m.end()
        # Skip to the end of the item: a `;` before any `{`, or the matching `}`.
        depth = 0
        while j < len(text):
            ch = text[j]
            if ch == ";" and depth == 0:
                j += 1
                break
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            j += 1
        i = j
    return "".join(out)


def module_of(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


USE_RE = re.compile(r"\b(pub(\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
MOD_RE = re.compile(r"\b(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
PATH_RE = re.compile(r"\b((?:crate|super|self)(?:\s*::\s*\w+)+)")


def expand_use_tree(tree: str):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (renames dropped)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        if cur:
            parts.append(cur)
        return parts

    def expand(prefix, s):
        if "{" in s:
            head, rest = s.split("{", 1)
            rest = rest[: rest.rfind("}")]
            for item in split_top(rest):
                yield from expand(prefix + head, item)
        else:
            yield prefix + s

    return [p for p in expand("", tree) if p]


def analyse_crate(crate: Path):
    src = crate / "src"
    files = sorted(p for p in src.rglob("*.rs"))
    modules = {module_of(src, f): f for f in files}
    # Test-only modules in files of their own: `#[cfg(test)] mod name;`.
    test_only = set()
    for m, f in modules.items():
        for name in re.findall(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", f.read_text()):
            test_only.add(m + (name,))
    modules = {m: f for m, f in modules.items() if not any(m[: len(t)] == t for t in test_only)}
    code = {}
    for m, f in modules.items():
        code[m] = drop_cfg_test(strip_comments_and_strings(f.read_text()))

    # Re-exports: (module, name) -> module path the name is defined under.
    reexports = {}
    for m, text in code.items():
        for um in USE_RE.finditer(text):
            if not um.group(1):
                continue
            for path in expand_use_tree(um.group(3)):
                segs = resolve_segments(m, path.split("::"), modules)
                if segs is None:
                    continue
                reexports[(m, segs[-1])] = tuple(segs[:-1])

    def resolve(m, segs):
        """The longest module prefix of an absolute path (tuple of names)."""
        segs = list(segs)
        best = ()
        for k in range(len(segs), 0, -1):
            if tuple(segs[:k]) in modules:
                best = tuple(segs[:k])
                break
        # Follow a re-export of the next name, if the path goes on.
        for _ in range(8):
            if len(segs) > len(best) and (best, segs[len(best)]) in reexports:
                target = reexports[(best, segs[len(best)])]
                if target == best:
                    break
                rest = [segs[len(best)]]
                segs = list(target) + rest
                nb = ()
                for k in range(len(segs), 0, -1):
                    if tuple(segs[:k]) in modules:
                        nb = tuple(segs[:k])
                        break
                if nb == best:
                    break
                best = nb
            else:
                break
        return best

    edges = {m: set() for m in modules}
    for m, text in code.items():
        facade_spans = []
        for um in USE_RE.finditer(text):
            if um.group(1):
                facade_spans.append((um.start(), um.end()))
            for path in expand_use_tree(um.group(3)):
                segs = resolve_segments(m, path.split("::"), modules)
                if segs is None:
                    continue
                target = resolve(m, segs)
                if um.group(1) and target[: len(m)] == m:
                    continue  # a parent re-exporting its own child
                add_edge(edges, m, target)
        for pm in PATH_RE.finditer(text):
            if any(a <= pm.start() < b for a, b in facade_spans):
                continue
            path = re.sub(r"\s+", "", pm.group(1)).split("::")
            segs = resolve_segments(m, path)
            if segs is None:
                continue
            add_edge(edges, m, resolve(m, segs))
    return modules, edges


def resolve_segments(m, segs, modules=None):
    """An absolute module path (list of names) for `segs` written in `m`."""
    if not segs:
        return None
    if modules is not None and tuple(m) + (segs[0],) in modules:
        return list(m) + segs  # a child module, named from its parent
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] == "self":
        return list(m) + segs[1:]
    if segs[0] == "super":
        base = list(m)
        while segs and segs[0] == "super":
            if not base:
                return None
            base.pop()
            segs = segs[1:]
        return base + segs
    return None  # another crate, std, or a local name


def add_edge(edges, a, b):
    if a == b or b == ():
        # The crate root is a facade of re-exports and the place of shared
        # aliases (e.g. `Time`); naming it is not a module dependency.
        return
    if b[: len(a)] == a:
        return  # a parent using its own descendant
    edges[a].add(b)


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in edges:
                continue
            if w not in index:
                strong(w)
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

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def name(m):
    return "::".join(m) or "crate"


def main(argv):
    bad = False
    for crate in argv[1:]:
        crate = Path(crate)
        modules, edges = analyse_crate(crate)
        depth = max((len(m) for m in modules), default=0)
        seen = set()
        # Each folder counts as one module too: `a::x -> b` and `b -> a::y`
        # is a circle between `a` and `b`.
        for d in range(depth, 0, -1):
            folded = {}
            for a, targets in edges.items():
                fa = a[:d]
                folded.setdefault(fa, set())
                for b in targets:
                    fb = b[:d]
                    folded.setdefault(fb, set())
                    if fa != fb and fb[: len(fa)] != fa and fa[: len(fb)] != fb:
                        folded[fa].add(fb)
            for comp in cycles(folded):
                key = tuple(comp)
                if key in seen:
                    continue
                seen.add(key)
                bad = True
                members = set(comp)
                print(f"{crate}: modules import each other in a circle:", file=sys.stderr)
                for a in comp:
                    for b in sorted(folded[a] & members):
                        print(f"  {name(a)} -> {name(b)}", file=sys.stderr)
    if bad:
        return 1
    print(f"no import circles in {len(argv) - 1} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
