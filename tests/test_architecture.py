"""The package map holds: docs/architecture.md names every module, the import graph has no cycle, no module uses
another module's private names, the remote-code packages import only what a checkpoint folder can, and the doc
links nothing outside the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("modeling_xemogpt", "processing_xemogpt", "training", "hub_cards", "xemogpt_cli", "emocue360", "llm_client")
REMOTE_CODE = ("modeling_xemogpt", "processing_xemogpt")
NOT_REMOTE_CODE = {"modeling_xemogpt.convert_official", "modeling_xemogpt.official_layout"}  # never copied into
# checkpoints: the converter runs in this project's environment
REMOTE_CODE_LIBRARIES = {"torch", "transformers", "peft", "tokenizers", "numpy", "av", "soundfile", "PIL", "safetensors",
                         "huggingface_hub"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _imports(module: str, path: Path):
    """(imported module of this project or top-level library name, imported name or None) of every import statement,
    also those inside functions."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                yield (f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target), alias.name


def _owner(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        targets = {_owner(target) for target, _ in _imports(module, path)}
        graph[module] = {t for t in targets if t and t != module and not module.startswith(t + ".")}
    return graph


def test_architecture_doc_names_every_module_and_links_nothing_outside():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for module, path in MODULES.items():
        rel = path.relative_to(ROOT).as_posix()
        short = path.relative_to(ROOT / module.split(".")[0]).as_posix()
        if path.name == "__init__.py" or rel in doc or f"`{short}`" in doc:
            continue
        missing.append(rel)
    assert not missing, f"docs/architecture.md does not name: {missing}"
    outside = [link for link in re.findall(r"\]\(([^)#]+)", doc)
               if link.startswith(("..", "/")) or (not link.startswith("http") and not (ROOT / "docs" / link).exists())]
    assert not outside, f"docs/architecture.md links outside the repository or to missing files: {outside}"


def test_no_import_cycle():
    graph, index, low, stack, on_stack, cycles = _graph(), {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_uses_another_modules_private_names():
    private = [(module, target, name) for module, path in MODULES.items() for target, name in _imports(module, path)
               if name and name.startswith("_") and not name.startswith("__") and _owner(target) not in (None, module)]
    assert not private, f"private names imported from another module: {private}"


@pytest.mark.parametrize("package", REMOTE_CODE)
def test_remote_code_imports_only_its_own_files_and_libraries(package):
    wrong = []
    for module, path in MODULES.items():
        if not module.startswith(package) or module in NOT_REMOTE_CODE:
            continue
        for target, _ in _imports(module, path):
            top = target.split(".")[0]
            if top == package:
                continue
            if top in {m.split(".")[0] for m in MODULES} or (top not in REMOTE_CODE_LIBRARIES and top not in
                                                              __import__("sys").stdlib_module_names):
                wrong.append((module, target))
    assert not wrong, f"remote code imports what a checkpoint folder does not have: {wrong}"
