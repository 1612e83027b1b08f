#!/usr/bin/env python3
"""Module import graph of one Rust crate's src/ directory, with cycles and a layering check.

    imports.py SRC_DIR [--depth N] [--tests] [--json] [--extern CRATE ...]
                       [--layers FILE] [--quiet]

What it reads (no rustc, no cargo; pure text, so it runs in the unit tier in milliseconds):

* Modules: from lib.rs (or main.rs) it follows `mod x;` declarations to x.rs / x/mod.rs
  (and `#[path = "..."]`), and records inline `mod x { ... }` blocks. Inline modules are
  folded into the file that holds them: a node of the graph is a *file* module, named by
  its path (`config::apply`, `cgroupfs`, `crate` for lib.rs/main.rs).
* Edges: every path that names a crate module, wherever it appears in code:
  - `use` trees, nested: `use crate::{a, b::{c, d as e}, f::*};`, `pub use`, `pub(crate) use`;
  - paths in expressions, types, patterns, attributes' arguments: `crate::v1::MEMORY_LIMIT`,
    `super::model::Key`, `self::x::y`;
  - paths whose first segment is a child module of the current module (2018 relative
    paths: `use path::GroupPath;` in cgroupfs/mod.rs, `format::parse(..)`).
  A path resolves as far as modules go, then through the target module's own `use`
  items (so `crate::Error`, re-exported by lib.rs from `error`, is an edge to `error`, and
  `crate::cgroupfs::GroupPath` is an edge to `cgroupfs::path`). `mod x;` itself is *not*
  an edge (it declares; it does not depend). Comments, doc comments (intra-doc links)
  and string literals are ignored.
* Test code: anything under `#[cfg(test)]` (or `cfg(all(test, ..))`): a `mod tests { }`
  block, a `#[cfg(test)] mod tests;` file, a test-only `use` or `fn`. Its edges are kept
  apart: the cycle search and the layering check of production code never see them.
  `cfg(any(test, feature = ".."))` is *not* test-only (the feature builds it for users),
  so `testing.rs` is production code behind a feature.
  Policy (checked with --layers): test code may import its own layer and any layer below,
  plus the test-support modules listed on a `test-support:` line; an upward import from a
  test means the test belongs to a higher module. Seals (below) bind production code
  only: a test may name an interface file to check what reaches the kernel.

Outputs: the graph (module -> modules, each with the first line that names it), the
strongly connected components with more than one module (import circles), and with
--layers FILE the violations, each with file:line and the source line; exit status 1 if
there is any (the CI test). FILE is a plain text file, or a Markdown file whose
```layers fenced blocks hold the table (docs/ARCHITECTURE.md). Bottom layer first:

    crate rein                 starts the section `--crate rein` selects
    L0 error units controller  a layer: its name, then modules; `x` covers x and its submodules, `x::*` only the submodules
    L1 cgroupfs hierarchy      (the most specific pattern wins: `config::apply` may sit above `config`)
    ...
    seal v1 v2 : backend compat::raw      only the modules after `:` (and v1, v2 themselves)
                                          may import v1 and v2: the one seam
    test-support: testing      test code may import these whatever their layer

A module may import modules of its own layer and of the layers below; a circle inside a
layer is reported by the cycle check. `--depth N` folds module paths to N segments first
(`config::apply` -> `config` with N=1). `--extern rein` lists every path into the crate
`rein` per module (aliases expanded: `use rein::v1; v1::X` counts as `rein::v1::X`).
"""

import argparse
import json
import os
import re
import sys
from collections import defaultdict

