"""OpenVINO with PagedAttention: the bundle's graph converted at load, its KV blocks ours.

OpenVINO's `paged_attention_transformation` turns the spec-layout graph's attention into
PagedAttention ops that read and write block caches given as inputs. Against the stateful graph
(openvino.py) this buys, on the CPU plugin:

* free rollback: the graph writes a pass's entries right after the committed ones, so rejected
  entries are gone once the length says so, with no dead slots for later passes to mask;
* tree verification without a [T, P+T] mask: the tree's ancestor matrix goes in as `qq_bias`;
* faster passes: on a 2-core EPYC (SmolLM2-135M, fp16 weights) `--drafter ngram` ran 35% faster
  at the default numerics and exact-mode prefill took 380 instead of 542 ms.

A short chain (no tree) is verified as T one-token subsequences over the same blocks rather
than one subsequence of T tokens. The CPU plugin writes every new entry before it attends, so
token i still sees the past and tokens 0..i-1, but it takes the one-token kernel, which reads
the cache as it is; a multi-token subsequence first transposes the keys of every past block
(and converts a 16-bit cache to f32), on every pass and in every layer, a cost that grows with
the context (on a 2-core EPYC at f32 with 1,024 entries, a 4-token pass 43.5 -> 37.3 ms, and
40.4 -> 30.5 ms with the f16 cache). Each token then reads the whole past again, which loses
from about 6 tokens on, hence `CHAIN_SPLIT_MAX`.

Only plain decoder graphs qualify: every layer's attention must convert, with no sliding window
(its layers are masked in the graph, which PagedAttention does not read) and no hidden-state
outputs. Anything else stays on the stateful session (`runtimes._open_openvino` picks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_spec.bundle import TargetSpec
from edge_spec.runtimes.kv_cache import PagedKV
from edge_spec.runtimes.openvino import OpenVINOSession

NO_TREE = (np.zeros(0, np.uint8), np.zeros(0, np.int32))  # causal: no qq_bias
CHAIN_SPLIT_MAX = 4  # longest chain verified as one-token subsequences (CPU; see above)


def paged_graph(model: Any, num_layers: int) -> bool:
    """Convert MODEL (an ov.Model, in place) to PagedAttention; False when it does not qualify.

    The graph selects logit rows with `hidden[:, logit_rows]`; after the conversion tokens run
    along the first axis ([T, 1, d]), so the selection gets a transpose in front to see them
    along the second again.
    """
    import openvino.opset13 as ops
    from openvino._offline_transformations import paged_attention_transformation

    try:
        paged_attention_transformation(model, use_block_indices_inputs=False, allow_qq_bias=True)
    except RuntimeError:  # a graph the transformation does not understand: the stateful one runs it
        return False
    paged = [op for op in model.get_ordered_ops() if op.get_type_name() == "PagedAttentionExtension"]
    if len(paged) != num_layers or any(op.get_type_name() == "ReadValue" for op in model.get_ordered_ops()):
        return False
    rows = [p for p in model.get_parameters() if p.get_friendly_name() == "logit_rows"]
    if len(rows) != 1:
        return False
    gathers = [
        use.get_node()
        for convert in rows[0].output(0).get_target_inputs()
        for use in convert.get_node().output(0).get_target_inputs()
    ]
    if len(gathers) != 1 or gathers[0].get_type_name() != "Gather":
        return False
    flatten = gathers[0].input_value(0).get_node()
    transpose = flatten.input_value(0).get_node()
    if flatten.get_type_name() != "Reshape" or transpose.get_type_name() != "Transpose":
        return False
    hidden = transpose.input_value(0)
    token_major = ops.transpose(hidden, ops.constant(np.array([1, 0, 2], dtype=np.int64)))
    transpose.input(0).replace_source_output(token_major.output(0))
    model.validate_nodes_and_infer_types()
    return True


class PagedOpenVINOSession(OpenVINOSession):
    """The bundle's graph with PagedAttention on block caches this session allocates."""

    kv_layout = "paged"

    def __init__(self, model_path: Path, spec: TargetSpec, device: str = "CPU", numerics: str = "auto"):
        self._num_layers = spec.num_layers  # read before the base class sets self.spec
        super().__init__(model_path, spec, device=device, numerics=numerics, hidden_states=False)
        self.kv.block_size = _block_size(self.compiled)  # the plugin decides it at compile time
        # measured on the CPU plugin only; other devices keep one subsequence per pass
        self.split_max = CHAIN_SPLIT_MAX if device.upper().startswith("CPU") else 0
        self._inputs = BoundInputs(self.request)

    def _read_model(self, hidden_states: bool) -> Any:
        model = super()._read_model(hidden_states)
        if not paged_graph(model, self._num_layers):
            raise NotPageable(f"{self.model_path}: the graph does not convert to PagedAttention")
        return model

    def _compile(self, config: dict[str, str]) -> Any:
        # The default u8 cache quantizes keys per block and channel, so an entry could not be
        # moved to another block by keep(); a 16-bit cache moves row by row.
        config = {"KV_CACHE_PRECISION": "f16", **config}
        return super()._compile(config)

    def _make_kv(self) -> PagedKV:
        return PagedKV(block_size=0, allocate=self._allocate)  # block size known once compiled

    def _cache_ports(self, compiled: Any) -> list[Any]:
        """The key caches of every layer, then the value caches, as the compiled model sees them."""
        ports = {p.get_any_name(): p for p in compiled.inputs}
        layers = range(self.spec.num_layers)
        return [ports[f"key_cache.{i}"] for i in layers] + [ports[f"value_cache.{i}"] for i in layers]

    def _allocate(self, blocks: int) -> list[np.ndarray]:
        """Fresh caches of BLOCKS blocks, bound to the request; views of them for PagedKV."""
        return _bind_caches(self.request, self._cache_ports(self.compiled), blocks)

    def _masks(self, positions: np.ndarray, tree_mask: np.ndarray | None) -> tuple[np.ndarray | None, None]:
        """No attention mask: PagedAttention reads the past length; the tree (None: causal) as is."""
        self.kv.make_room(positions.size)
        return tree_mask, None

    def _run(self, input_ids, position_ids, logit_rows, mask, sliding):  # noqa: ANN001, ANN202
        count = input_ids.size
        causal = mask is None or bool(np.array_equal(mask, np.tril(np.ones_like(mask))))
        ids, positions = input_ids.reshape(-1), position_ids.reshape(-1)
        split = causal and 1 < count <= self.split_max
        feed = _paged_feed(ids, positions, logit_rows, self.kv.length, self.kv.block_size, per_token=split)
        feed["qq_bias"], feed["qq_bias_begins"] = NO_TREE if causal else _tree_bias(mask)
        for name, values in feed.items():
            self._inputs.write(name, values)
        self.request.infer()
        self.kv.add_pending(count)
        return np.array(self.request.get_output_tensor(0).data), {}

    def reset(self) -> None:
        self.kv.reset()

    def _calibration_request(self, compiled: Any) -> Any:
        request = compiled.create_infer_request()
        _bind_caches(request, self._cache_ports(compiled), 64)  # room for the calibration turn
        return request

    def _calibration_feed(self, request: Any, count: int, start: int) -> dict:
        ids = np.zeros(count, np.int64)
        positions = np.arange(start, start + count, dtype=np.int64)
        block = _block_size(request.get_compiled_model())
        feed = _paged_feed(ids, positions, np.array([count - 1]), start, block)
        feed["qq_bias"], feed["qq_bias_begins"] = NO_TREE
        return feed


