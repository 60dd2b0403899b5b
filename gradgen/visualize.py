"""Graphviz DOT and Mermaid drawings of a compiled function's joint graph (forward + chain rule).

`to_dot` / `to_mermaid` return deterministic text using the generated code's names: forward nodes
blue, backward salmon, outputs outlined. `render_svg` runs graphviz's `dot` or raises GradgenError.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import sympy

from gradgen.compiler import CompiledFunction
from gradgen.errors import GradgenError
from gradgen.ir import Atom, DimSize, Equation, Lit, Var, live_vars, show_param
from gradgen.naming import assign_names
from gradgen.ops.elementwise import operand_symbols
from gradgen.shapes import format_shape
from gradgen.symbolic import literal

FORWARD_COLOR = "lightblue"  # #add8e6: equations the value depends on, and the arguments
BACKWARD_COLOR = "lightsalmon"  # #ffa07a: the chain rule, and the cotangent d_value
_HEX = {FORWARD_COLOR: "#add8e6", BACKWARD_COLOR: "#ffa07a"}


@dataclass(frozen=True)
class _Node:
    key: str  # DOT node id: a var's name, or `<consumer>.<operand index>` for a constant
    label: str  # lines separated by "\n"
    kind: str  # "input", "equation" or "constant"
    backward: bool  # drawn in the backward color
    output: bool  # the value or a gradient


@dataclass(frozen=True)
class _Drawing:
    nodes: tuple[_Node, ...]  # inputs, then equations, each followed by its constants
    edges: tuple[tuple[str, str], ...]  # (producer key, consumer key), in graph order


def to_dot(compiled: CompiledFunction, title: str) -> str:
    """The joint graph of `compiled` as a Graphviz `digraph` titled `title`."""
    drawing = _draw(compiled)
    lines = [
        f"digraph {_dot_quote(title)} {{",
        f"  graph [label={_dot_quote(title)}, labelloc=t, fontname=Helvetica];",
        "  node [fontname=Helvetica];",
        "  edge [color=gray30];",
    ]
    constants: set[str] = set()
    for node in drawing.nodes:
        attributes = [f"label={_dot_quote(node.label)}"]
        if node.kind == "constant":
            constants.add(node.key)
            attributes += ["shape=plaintext", "fontsize=10"]
        else:
            color = BACKWARD_COLOR if node.backward else FORWARD_COLOR
            shape = "box" if node.kind == "input" else "ellipse"
            attributes += [f"shape={shape}", "style=filled", f"fillcolor={_dot_quote(color)}"]
        if node.output:
            attributes.append("peripheries=2")
        lines.append(f"  {_dot_quote(node.key)} [{', '.join(attributes)}];")
    for source, target in drawing.edges:
        style = " [style=dashed]" if source in constants else ""
        lines.append(f"  {_dot_quote(source)} -> {_dot_quote(target)}{style};")
    lines += [
        '  subgraph "cluster_legend" {',
        '    label="legend"; fontsize=10; color=gray70;',
        '    "legend.forward" [label="forward", shape=box, style=filled, '
        f"fillcolor={_dot_quote(FORWARD_COLOR)}, fontsize=10];",
        '    "legend.backward" [label="backward (chain rule)", shape=box, style=filled, '
        f"fillcolor={_dot_quote(BACKWARD_COLOR)}, fontsize=10];",
        '    "legend.output" [label="output", shape=box, peripheries=2, fontsize=10];',
        '    { rank=same; "legend.forward" -> "legend.backward" -> "legend.output" '
        "[style=invis]; }",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def to_mermaid(compiled: CompiledFunction, title: str) -> str:
    """The joint graph of `compiled` as a Mermaid `flowchart TD` (title in a comment)."""
    drawing = _draw(compiled)
    ids = {node.key: f"n{i}" for i, node in enumerate(drawing.nodes)}
    lines = ["flowchart TD", f"  %% title: {' '.join(title.split())}"]
    classes: dict[str, list[str]] = {}
    for node in drawing.nodes:
        label = _mermaid_quote(node.label)
        if node.kind == "input":
            lines.append(f"  {ids[node.key]}[{label}]")
        else:
            lines.append(f"  {ids[node.key]}({label})")
        if node.kind == "constant":
            name = "constant"
        else:
            name = ("backward" if node.backward else "forward") + ("Output" if node.output else "")
        classes.setdefault(name, []).append(ids[node.key])
    constants = {node.key for node in drawing.nodes if node.kind == "constant"}
    for source, target in drawing.edges:
        arrow = "-.->" if source in constants else "-->"
        lines.append(f"  {ids[source]} {arrow} {ids[target]}")
    forward, backward = _HEX[FORWARD_COLOR], _HEX[BACKWARD_COLOR]
    lines += [
        f"  classDef forward fill:{forward},stroke:#4a6f8a,color:#000",
        f"  classDef backward fill:{backward},stroke:#9c4a2f,color:#000",
        f"  classDef forwardOutput fill:{forward},stroke:#000,stroke-width:3px,color:#000",
        f"  classDef backwardOutput fill:{backward},stroke:#000,stroke-width:3px,color:#000",
        "  classDef constant fill:#fff,stroke:#999,stroke-dasharray:3 3,color:#000",
    ]
    lines += [f"  class {','.join(members)} {name}" for name, members in classes.items()]
    return "\n".join(lines) + "\n"


def render_svg(dot_text: str) -> bytes:
    """`dot_text` laid out as SVG by graphviz's `dot -Tsvg`."""
    program = shutil.which("dot")
    if program is None:
        raise GradgenError(
            "svg output needs graphviz's `dot` program, which is not on PATH.",
            hint="install graphviz (`apt-get install graphviz`, `brew install graphviz` or "
            "`conda install graphviz`), or use --format dot or --format mermaid, "
            "which need nothing.",
        )
    try:
        result = subprocess.run(
            [program, "-Tsvg"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GradgenError(f"running `{program} -Tsvg` failed: {error}") from error
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise GradgenError(f"`{program} -Tsvg` failed (exit {result.returncode}): {message}")
    return result.stdout


def _draw(compiled: CompiledFunction) -> _Drawing:
    joint = compiled.joint
    names = assign_names(joint)
    cotangent = joint.inputs[-1]
    aux = joint.outputs[1 + len(compiled.function.wrt) :]
    forward = live_vars(joint.equations, [joint.outputs[0], *aux])
    roles = _output_roles(compiled)
    nodes: list[_Node] = []
    edges: list[tuple[str, str]] = []

    def lines(var: Var, *middle: str) -> str:
        shape = format_shape(var.shape) + (" int" if var.integer else "")
        extra = roles.get(var, [])
        role = [f"output: {', '.join(extra)}"] if extra and extra != [names[var]] else []
        return "\n".join([names[var], *middle, shape, *role])

    for var in joint.inputs:
        backward = var is cotangent
        nodes.append(_Node(names[var], lines(var), "input", backward, var in roles))
    for eq in joint.equations:
        key = names[eq.out]
        backward = eq.out not in forward
        nodes.append(
            _Node(key, lines(eq.out, _describe(eq, names)), "equation", backward, eq.out in roles)
        )
        sources: list[str] = []
        for position, atom in enumerate(eq.inputs):
            if isinstance(atom, Var):
                source = names[atom]
            else:
                source = f"{key}.{position}"
                text = f"dim {atom.name}" if isinstance(atom, DimSize) else str(atom)
                nodes.append(_Node(source, text, "constant", backward, False))
            if source not in sources:
                sources.append(source)
        edges += [(source, key) for source in sources]
    return _Drawing(tuple(nodes), tuple(edges))


def _output_roles(compiled: CompiledFunction) -> dict[Var, list[str]]:
    """Each output var and what it is returned as: `value`, `d_<argument>` for the
    gradient with respect to an argument (one var may be several gradients), or
    `aux <key>`."""
    value, *rest = compiled.joint.outputs
    wrt = list(compiled.function.wrt)
    roles: dict[Var, list[str]] = {value: ["value"]}
    for param, var in zip(wrt, rest):
        roles.setdefault(var, []).append(f"d_{param}")
    for key, var in zip(compiled.aux_names, rest[len(wrt) :]):
        roles.setdefault(var, []).append(f"aux {key}")
    return roles


def _describe(eq: Equation, names: dict[Var, str]) -> str:
    """The op of `eq` with its operands: `matmul(x, w)`, `ew: 2*e*d_value/N`."""

    def show(atom: Atom) -> str:
        return names[atom] if isinstance(atom, Var) else str(atom)

    expr = eq.param("expr")
    if eq.op == "ew" and isinstance(expr, sympy.Expr):
        return "ew: " + sympy.sstr(_substitute(expr, eq.inputs, names))
    args = [show(a) for a in eq.inputs]
    args += [f"{key}={show_param(value, compact=False)}" for key, value in eq.params]
    return f"{eq.op}({', '.join(args)})"


def _substitute(expr: sympy.Expr, inputs: tuple[Atom, ...], names: dict[Var, str]) -> sympy.Expr:
    """`expr` with its operand symbols a0, a1, ... replaced by the operands' names."""
    mapping: dict[sympy.Symbol, sympy.Expr] = {}
    for symbol, atom in zip(operand_symbols(len(inputs)), inputs):
        if isinstance(atom, Lit):
            mapping[symbol] = literal(atom.value)
        else:
            name = names[atom] if isinstance(atom, Var) else atom.name
            mapping[symbol] = sympy.Symbol(name, real=True)
    return expr.xreplace(mapping)


def _dot_quote(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, newlines as centered breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + escaped.replace("\n", "\\n") + '"'


def _mermaid_quote(text: str) -> str:
    """A Mermaid quoted label: markup characters as entity codes, newlines as <br/>."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    text = text.replace("`", "#96;").replace("\r", "")
    return '"' + text.replace("\n", "<br/>") + '"'