# ----------------------------------------------------------------------------- lexing

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def strip(text):
    """Blank comments, string and char literals (keeping newlines and offsets)."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            # raw strings r"..", r#".."#, br#".."#, byte strings b"..", byte chars b'x'
            m = re.compile(r'(b?r)(#*)"').match(text, i)
            if m:
                close = '"' + m.group(2)
                j = text.find(close, m.end())
                j = n if j < 0 else j + len(close)
                blank(i, j)
                i = j
                continue
            if text.startswith('b"', i) or text.startswith("b'", i):
                i += 1  # the quote is handled on the next turn
                continue
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # char literal or lifetime/label
            m = re.compile(r"'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F_]+\}|.)|[^\\'\n])'").match(text, i)
            if m:
                blank(i, m.end())
                i = m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|::|->|=>|[0-9][0-9A-Za-z_.]*|\S")


def tokens(clean):
    """(text, line) for every token of comment- and string-free source."""
    line_starts = [0]
    for k, ch in enumerate(clean):
        if ch == "\n":
            line_starts.append(k + 1)
    out = []
    import bisect

    for m in TOKEN.finditer(clean):
        out.append((m.group(0), bisect.bisect_right(line_starts, m.start())))
    return out


OPEN = {"(": ")", "[": "]", "{": "}"}
CLOSE = {")", "]", "}"}


def item_end(toks, i):
    """Index of the last token of the item starting at toks[i] (after its attributes)."""
    is_use = False
    k = i
    # skip visibility to see whether it is a `use` item
    while k < len(toks) and toks[k][0] in ("pub", "(", "crate", "super", "self", "in", ")"):
        k += 1
    if k < len(toks) and toks[k][0] == "use":
        is_use = True
    depth, opened_brace = 0, False
    for j in range(i, len(toks)):
        t = toks[j][0]
        if t in OPEN:
            depth += 1
            if t == "{" and depth == 1:
                opened_brace = True
        elif t in CLOSE:
            depth -= 1
            if depth < 0:  # item was the last of an enclosing block
                return j - 1
            if depth == 0 and t == "}" and opened_brace and not is_use:
                return j
        elif t == ";" and depth == 0:
            return j
    return len(toks) - 1


def attr_is_test_only(attr_tokens):
    """`cfg(test)`, `cfg(all(test, ..))`; not `cfg(any(test, ..))`, not `cfg(not(test))`."""
    s = "".join(attr_tokens)
    if not s.startswith("cfg("):
        return False
    inner = s[4:-1]
    if inner == "test":
        return True
    if inner.startswith("all("):
        parts = split_top(inner[4:-1])
        return "test" in parts
    return False


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


# ----------------------------------------------------------------------------- use trees


def parse_use_tree(toks, i, prefix, out):
    """Parse a use tree at toks[i]; append (segments, alias_or_None, is_glob, line) to out.

    Returns the index after the tree."""
    segs = list(prefix)
    line = toks[i][1] if i < len(toks) else 0
    if i < len(toks) and toks[i][0] == "::":  # leading `::extern`
        i += 1
    while i < len(toks):
        t = toks[i][0]
        line = toks[i][1]
        if t == "{":
            i += 1
            while i < len(toks) and toks[i][0] != "}":
                i = parse_use_tree(toks, i, segs, out)
                if i < len(toks) and toks[i][0] == ",":
                    i += 1
            return i + 1
        if t == "*":
            out.append((segs, None, True, line))
            return i + 1
        if IDENT.fullmatch(t):
            segs = segs + [t]
            i += 1
            if i < len(toks) and toks[i][0] == "::":
                i += 1
                continue
            alias = None
            if i < len(toks) and toks[i][0] == "as":
                alias = toks[i + 1][0]
                i += 2
            out.append((segs, alias, False, line))
            return i
        return i
    return i


# ----------------------------------------------------------------------------- crate model


class Module:
    def __init__(self, path, file, is_test, file_module):
        self.path = path  # tuple of segments; () = crate root
        self.file = file
        self.is_test = is_test
        self.file_module = file_module  # tuple: the file module holding it
        self.children = {}  # name -> tuple path
        self.imports = {}  # name -> (segments, scope path)
        self.globs = []  # (segments, scope path)
        self.refs = []  # (segments, line, is_test, kind)


def name_of(path):
    return "::".join(path) if path else "crate"


class Crate:
    def __init__(self, src):
        self.src = os.path.abspath(src)
        self.modules = {}
        root = None
        for cand in ("lib.rs", "main.rs"):
            if os.path.exists(os.path.join(self.src, cand)):
                root = os.path.join(self.src, cand)
                break
        if root is None:
            raise SystemExit(f"{src}: no lib.rs or main.rs")
        self.lines = {}
        self.load_file((), root, self.src, False)
        seen = {m.file for m in self.modules.values()}
        self.orphans = []
        for d, _, files in os.walk(self.src):
            for f in files:
                p = os.path.join(d, f)
                if f.endswith(".rs") and p not in seen:
                    self.orphans.append(os.path.relpath(p, self.src))

    def load_file(self, path, file, child_dir, is_test):
        text = open(file, encoding="utf-8").read()
        self.lines[file] = text.split("\n")
        toks = tokens(strip(text))
        mod = Module(path, file, is_test, path)
        self.modules[path] = mod
        self.scan(toks, 0, len(toks), mod, child_dir, is_test)

    def scan(self, toks, i, end, mod, child_dir, in_test):
        """Walk tokens [i, end) of module `mod` (file or inline)."""
        test_until = -1
        pending_test = False
        pending_path = None
        while i < end:
            t, line = toks[i]
            now_test = in_test or i <= test_until
            # attributes
            if t == "#" and i + 1 < end and toks[i + 1][0] in ("[", "!"):
                j = i + 1
                inner = toks[j][0] == "!"
                if inner:
                    j += 1
                depth, k = 0, j
                while k < end:
                    if toks[k][0] == "[":
                        depth += 1
                    elif toks[k][0] == "]":
                        depth -= 1
                        if depth == 0:
                            break
                    k += 1
                body = [x[0] for x in toks[j + 1 : k]]
                if attr_is_test_only(body):
                    if inner:
                        in_test = True
                    else:
                        pending_test = True
                if body[:2] == ["path", "="]:
                    pending_path = True  # value was a string literal, blanked: re-read below
                    pending_path = self.raw_path_attr(mod.file, toks[i][1])
                # paths inside attributes count: #[command(after_help = crate::cmd::top::HELP)]
                self.scan_paths(toks, j + 1, k, mod, in_test or pending_test or i <= test_until)
                i = k + 1
                continue
            if pending_test:
                test_until = max(test_until, item_end(toks, i))
                pending_test = False
                now_test = True
            # mod declarations
            if t == "mod" and i + 2 < end and IDENT.fullmatch(toks[i + 1][0]):
                name = toks[i + 1][0]
                child_path = mod.path + (name,)
                mod.children[name] = child_path
                if toks[i + 2][0] == ";":
                    if pending_path:
                        f = os.path.normpath(os.path.join(os.path.dirname(mod.file), pending_path))
                        cdir = os.path.dirname(f)
                    else:
                        f1 = os.path.join(child_dir, name + ".rs")
                        f2 = os.path.join(child_dir, name, "mod.rs")
                        f = f1 if os.path.exists(f1) else f2
                        cdir = os.path.join(child_dir, name)
                    pending_path = None
                    if os.path.exists(f):
                        self.load_file(child_path, f, cdir, now_test)
                    i += 3
                    continue
                if toks[i + 2][0] == "{":
                    close = item_end(toks, i + 2)
                    inline = Module(child_path, mod.file, now_test, mod.file_module)
                    self.modules[child_path] = inline
                    self.scan(toks, i + 3, close, inline, os.path.join(child_dir, name), now_test)
                    i = close + 1
                    continue
            pending_path = None
            # use items
            if t == "use":
                j = item_end(toks, i)
                trees = []
                parse_use_tree(toks, i + 1, [], trees)
                for segs, alias, glob, ln in trees:
                    if not segs:
                        continue
                    if glob:
                        mod.globs.append((segs, mod.path))
                    else:
                        if segs[-1] == "self" and len(segs) > 1:  # `use a::b::{self}`
                            segs = segs[:-1]
                        name = alias or segs[-1]
                        if name not in ("_", "self", "super", "crate"):
                            mod.imports[name] = (segs, mod.path)
                    mod.refs.append((segs, ln, now_test, "use"))
                i = j + 1
                continue
            # paths in code
            j = self.path_at(toks, i, end, mod, now_test)
            i = j if j > i else i + 1

    def path_at(self, toks, i, end, mod, is_test):
        """Record the path starting at toks[i] (first segment only: not after `::` or `.`)."""
        t = toks[i][0]
        if IDENT.fullmatch(t) and i + 2 < end and toks[i + 1][0] == "::" and IDENT.fullmatch(toks[i + 2][0]):
            prev = toks[i - 1][0] if i > 0 else ""
            if prev not in ("::", "."):
                segs, j = [t], i + 1
                while j + 1 < end and toks[j][0] == "::" and IDENT.fullmatch(toks[j + 1][0]):
                    segs.append(toks[j + 1][0])
                    j += 2
                mod.refs.append((segs, toks[i][1], is_test, "path"))
                return j
        return i

    def scan_paths(self, toks, i, end, mod, is_test):
        while i < end:
            j = self.path_at(toks, i, end, mod, is_test)
            i = j if j > i else i + 1

    def raw_path_attr(self, file, line):
        m = re.search(r'#\[path\s*=\s*"([^"]+)"\]', self.lines[file][line - 1])
        return m.group(1) if m else None

    # ------------------------------------------------------------------ resolution

    def resolve(self, segs, scope, depth=0):
        """Module path a path names, or None if it is not in this crate."""
        if depth > 20 or not segs:
            return None
        first = segs[0]
        if first == "crate":
            cur, rest = (), segs[1:]
        elif first == "self":
            cur, rest = scope, segs[1:]
        elif first == "super":
            cur, rest = scope, segs
            while rest and rest[0] == "super":
                cur, rest = cur[:-1], rest[1:]
            if rest and rest[0] == "self":
                rest = rest[1:]
        elif first in self.modules.get(scope, Module((), "", False, ())).children:
            cur, rest = scope, segs
        else:
            # a name imported into the scope (e.g. `use crate::v1; v1::X` is counted at the use)
            return None
        while rest and rest[0] in self.modules[cur].children:
            cur, rest = self.modules[cur].children[rest[0]], rest[1:]
        if rest:
            imp = self.lookup(cur, rest[0])
            if imp is not None:
                target = self.resolve(imp[0] + rest[1:], imp[1], depth + 1)
                if target is not None:
                    return target
        return cur

    def lookup(self, module, name):
        m = self.modules.get(module)
        if m is None:
            return None
        if name in m.imports:
            return m.imports[name]
        return None

    def edges(self, fold=None):
        """[(from, to, line, is_test, file)] between file modules (folded to `fold` segments)."""
        out = []
        for m in self.modules.values():
            for segs, line, is_test, kind in m.refs:
                target = self.resolve(segs, m.path)
                if target is None:
                    continue
                tfile = self.modules[target].file_module
                a, b = m.file_module, tfile
                if fold is not None:
                    a, b = a[:fold], b[:fold]
                if a == b:
                    continue
                out.append((a, b, line, is_test or m.is_test, m.file))
        return out

    def extern_refs(self, crate_name):
        """{file module: {path text: first line}} of paths starting with `crate_name::`."""
        out = defaultdict(dict)
        for m in self.modules.values():
            for segs, line, is_test, kind in m.refs:
                if not segs:
                    continue
                # expand a first segment imported from the crate: `use rein::v1; v1::X`
                scope = m.path
                while segs[0] != crate_name and scope is not None:
                    imp = self.modules[scope].imports.get(segs[0]) if scope in self.modules else None
                    if imp is not None:
                        if imp[0] and imp[0][0] == crate_name:
                            segs = imp[0] + segs[1:]
                        break
                    scope = scope[:-1] if scope else None
                if segs[0] == crate_name:
                    out[m.file_module].setdefault("::".join(segs), line)
            for name, (segs, scope) in m.imports.items():
                if segs and segs[0] == crate_name:
                    out[m.file_module].setdefault("::".join(segs), 0)
        return out


# ----------------------------------------------------------------------------- graph tools


def sccs(nodes, adj):
    """Tarjan; components with more than one node, largest first."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj.get(v, ())):
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

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out, key=len, reverse=True)