class BoundInputs:
    """The request's input tensors, written in place while their shapes hold.

    A feed dict makes OpenVINO's Python layer wrap and check ten arrays per call: 0.25 ms of an
    11 ms SmolLM2 step on a 2-core EPYC, which writing into tensors set once saves.
    """

    def __init__(self, request: Any):
        self.request = request
        self.views: dict[str, np.ndarray] = {}

    def write(self, name: str, values: np.ndarray) -> None:
        view = self.views.get(name)
        if view is not None and view.shape == values.shape:
            view[...] = values
            return
        import openvino as ov

        tensor = ov.Tensor(np.array(values))  # its own copy: the caller's array may change
        self.request.set_tensor(name, tensor)
        self.views[name] = tensor.data


class NotPageable(Exception):
    """The graph does not convert to PagedAttention (the stateful session takes it instead)."""


def _block_size(compiled: Any) -> int:
    """Tokens per cache block: the value cache is [blocks, kv_heads, block, head_dim (+ scales)]."""
    port = next(p for p in compiled.inputs if p.get_any_name() == "value_cache.0")
    return port.get_partial_shape()[2].get_length()


def _bind_caches(request: Any, ports: list[Any], blocks: int) -> list[np.ndarray]:
    import openvino as ov

    views = []
    for port in ports:
        shape = [blocks] + [dim.get_length() for dim in list(port.get_partial_shape())[1:]]
        tensor = ov.Tensor(port.get_element_type(), shape)
        request.set_tensor(port.get_any_name(), tensor)
        views.append(tensor.data)  # bf16 shows as a 16-bit view: fine for moving rows
    return views


def _paged_feed(
    ids: np.ndarray, positions: np.ndarray, rows: np.ndarray, past: int, block: int, per_token: bool = False
) -> dict:
    """len(ids) new tokens after PAST entries in blocks 0, 1, 2, ...: one subsequence, or with
    PER_TOKEN one subsequence per token, token i after PAST + i entries (a causal chain)."""
    count = ids.size
    sizes = np.ones(count, np.int32) if per_token else np.array([count], np.int32)
    begins = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    past_lens = (past + begins[:-1]).astype(np.int32)
    blocks = -(-(past_lens + sizes) // block)
    return {
        "input_ids": ids,
        "position_ids": positions,
        "logit_rows": rows,
        "past_lens": past_lens,
        "subsequence_begins": begins,
        "block_indices": np.concatenate([np.arange(b, dtype=np.int32) for b in blocks]),
        "block_indices_begins": np.concatenate([[0], np.cumsum(blocks)]).astype(np.int32),
        "max_context_len": np.array(past + count, np.int32),
    }


def _tree_bias(tree_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tree's [T, T] ancestor-or-self matrix as PagedAttention's qq_bias (row = query)."""
    count = tree_mask.shape[0]
    return np.ascontiguousarray(tree_mask, dtype=np.uint8).reshape(-1), np.array([0, count * count], np.int32)
