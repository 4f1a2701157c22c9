"""The report: plain records that every renderer, check and diff reads.

`Report.to_dict()` is the stable JSON contract (documented in the README). Integers stay exact
Python ints; floats appear only for times, rates and shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from onnxcost.units import Encoded

if TYPE_CHECKING:
    from onnxcost.rules.registry import Dim

SCHEMA_VERSION = 2


@dataclass
class TensorSummary:
    """A graph input or output: its dtype and inferred shape."""

    name: str
    dtype: str
    shape: list[Dim] | None


@dataclass
class NodeCost:
    """One top-level node: its costs, status, kind and place in the graph."""

    name: str
    op_type: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    output_shapes: list[list[Dim] | None]
    macs: int = 0
    flops: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    # counted | uncounted (no rule) | unresolved (shape unknown: lower bound) | constant (folded)
    status: str = "counted"
    kind: str = "compute"  # view | elementwise | compute (see rules.registry.KINDS)
    compute_dtype: str = "undefined"
    unit: str = "vector"  # matrix (MAC-type work) | vector
    notes: list[str] = field(default_factory=list)
    index: int = 0  # position in the file's node list
    onnx_name: str = ""  # the name as written in the file ("" when unnamed); `name` is unique
    scope: list[str] = field(default_factory=list)  # module path (see scopes.py); [] = none
    scope_source: str = "none"  # metadata | name | none
    # weights this node is the first reader of (each weight counted once over all nodes)
    params: int = 0
    weight_bytes: int = 0
    # Filled by the roofline when a device is given.
    latency_s: float | None = None
    t_compute_s: float | None = None
    t_memory_s: float | None = None
    bound: str | None = None  # compute | memory
    intensity: float | None = None  # FLOPs per byte of memory traffic

    @property
    def memory_traffic_bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    def to_dict(self, copy: bool = True) -> dict[str, Any]:
        """What asdict() gives, built directly: asdict's deep copy dominated `check` and `diff`
        on large graphs (6 s for 250,000 nodes). `copy=False`: the lists are the record's own
        (for a document written out at once)."""
        # __init__ sets the fields in their order: the instance dict holds them so, copied in C
        d = dict(self.__dict__)
        if len(d) != len(_NODE_FIELDS):  # an attribute of someone's own: fields only
            d = {k: d[k] for k in _NODE_FIELDS}
        if copy:
            d["inputs"], d["outputs"], d["notes"] = (
                list(self.inputs),
                list(self.outputs),
                list(self.notes),
            )
            d["output_shapes"] = [None if s is None else list(s) for s in self.output_shapes]
        d["memory_traffic_bytes"] = self.memory_traffic_bytes
        for k in ("latency_s", "t_compute_s", "t_memory_s", "bound", "intensity"):
            if d[k] is None:
                del d[k]
        return d


_NODE_FIELDS = tuple(f.name for f in fields(NodeCost))

# What differs between the records of a stack's layers: names and place. The other fields
# recur, and `node_lines` writes their text once for each distinct set of values.
_OWN = ("name", "inputs", "outputs", "index", "onnx_name", "scope")
_SCALARS = itemgetter(*(f for f in _NODE_FIELDS if f not in (*_OWN, "output_shapes", "notes")))


def node_lines(nodes: list[NodeCost]) -> list[str]:
    """Each record's JSON text on one line: what `units.encoder()(node.to_dict())` gives, in half
    the time on a large graph (most of a large report is its node records). Keys and recurring
    fields are encoded once per distinct set of values; each node's names, lists of names and
    index are encoded on their own."""
    from json.encoder import encode_basestring_ascii as text

    from onnxcost.units import encoder

    encode = encoder()

    # the text around each node's own fields, by the other fields' values and types (1 and 1.0
    # are equal keys, but not the same text)
    around: dict[tuple, list[str]] = {}
    out: list[str] = []
    for n in nodes:
        d = n.__dict__
        try:
            scalars = _SCALARS(d)
            key = (
                scalars,
                tuple(map(type, scalars)),
                tuple([s if s is None else tuple(s) for s in d["output_shapes"]]),
                tuple(d["notes"]),
            )
            seg = around.get(key)
            if seg is None:
                seg = around[key] = _segments(n.to_dict(copy=False), encode)
            if type(d["index"]) is not int or len(seg) != len(_OWN) + 1:
                raise TypeError
            s0, s1, s2, s3, s4, s5, s6 = seg  # around a list: its brackets (see _segments)
            line = "".join(
                (
                    s0, text(d["name"]), s1, ", ".join(map(text, d["inputs"])),
                    s2, ", ".join(map(text, d["outputs"])), s3, str(d["index"]),
                    s4, text(d["onnx_name"]), s5, ", ".join(map(text, d["scope"])), s6,
                )
            )  # fmt: skip
        except (TypeError, KeyError):  # a field of another type: json's own encoding says
            line = encode(n.to_dict(copy=False))
        out.append(line)
    return out


def _segments(record: dict[str, Any], encode: Callable[[object], str]) -> list[str]:
    """The text of `record` around its own fields (_OWN, in their order): the text between."""
    seg = ["{"]
    own = []
    for i, (k, v) in enumerate(record.items()):
        seg[-1] += (", " if i else "") + encode(k) + ": "
        if k in _OWN:  # a list's brackets are the text's (a list of names: their texts, joined)
            own.append(k)
            listed = isinstance(v, list)
            seg[-1] += "[" if listed else ""
            seg.append("]" if listed else "")
        else:
            seg[-1] += encode(v)
    seg[-1] += "}"
    return seg if tuple(own) == _OWN else []


@dataclass
class SubgraphHop:
    """One step down into a subgraph: the node holding it and the attribute naming it."""

    node: str  # the holding node's name as written ("" when unnamed)
    index: int  # its position in its graph's node list
    attr: str  # then_branch, else_branch, body, ...


@dataclass
class SubgraphNodeCost:
    """A node inside an If/Loop/Scan/... subgraph, costed for one execution of the subgraph.

    Its cost is already part of the holding node's (times the trip count where known); these
    records never add to the totals. They let per-node views (overlays, HTML) show inner nodes.
    """

    name: str  # display name: holding node name / inner name
    onnx_name: str
    index: int  # position in its subgraph's node list
    op_type: str
    domain: str
    path: list[SubgraphHop]  # from the main graph down to this node's graph
    outputs: list[str]
    macs: int = 0
    flops: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    status: str = "counted"  # counted | uncounted | unresolved (a size or dim not static)
    compute_dtype: str = "undefined"
    unit: str = "vector"
    latency_s: float | None = None
    bound: str | None = None

    @property
    def memory_traffic_bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["memory_traffic_bytes"] = self.memory_traffic_bytes
        for k in ("latency_s", "bound"):
            if d[k] is None:
                del d[k]
        return d


@dataclass
class ModuleCost:
    """One module of the scope tree, with the figures of every node under it (inclusive)."""

    name: str  # path, '/'-joined: encoder/layer.0/attention
    depth: int  # 1 for top-level modules
    parent: str | None
    nodes: int = 0
    macs: int = 0
    flops: int = 0
    params: int = 0
    weight_bytes: int = 0
    memory_traffic_bytes: int = 0
    share_flops: float = 0.0
    latency_s: float | None = None
    share_latency: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("latency_s", "share_latency"):
            if d[k] is None:
                del d[k]
        return d


@dataclass
class Totals:
    """The whole model's figures (the JSON contract's "totals")."""

    macs: int = 0
    flops: int = 0
    params: int = 0
    weight_bytes: int = 0
    constants: int = 0  # elements of constant helper tensors (shapes, axes, scalars): not params
    activations_total: int = 0
    activations_total_bytes: int = 0
    activations_peak: int = 0
    activations_peak_bytes: int = 0
    peak_memory_bytes: int = 0  # weight_bytes + activations_peak_bytes
    memory_traffic_bytes: int = 0
    nodes: int = 0
    uncounted_nodes: int = 0
    unresolved_nodes: int = 0
    lower_bound: bool = False  # true when anything above could not be counted in full
    # how sure the totals are: "exact", "lower_bound" (something uncounted or unresolved) or
    # "estimate" (an If branch chosen without knowing its condition); `status_reasons` says why
    status: str = "exact"
    status_reasons: list[str] = field(default_factory=list)
    latency_s: float | None = None
    latency_bound_s: float | None = None


@dataclass
class OpTypeCost:
    """The figures of every node of one op type."""

    op_type: str
    domain: str
    count: int
    macs: int
    flops: int
    memory_traffic_bytes: int
    share_macs: float
    share_flops: float
    latency_s: float | None = None


@dataclass
class DtypeSize:
    """Parameters and their bytes, for one dtype."""

    dtype: str
    params: int
    bytes: int


@dataclass
class MemoryPlan:
    """The activation peak of the file order and of the best order found, per step."""

    schedule: str = "file"
    peak_step: int | None = None
    peak_node: str | None = None
    peak_elements: int = 0
    peak_bytes: int = 0
    best_peak_elements: int = 0
    best_peak_bytes: int = 0
    best_peak_node: str | None = None
    best_schedule: str = "file"  # "file" or the heuristic that found a lower peak
    # The timeline: one entry per step of the file order (constant-folded nodes do not run).
    step_nodes: list[int] = field(default_factory=list)  # index into Report.nodes per step
    live_bytes: list[int] = field(default_factory=list)  # activation bytes live at each step
    # The best order found, as step numbers (into step_nodes), and its live bytes per step;
    # both empty when the file order is the best found.
    best_order: list[int] = field(default_factory=list)
    best_live_bytes: list[int] = field(default_factory=list)
    best_peak_step: int | None = None  # position in best_order at its peak


_MEMORY_FIELDS = tuple(f.name for f in fields(MemoryPlan))


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


@dataclass
class Uncounted:
    """Nodes of one op type that no rule counts."""

    op_type: str
    domain: str
    count: int
    nodes: list[str]


@dataclass
class UnresolvedItem:
    """A size the analysis could not work out: costs using it are lower bounds."""

    tensor: str
    node: str
    reason: str


@dataclass
class Duplicate:
    """Initializers with identical contents stored more than once (each still counts)."""

    tensors: list[str]
    params: int  # elements each copy holds: the parameters the extra copies repeat, per copy
    dtype: str


@dataclass
class Report:
    """One analysis: every record above (`to_dict()` is the stable JSON contract)."""

    model: dict[str, Any]
    inputs: list[TensorSummary]
    outputs: list[TensorSummary]
    dims: dict[str, int]
    totals: Totals
    params_by_dtype: list[DtypeSize]
    op_types: list[OpTypeCost]
    nodes: list[NodeCost]
    memory: MemoryPlan
    uncounted: list[Uncounted]
    unresolved: list[UnresolvedItem]
    warnings: list[str] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    hardware: dict[str, Any] | None = None  # roofline summary, when a device is given
    subgraph_nodes: list[SubgraphNodeCost] = field(default_factory=list)
    modules: list[ModuleCost] | None = None  # the module tree, when asked for (--by module)
    # Each figure of `totals` as an expression of the dims (analysis/formulas.py), when asked for
    formulas: dict[str, Any] | None = None
    # "exact", or "lower_bound" when the formula analysis could not work out every size
    # symbolically (`formulas_reasons` says which); the numbers of `totals` are unaffected
    formulas_status: str = "exact"
    formulas_reasons: list[str] = field(default_factory=list)
    # What a formula analysis keeps to bind its expressions to numbers (not in the JSON)
    formula_data: Any = field(default=None, repr=False, compare=False)

    def to_dict(self, copy: bool = True, as_text: bool = False) -> dict[str, Any]:
        """The JSON document. `copy=False`: the per-node records' and the timeline's lists are
        shared, not copied (for a document written out at once). `as_text`: the node records as
        their JSON text (for `units.dumps`)."""
        totals = asdict(self.totals)
        for k in ("latency_s", "latency_bound_s"):
            if totals[k] is None:
                del totals[k]
        op_types = [asdict(o) for o in self.op_types]
        for o in op_types:
            if o["latency_s"] is None:
                del o["latency_s"]
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "inputs": [asdict(t) for t in self.inputs],
            "outputs": [asdict(t) for t in self.outputs],
            "dims": dict(self.dims),
            "totals": totals,
            "params_by_dtype": [asdict(p) for p in self.params_by_dtype],
            "op_types": op_types,
            "nodes": Encoded(node_lines(self.nodes))
            if as_text
            else [n.to_dict(copy) for n in self.nodes],
            # its lists are of numbers: copies, without asdict's deep copy of every number
            "memory": {
                f: _copy(getattr(self.memory, f)) if copy else getattr(self.memory, f)
                for f in _MEMORY_FIELDS
            },
            "uncounted": [asdict(u) for u in self.uncounted],
            # flat records of strings, often one a node: their fields copied in C, not by asdict
            "unresolved": [dict(vars(u)) for u in self.unresolved],
            "warnings": list(self.warnings),
            "duplicates": [asdict(x) for x in self.duplicates],
            "subgraph_nodes": [n.to_dict() for n in self.subgraph_nodes],
        }
        if self.modules is not None:
            d["modules"] = [m.to_dict() for m in self.modules]
        if self.hardware is not None:
            d["hardware"] = self.hardware
        if self.formulas is not None:
            d["formulas"] = dict(self.formulas)
            d["formulas_status"] = self.formulas_status
            d["formulas_reasons"] = list(self.formulas_reasons)
        return d