def layer_lines(path, crate):
    """The lines of the layers table: a plain file, or the ```layers blocks of a Markdown
    file (docs/ARCHITECTURE.md); with `crate`, only the section after `crate NAME`."""
    text = open(path, encoding="utf-8").read()
    if path.endswith(".md"):
        blocks = re.findall(r"^```layers[^\n]*\n(.*?)^```", text, re.S | re.M)
        text = "\n".join(blocks)
    lines, current = [], None
    for raw in text.split("\n"):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("crate "):
            current = line.split()[1]
            continue
        if crate is None or current is None or current == crate:
            lines.append(line)
    return lines


def read_layers(path, crate=None):
    """([(name, [patterns])] bottom first, [test-support patterns], [(sealed, allowed)])."""
    layers, support, seals = [], [], []
    for line in layer_lines(path, crate):
        if line.startswith("test-support:"):
            support += line.split(":", 1)[1].split()
        elif line.startswith("seal "):
            # seal v1 v2 : backend compat::raw   -- only these may import the sealed modules
            sealed, allowed = line[5:].split(":", 1)
            seals.append((sealed.split(), allowed.split()))
        else:
            words = line.split()
            layers.append((words[0], words[1:]))
    return layers, support, seals


def covers(pattern, module_name):
    """`x` covers x and its submodules; `x::*` only the submodules."""
    if pattern.endswith("::*"):
        return module_name.startswith(pattern[:-1])
    return module_name == pattern or module_name.startswith(pattern + "::")


