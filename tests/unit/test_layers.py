"""Layers that hold: a package imports only packages of lower layers, and no other package's private module.

The order (bottom first) is the architecture a newcomer should see in the tree:

    core                       names, errors, HRW, wire structs: imports no other Strata package
    config, archive, server,   bucket props and cluster config; archive formats; the HTTP transport;
    compress                   the compressed stored form and the codec choice
    storage, backends, auth    mountpaths, object files, metadata, multipart and append files; the remote
                               backends (S3, GCS, Azure, HTTP, remote AIS) the object service reads through;
                               tokens, principals and the permission check every front shares
    cluster                    cluster map, BMD, metadata stores, etcd, node-to-node transfers
    objects                    the object service: the one object path under every front
    jobs                       job kinds, registry, bucket and multi-object work
    getbatch                   GetBatch assembly
    roles                      the node context and its role objects (embedded, proxy, target); bucket
                               operations and cluster fan-outs every front shares
    api, s3                    the AIS /v1 and S3 fronts (protocol only)
    daemons, authn             processes: embedded, proxy, target, supervisor; the AuthN service
    cli                        the ``strata`` command

Packages on one layer do not import each other. ``KNOWN_UPWARD`` lists the imports that still break
the order, each with what removes it; an entry that no longer occurs fails the test too, so the list
only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "strata"
LAYERS: list[set[str]] = [
    {"core"},
    {"config", "archive", "server", "compress"},
    {"storage", "backends", "auth"},
    {"cluster"},
    {"objects"},
    {"jobs"},
    {"getbatch"},
    {"roles"},
    {"api", "s3"},
    {"daemons", "authn"},
    {"cli"},
    {"__main__"},
]
LAYER_OF = {package: index for index, layer in enumerate(LAYERS) for package in layer}

# (importing module, imported package): the upward imports still to remove, and what removes them
KNOWN_UPWARD: dict[tuple[str, str], str] = {
}


def _package_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE_ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imports(path: Path) -> list[str]:
    """Every ``strata.*`` module a file imports (absolute, or relative resolved against the file)."""
    tree = ast.parse(path.read_text(), str(path))
    package_parts = ["strata", *path.relative_to(PACKAGE_ROOT).parent.parts]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("strata.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module == "strata":
                found += [f"strata.{alias.name}" for alias in node.names]
            elif module.startswith("strata."):
                found.append(module)
    return found


def _sources() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    packages = {_package_of(path) for path in _sources()} - {"__init__"}
    assert packages <= set(LAYER_OF), f"packages without a layer: {sorted(packages - set(LAYER_OF))}"


def test_imports_go_down_only() -> None:
    upward: set[tuple[str, str]] = set()
    for path in _sources():
        importer = _package_of(path)
        if importer == "__init__":
            continue
        for module in _imports(path):
            imported = module.split(".")[1]
            if imported == importer:
                continue
            if LAYER_OF[imported] >= LAYER_OF[importer]:
                upward.add((str(path.relative_to(PACKAGE_ROOT.parent)), imported))
    new = sorted(upward - set(KNOWN_UPWARD))
    assert not new, "imports that go up or sideways (import downward only, or move the code): " + ", ".join(
        f"{module} imports strata.{package}" for module, package in new
    )
    stale = sorted(set(KNOWN_UPWARD) - upward)
    assert not stale, f"no longer upward, remove from KNOWN_UPWARD: {stale}"


def test_no_private_module_of_another_package() -> None:
    offenders = []
    for path in _sources():
        importer = _package_of(path)
        for module in _imports(path):
            parts = module.split(".")
            if parts[1] != importer and any(part.startswith("_") for part in parts[2:]):
                offenders.append(f"{path.relative_to(PACKAGE_ROOT.parent)} imports {module}")
    assert not offenders, "private modules are their package's business: " + ", ".join(offenders)
