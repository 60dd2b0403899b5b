"""gradgen.visualize: DOT and Mermaid drawings of the joint graph, and svg through graphviz."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from support import REPO

from gradgen.compiler import CompiledFunction, compile_function, load_functions
from gradgen.errors import GradgenError
from gradgen.visualize import render_svg, to_dot, to_mermaid

_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|->|--|[{}\[\];=,]|[A-Za-z0-9_.]+)', re.S)


def _compiled(example: str, name: str) -> CompiledFunction:
    functions = {f.name: f for f in load_functions(REPO / "examples" / example)}
    return compile_function(functions[name])


@pytest.fixture(scope="module")
def linear() -> CompiledFunction:
    return _compiled("linear_regression.py", "loss")


@pytest.fixture(scope="module")
def circuits() -> list[CompiledFunction]:
    return [compile_function(f) for f in load_functions(REPO / "examples" / "circuits.py")]


def _tokens(dot: str) -> list[str]:
    tokens, position = [], 0
    while dot[position:].strip():
        match = _TOKEN.match(dot, position)
        assert match, f"unexpected DOT text at {dot[position:position + 40]!r}"
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _structure(dot: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """Check DOT syntax in outline and return (node id -> attributes, edges)."""
    assert dot.startswith("digraph ")
    tokens = _tokens(dot)
    depth, brackets = 0, 0
    for token in tokens:
        depth += {"{": 1, "}": -1}.get(token, 0)
        brackets += {"[": 1, "]": -1}.get(token, 0)
        assert depth >= 0 and brackets >= 0
    assert depth == 0 and brackets == 0 and tokens[-1] == "}"
    assert tokens[2] == "{"  # digraph "title" {
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str]] = []
    i = 3

    def attribute_list() -> dict[str, str]:  # [key=value, ...] at tokens[i], if any
        nonlocal i
        attributes: dict[str, str] = {}
        if tokens[i] != "[":
            return attributes
        i += 1
        while tokens[i] != "]":
            key, equals, value = tokens[i : i + 3]
            assert equals == "=", f"bad attribute near {key}"
            attributes[key] = value.strip('"')
            i += 4 if tokens[i + 3] == "," else 3
        i += 1
        return attributes

    while i < len(tokens):
        token = tokens[i]
        if token in ("{", "}", ";"):
            i += 1
        elif token in ("graph", "node", "edge"):
            i += 1
            assert tokens[i] == "[", f"{token} without attributes"
            attribute_list()
        elif token == "subgraph":
            i += 2 if tokens[i + 1].startswith('"') else 1
            assert tokens[i] == "{"
        elif tokens[i + 1] == "=":  # a graph attribute: key=value
            i += 3
        else:
            chain = [token]
            i += 1
            while tokens[i] == "->":
                chain.append(tokens[i + 1])
                i += 2
            assert all(t.startswith('"') for t in chain), f"unquoted id in {chain}"
            attributes = attribute_list()
            if len(chain) == 1:
                nodes[chain[0]] = attributes
            else:
                edges += list(zip(chain, chain[1:]))
    for source, target in edges:
        assert source in nodes and target in nodes, f"undeclared endpoint {source} -> {target}"
    return nodes, edges


def _run_dot(dot: str) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot program is not installed")
    result = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    assert b"<svg" in result.stdout


def _node_named(nodes: dict[str, dict[str, str]], name: str) -> dict[str, str]:
    found = [a for a in nodes.values() if a.get("label", "").split("\\n")[0] == name]
    assert len(found) == 1, f"{len(found)} nodes labelled {name}"
    return found[0]


def test_dot_is_well_formed_and_names_match_the_generated_code(linear) -> None:
    dot = to_dot(linear, "linear_regression.py:loss")
    nodes, edges = _structure(dot)
    for name in ("w", "b", "x", "y", "d_value", "z", "y_hat", "e", "value", "d_w", "d_b"):
        _node_named(nodes, name)
    assert _node_named(nodes, "x")["label"] == "x\\n(N, D)"
    assert _node_named(nodes, "x")["shape"] == "box"
    assert "matmul(x, w)" in _node_named(nodes, "z")["label"]
    assert "ew: 2*d_value*e/N" in _node_named(nodes, "d_e")["label"]  # operands by name
    assert ('"x"', '"z"') in edges and ('"d_value"', '"d_e"') in edges
    assert 'label="dim N"' in dot  # the constant N, a mean's count
    generated = (REPO / "generated" / "linear_regression_grad.py").read_text()
    for name in ("z", "y_hat", "e", "d_w", "d_b"):
        assert f"{name} = " in generated


def test_forward_and_backward_nodes_have_different_colors(linear) -> None:
    nodes, _ = _structure(to_dot(linear, "loss"))
    forward = {"w", "x", "z", "y_hat", "e", "value"}
    backward = {"d_value", "d_e", "d_y_hat", "d_w", "d_b"}
    forward_colors = {_node_named(nodes, n)["fillcolor"] for n in forward}
    backward_colors = {_node_named(nodes, n)["fillcolor"] for n in backward}
    assert len(forward_colors) == 1 and len(backward_colors) == 1
    assert _node_named(nodes, "z")["fillcolor"] != _node_named(nodes, "d_w")["fillcolor"]
    assert all(_node_named(nodes, n)["style"] == "filled" for n in forward | backward)
    # The transpose of x only serves the gradient of w: backward, though it reads no cotangent.
    assert _node_named(nodes, "x_T")["fillcolor"] in backward_colors
    outputs = {a["label"].split("\\n")[0] for a in nodes.values() if a.get("peripheries") == "2"}
    assert {"value", "d_w", "d_b"} <= outputs and not outputs & {"z", "e", "d_e", "x"}


def test_dot_runs_through_graphviz(linear, circuits) -> None:
    texts = [to_dot(linear, "linear")] + [to_dot(c, c.function.name) for c in circuits]
    texts.append(to_dot(linear, 'a "quoted" title\\ with a backslash\nand a newline'))
    for text in texts:
        _structure(text)
    for text in texts:
        _run_dot(text)


def test_circuits_mark_outputs_that_share_a_var(circuits) -> None:
    add_mul, max_circuit, neuron = circuits
    nodes, _ = _structure(to_dot(add_mul, "add_mul"))
    # x + y passes d_q through to both: d_x is d_q itself, d_y a copy (no shared memory).
    assert "output: d_x" in _node_named(nodes, "d_q")["label"]
    assert "copy" in _node_named(nodes, "d_y")["label"]
    assert "output: value" in _node_named(nodes, "f")["label"]
    nodes, _ = _structure(to_dot(max_circuit, "max_circuit"))
    assert "Heaviside" in _node_named(nodes, "d_z")["label"]
    assert _node_named(nodes, "t0")["fillcolor"] != _node_named(nodes, "d_z")["fillcolor"]
    nodes, _ = _structure(to_dot(neuron, "neuron"))
    assert "output: d_w2" in _node_named(nodes, "d_dot")["label"]


def test_labels_are_escaped(linear) -> None:
    dot = to_dot(linear, 'say "hi" \\ bye')
    assert dot.startswith('digraph "say \\"hi\\" \\\\ bye" {')
    _structure(dot)
    mermaid = to_mermaid(linear, 'say "hi"\nbye')
    assert '\n  %% title: say "hi" bye\n' in mermaid  # a comment: one line, kept as written


def test_mermaid_has_the_same_nodes(linear, circuits) -> None:
    text = to_mermaid(linear, "linear_regression.py:loss")
    assert text.startswith("flowchart TD\n")
    labels = dict(re.findall(r'^  (n\d+)[\[(]"([^"]*)"[\])]$', text, re.M))
    names = {label.split("<br/>")[0]: node for node, label in labels.items()}
    for name in ("z", "y_hat", "e", "value", "d_value", "d_w", "d_b"):
        assert name in names, name
    edges = re.findall(r"^  (n\d+) -\.?-> (n\d+)$", text, re.M)
    assert (names["x"], names["z"]) in edges
    assert all(a in labels and b in labels for a, b in edges)
    classes = {
        m: name
        for ids, name in re.findall(r"^  class (\S+) (\w+)$", text, re.M)
        for m in ids.split(",")
    }
    assert set(classes) == set(labels)
    assert classes[names["z"]] == "forward" and classes[names["d_e"]] == "backward"
    assert classes[names["d_w"]] == "backwardOutput" and classes[names["value"]] == "forwardOutput"
    assert "classDef forward fill:" in text and "classDef backward fill:" in text
    assert "d_q<br/>" in to_mermaid(circuits[0], "add_mul")


def test_output_is_deterministic(linear) -> None:
    again = _compiled("linear_regression.py", "loss")
    assert to_dot(linear, "t") == to_dot(linear, "t") == to_dot(again, "t")
    assert to_mermaid(linear, "t") == to_mermaid(again, "t")


def test_render_svg_without_graphviz_says_how_to_get_it(linear, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    with pytest.raises(GradgenError) as caught:
        render_svg(to_dot(linear, "loss"))
    message = str(caught.value)
    assert "graphviz" in message and "`dot`" in message
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "--format dot" in message and "mermaid" in message


def test_render_svg_with_graphviz(linear) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot program is not installed")
    svg = render_svg(to_dot(linear, "loss"))
    assert svg.lstrip().startswith(b"<?xml") or b"<svg" in svg[:500]
    assert b"d_w" in svg
    with pytest.raises(GradgenError, match="failed"):
        render_svg("digraph {")