def layer_of(module_name, layers):
    """Index of the layer whose most specific pattern covers the module."""
    best, best_len = None, -1
    for idx, (_, pats) in enumerate(layers):
        for p in pats:
            if covers(p, module_name):
                plen = len(p[:-3] if p.endswith("::*") else p)
                if plen > best_len:
                    best, best_len = idx, plen
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("--depth", type=int, default=None, help="fold module paths to N segments")
    ap.add_argument("--tests", action="store_true", help="also list test-code edges")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--extern", action="append", default=[], help="list paths into this external crate")
    ap.add_argument("--layers", help="check edges against a layers file (or the ```layers blocks of a .md)")
    ap.add_argument("--crate", help="with --layers: the `crate NAME` section to use")
    ap.add_argument(
        "--allow",
        help="with --layers: known violations, one `SRC -> DST` a line, tolerated during a migration; "
        "an entry that no longer occurs is an error (the list only shrinks)",
    )
    ap.add_argument("--quiet", action="store_true", help="only cycles and violations")
    ap.add_argument("--self-test", action="store_true", help="check the parser on a built-in crate")
    if "--self-test" in sys.argv:
        selftest()
        return
    a = ap.parse_args()

    c = Crate(a.src)
    edges = c.edges(a.depth)
    prod = [e for e in edges if not e[3]]
    test = [e for e in edges if e[3]]

    def fold(p):
        return p if a.depth is None else p[: a.depth]

    nodes = sorted({fold(m.file_module) for m in c.modules.values() if not m.is_test})
    adj = defaultdict(set)
    first = {}
    for s, d, line, _, f in sorted(prod, key=lambda e: e[2]):
        adj[s].add(d)
        first.setdefault((s, d), (f, line))
    tadj = defaultdict(set)
    tfirst = {}
    for s, d, line, _, f in sorted(test, key=lambda e: e[2]):
        if d not in adj[s]:
            tadj[s].add(d)
            tfirst.setdefault((s, d), (f, line))
    cycles = sccs(nodes, adj)

    rel = lambda f: os.path.relpath(f, c.src)
    violations = []
    if a.layers:
        layers, support, seals = read_layers(a.layers, a.crate)
        if not layers:
            raise SystemExit(f"{a.layers}: no layers found" + (f" for crate {a.crate}" if a.crate else ""))
        top = ("test-support", [p for p in support])
        layers = layers + [top]  # test-support modules sit above everything (nothing imports them)
        for n in nodes:
            if layer_of(name_of(n), layers) is None:
                violations.append((None, f"{name_of(n)}: in no layer"))
        seen = set()
        for s, d, line, is_test, f in sorted(edges, key=lambda e: (e[4], e[2])):
            sn, dn = name_of(s), name_of(d)
            ls, ld = layer_of(sn, layers), layer_of(dn, layers)
            if ls is None or ld is None:
                continue
            if is_test and any(covers(p, dn) for p in support):
                continue
            src_line = c.lines[f][line - 1].strip()
            kind = "test " if is_test else ""
            if ld > ls and (s, d, is_test) not in seen:
                seen.add((s, d, is_test))
                violations.append(
                    ((sn, dn), f"{rel(f)}:{line}: {kind}upward import {sn} ({layers[ls][0]}) -> {dn} ({layers[ld][0]}): {src_line}")
                )
            for sealed, allowed in ([] if is_test else seals):  # tests may name interface files
                inside = any(covers(p, dn) for p in sealed)
                if inside and not any(covers(p, sn) for p in sealed + allowed) and (s, d, "seal") not in seen:
                    seen.add((s, d, "seal"))
                    violations.append(
                        ((sn, dn), f"{rel(f)}:{line}: {kind}{sn} reaches past the seam into {dn} "
                        f"(only {' '.join(allowed)} may): {src_line}")
                    )
        for comp in cycles:
            violations.append(("circle", "import circle: " + " <-> ".join(name_of(x) for x in comp)))
        if a.allow:
            allowed = set()
            for raw in open(a.allow, encoding="utf-8"):
                line = raw.split("#", 1)[0].strip()
                if line:
                    src, dst = (x.strip() for x in line.split("->"))
                    allowed.add((src, dst))
            used, kept = set(), []
            for pair, text in violations:
                if pair in allowed:
                    used.add(pair)
                elif pair == "circle" and allowed:
                    continue  # circles are tolerated while the allow-list is not empty
                else:
                    kept.append((pair, text))
            stale = sorted(allowed - used)
            violations = kept + [(None, f"allow-list entry no longer needed (remove it): {s} -> {d}") for s, d in stale]
            print(f"# {len(used)} known violations tolerated by {a.allow}")

    if a.json:
        json.dump(
            {
                "modules": [name_of(n) for n in nodes],
                "edges": {name_of(s): sorted(name_of(d) for d in adj[s]) for s in nodes},
                "test_edges": {name_of(s): sorted(name_of(d) for d in tadj[s]) for s in tadj},
                "cycles": [[name_of(x) for x in comp] for comp in cycles],
                "violations": [t for _, t in violations],
                "orphans": c.orphans,
                "extern": {
                    k: {name_of(m): sorted(v) for m, v in c.extern_refs(k).items()} for k in a.extern
                },
            },
            sys.stdout,
            indent=1,
        )
        print()
    else:
        if not a.quiet:
            print(f"# import graph of {a.src} ({len(nodes)} modules, {sum(len(v) for v in adj.values())} edges)")
            for n in nodes:
                deps = sorted(adj[n], key=name_of)
                where = ", ".join(f"{name_of(d)}:{first[(n, d)][1]}" for d in deps)
                print(f"{name_of(n)} -> {where if where else '-'}")
                if a.tests and tadj[n]:
                    tw = ", ".join(f"{name_of(d)}:{tfirst[(n, d)][1]}" for d in sorted(tadj[n], key=name_of))
                    print(f"    [tests] -> {tw}")
            for k in a.extern:
                print(f"\n# paths into `{k}`")
                for m, v in sorted(c.extern_refs(k).items()):
                    print(f"{name_of(m)}: " + ", ".join(sorted(v)))
        print(f"\n# import circles (strongly connected components): {len(cycles)}")
        for comp in cycles:
            print(f"{len(comp)}: " + " ".join(name_of(x) for x in comp))
        if c.orphans:
            print("\n# files no `mod` declaration reaches: " + " ".join(c.orphans))
        if a.layers:
            print(f"\n# layering violations: {len(violations)}")
            for _, v in violations:
                print(v)
    sys.exit(1 if violations else 0)


