#!/usr/bin/env python3
"""Checks porch's source tree for what review keeps finding by hand.

  layers     every #include in src/ points to the same layer or one below it
             (the order CMakeLists.txt builds them in), and the folders of one
             layer include each other without a cycle;
  functions  no function body in src/ is longer than 80 lines, except the
             allowed ones listed below (data tables, main's flag declarations).

  scripts/check-code.py [layers|functions]...   (default: both)
Exits 1 and prints file:line for every violation. Used by ctest (CodeLayering,
CodeFunctionLength), so the suite fails when the layering breaks.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")

# Bottom to top. A folder may include folders of its own layer or below.
LAYERS = [
    ("core", ["core"]),
    ("platform", ["platform"]),
    ("model", ["plan", "config", "journal", "model"]),
    ("services", ["aws", "s3", "llm", "queue"]),
    ("sched", ["sched"]),
    ("exec", ["exec", "agent"]),
    ("backends", ["backend"]),
    ("run", ["report", "run"]),
    ("app", ["cli", "web"]),
]
LAYER_OF = {folder: i for i, (_, folders) in enumerate(LAYERS) for folder in folders}

MAX_FUNCTION_LINES = 80
# (file, function name): longer on purpose.
ALLOWED_LONG = {
    ("src/cli/main.cc", "main"),          # the flag declarations of every command
    ("src/config/config.cc", "Fields"),   # the table of every configuration key
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def sources():
    for dirpath, _, names in os.walk(SRC):
        for name in sorted(names):
            if name.endswith((".h", ".cc")):
                yield os.path.join(dirpath, name)


def folder_of(path):
    rel = os.path.relpath(path, SRC)
    return rel.split(os.sep)[0]


def check_layers():
    problems = []
    edges = {}
    for path in sources():
        src_folder = folder_of(path)
        if src_folder not in LAYER_OF:
            problems.append(f"{os.path.relpath(path, ROOT)}: folder '{src_folder}' is in no layer "
                            f"(add it to LAYERS in scripts/check-code.py and to CMakeLists.txt)")
            continue
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m or "/" not in m.group(1):
                    continue
                target = m.group(1).split("/")[0]
                if target not in LAYER_OF:
                    continue
                if LAYER_OF[target] > LAYER_OF[src_folder]:
                    problems.append(
                        f"{os.path.relpath(path, ROOT)}:{lineno}: '{src_folder}' "
                        f"({LAYERS[LAYER_OF[src_folder]][0]} layer) includes \"{m.group(1)}\" "
                        f"from the higher {LAYERS[LAYER_OF[target]][0]} layer")
                if target != src_folder:
                    edges.setdefault(src_folder, {}).setdefault(target, f"{os.path.relpath(path, ROOT)}:{lineno}")
    # No cycle between folders (within a layer, where the rule above allows both ways).
    state = {}
    def visit(node, stack):
        state[node] = 1
        for nxt in edges.get(node, {}):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                problems.append("include cycle between folders: " + " -> ".join(cycle) +
                                f" (e.g. {edges[node][nxt]})")
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2
    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return problems


FUNC_START = re.compile(r'^(?!\s)(?:[\w:<>,*&~\s]+?)\b([A-Za-z_]\w*(?:::[~A-Za-z_]\w*)*)\s*\([^;]*$')


def strip_strings(line):
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(?:\\.|[^'\\])*'", "''", line)
    return re.sub(r"//.*", "", line)


def check_functions():
    """Top-level function definitions (a line starting at column 0 that names
    a function, up to the matching closing brace at column 0)."""
    problems = []
    for path in sources():
        if not path.endswith(".cc"):
            continue
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
        i = 0
        while i < len(lines):
            m = FUNC_START.match(lines[i])
            if not m or lines[i].startswith(("namespace", "class", "struct", "enum", "using", "#")):
                i += 1
                continue
            name = m.group(1).split("::")[-1]
            # Find the opening brace of the body, then its matching close.
            j, depth, opened = i, 0, False
            while j < len(lines):
                text = strip_strings(lines[j])
                if not opened and ";" in text and "{" not in text:
                    break  # a declaration
                for ch in text:
                    if ch == "{":
                        depth += 1
                        opened = True
                    elif ch == "}":
                        depth -= 1
                if opened and depth == 0:
                    break
                j += 1
            if opened:
                length = j - i + 1
                if length > MAX_FUNCTION_LINES and (rel, name) not in ALLOWED_LONG:
                    problems.append(f"{rel}:{i + 1}: function '{m.group(1)}' is {length} lines "
                                    f"(at most {MAX_FUNCTION_LINES})")
                i = j + 1
            else:
                i += 1
    return problems


def main(argv):
    checks = argv[1:] or ["layers", "functions"]
    problems = []
    for c in checks:
        if c == "layers":
            problems += check_layers()
        elif c == "functions":
            problems += check_functions()
        else:
            print(f"check-code: unknown check '{c}' (layers, functions)", file=sys.stderr)
            return 2
    for p in problems:
        print(p)
    if problems:
        print(f"check-code: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-code: {', '.join(checks)}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
