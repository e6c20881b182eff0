"""Copy a finished FastDraft run into the package as the demo's draft: fp16 weights, config, tokenizer.

usage: python benchmarks/fastdraft/ship.py RUN_DIR edge_spec/models/smollm2_fastdraft
fp16 halves the file (the exporter stores the draft at the bundle's precision anyway); tied
embeddings are saved once.
"""

import shutil
import sys
from pathlib import Path

from safetensors.numpy import load_file, save_file

KEEP = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "recipe.json",
    "fastdraft_report.json",
    "draft_vocab.safetensors",
)

run, dest = Path(sys.argv[1]), Path(sys.argv[2])
if not (run / "model.safetensors").is_file():
    sys.exit(f"{run}: no model.safetensors; the training run has not finished (rerun `run.sh train`)")
tmp = dest.with_name(dest.name + ".partial")
shutil.rmtree(tmp, ignore_errors=True)
tmp.mkdir(parents=True)
tensors = {
    name: value.astype("float16") if value.dtype.kind == "f" else value
    for name, value in load_file(run / "model.safetensors").items()
}
save_file(tensors, tmp / "model.safetensors", metadata={"format": "pt"})
for name in KEEP:
    if (run / name).is_file():
        shutil.copy2(run / name, tmp / name)
shutil.rmtree(dest, ignore_errors=True)
tmp.rename(dest)
size = sum(f.stat().st_size for f in dest.iterdir())
print(f"{dest}: {size / 2**20:.1f} MiB")