# ----------------------------------------------------------------------------- self-test

SELFTEST = {
    "lib.rs": """
        //! docs naming crate::ghost::X must not count; neither may "crate::ghost" in strings
        pub mod a;
        pub mod b;
        mod c;
        pub mod d;
        #[cfg(test)]
        mod tests;
        #[cfg(any(test, feature = "testing"))]
        pub mod support;
        #[path = "elsewhere/e_impl.rs"]
        mod e;
        pub use b::Thing;
        pub use c::{Cee as Renamed};
    """,
    "a.rs": """
        use crate::{b::{self, Thing}, c::*};
        const S: &str = r#"crate::ghost::Y "quoted" "#;
        const C: char = '"';
        fn f<'a>(x: &'a str) -> [u8; 2] { let _ = crate::d::inner::deep(); [0; 2] }
        #[derive(Debug)]
        #[cfg_attr(feature = "x", doc = "crate::ghost")]
        struct T;
        #[cfg(test)]
        use crate::support::Fake;
        #[cfg(test)]
        mod tests {
            use super::*;
            use crate::e::E;
            fn t() { let _ = super::super::d::D; }
        }
    """,
    "b/mod.rs": """
        mod child;
        pub use child::Thing;
        pub struct B;
        pub fn g() { child::helper(); }
    """,
    "b/child.rs": """
        use super::B;
        pub struct Thing;
        pub fn helper() { let _ = crate::Renamed; }
    """,
    "c.rs": """
        pub struct Cee;
        #[command(after_help = crate::a::HELP)]
        struct Args;
        fn x() { let v = vec![1]; v.iter().map(|i| i + 1); let _ = <crate::d::D as Default>::default(); }
    """,
    "d.rs": """
        pub struct D;
        pub mod inner { pub fn deep() { let _ = self::sibling(); } fn sibling() {} }
        #[cfg(all(test, feature = "slow"))]
        fn slow() { crate::a::f(); }
        #[cfg(not(test))]
        fn real() { crate::e::E; }
    """,
    "tests.rs": """
        use crate::a;
    """,
    "support.rs": """
        use crate::b::B;
    """,
    "elsewhere/e_impl.rs": """
        pub struct E;
    """,
}

