"""zerosnet_zoo has no import cycle: its internal imports form an acyclic graph, and every
module imports on its own, whichever is imported first."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import zerosnet_zoo

PACKAGE_DIR = Path(zerosnet_zoo.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


# __main__ runs the command line when imported: it is an entry point, not a module to import
MODULES = sorted(_module_name(p) for p in PACKAGE_DIR.rglob('*.py') if p.name != '__main__.py')


def _internal_imports(path: Path) -> set:
    """The package modules a module imports at any place in its source (lazy imports included)."""
    name = _module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    edges = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                base = f'{base}.{node.module}' if node.module else base
            else:
                base = node.module or ''
            # `from . import x` imports the module x; `from .m import name` the module m
            candidates = [f'{base}.{a.name}' for a in node.names] + [base]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        edges.update(c for c in candidates if c in MODULES and c != name)
    return edges


def test_import_graph_is_acyclic():
    graph = {_module_name(p): _internal_imports(p) for p in PACKAGE_DIR.rglob('*.py') if p.name != '__main__.py'}
    # a package's __init__ runs before its submodules: importing a.b also imports a
    for name in graph:
        parents = [name.rsplit('.', i)[0] for i in range(1, name.count('.') + 1)]
        graph[name] |= {p for p in parents if p in graph}
    state = {}

    def visit(node, path):
        if state.get(node) == 'done':
            return
        assert state.get(node) != 'open', 'import cycle: ' + ' -> '.join(path + [node])
        state[node] = 'open'
        for dep in sorted(graph[node]):
            # a submodule importing its own package's __init__ is how every submodule starts
            if not node.startswith(dep + '.'):
                visit(dep, path + [node])
        state[node] = 'done'

    for name in sorted(graph):
        visit(name, [])


def test_every_module_imports_alone_in_any_order():
    """One subprocess: each module imported first into a fresh sys.modules, forwards and backwards."""
    script = f'''
import importlib, json, sys
baseline = set(sys.modules)
failures = {{}}
for name in {MODULES!r} + {MODULES[::-1]!r}:
    for loaded in [m for m in sys.modules if m not in baseline and m.split('.')[0] == 'zerosnet_zoo']:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as e:
        failures[name] = repr(e)
print(json.dumps(failures))
'''
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, check=True,
                            cwd=PACKAGE_DIR.parent)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}