SELFTEST_EXPECT = {
    # production edges
    ("a", "b", False), ("a", "b::child", False), ("a", "c", False), ("a", "d", False),
    ("b", "b::child", False), ("b::child", "b", False), ("b::child", "c", False),
    ("c", "a", False), ("c", "d", False), ("d", "e", False), ("support", "b", False),
    ("crate", "b::child", False), ("crate", "c", False),
    # test edges
    ("a", "support", True), ("a", "e", True), ("a", "d", True), ("d", "a", True), ("tests", "a", True),
}


def selftest():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name, body in SELFTEST.items():
            path = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(line[8:] if line.startswith(" " * 8) else line for line in body.split("\n")))
        c = Crate(tmp)
        got = {(name_of(s), name_of(d), t) for s, d, _, t, _ in c.edges()}
        missing, extra = SELFTEST_EXPECT - got, got - SELFTEST_EXPECT
        assert not c.orphans, c.orphans
        assert c.modules[("tests",)].is_test and not c.modules[("support",)].is_test
        if missing or extra:
            print("missing:", sorted(missing), "\nunexpected:", sorted(extra))
            sys.exit(1)
        nodes = {m.file_module for m in c.modules.values() if not m.is_test}
        adj = defaultdict(set)
        for s, d, _, t, _ in c.edges():
            if not t:
                adj[s].add(d)
        cyc = [[name_of(x) for x in comp] for comp in sccs(nodes, adj)]
        assert cyc == [["a", "b", "b::child", "c"]], cyc
    assert covers("cmd::*", "cmd::top") and not covers("cmd::*", "cmd") and covers("cmd", "cmd::top::model")
    assert layer_of("config::apply", [("L6", ["config::model"]), ("L8", ["config"])]) == 1
    assert layer_of("config::model", [("L6", ["config::model"]), ("L8", ["config"])]) == 0
    print(f"self-test: {len(SELFTEST_EXPECT)} edges as expected; cycles {cyc}; layer patterns ok")


if __name__ == "__main__":
    main()
