#!/usr/bin/env bash
# The FastDraft draft for SmolLM2-135M-Instruct: train it (resumable), ship it, benchmark it.
#   bash benchmarks/fastdraft/run.sh train     # pre-train + align; rerun to resume (--max-minutes per stretch)
#   bash benchmarks/fastdraft/run.sh ship      # copy the finished draft (fp16) into edge_spec/models/
#   bash benchmarks/fastdraft/run.sh bench     # draft vs n-gram vs GenAI, code and Spec-Bench, default and exact
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${EDGE_SPEC_SHARED:-../shared}
RUN=${FASTDRAFT_RUN:-$HOME/.cache/edge-spec-bench/fastdraft-run3}
# the target-written samples of an earlier run with the same target, corpus and seed (25 min to redo)
REUSE=${FASTDRAFT_REUSE_DATA:-$HOME/.cache/edge-spec-bench/fastdraft-run1/fastdraft_data}
MODELS=${EDGE_SPEC_BENCH_MODELS:-$HOME/.cache/edge-spec-bench/models}
DB=${EDGE_SPEC_STATIC_DB:-$HOME/.cache/edge-spec-bench/ngram/stdlib-smollm2.esng}
SHIP=edge_spec/models/smollm2_fastdraft
OUT=benchmarks/results
TARGET=$(python "$SHARED/bench/get_target.py" | tail -1)

case "${1:-}" in
train)
  resume=(); [ -f "$RUN/checkpoint/state.json" ] && resume=(--resume)
  if [ ! -e "$RUN" ] && [ -d "$REUSE" ]; then mkdir -p "$RUN" && cp -r "$REUSE" "$RUN/"; fi
  edge-spec train fastdraft --target "$TARGET" -o "$RUN" --pretrain-tokens 3000000 --align-samples 512 \
    --head-vocab 8192 --distill-tokens 2560000 --seed 0 --threads 2 --max-minutes "${MAX_MINUTES:-95}" "${resume[@]}"
  ;;
ship)
  python benchmarks/fastdraft/ship.py "$RUN" "$SHIP"
  cp "$RUN/recipe.json" "$RUN/fastdraft_report.json" benchmarks/fastdraft/
  ;;
bench)
  [ -f "$DB" ] || edge-spec ngram build "$SHARED/bench/tokenizer" --python-stdlib -o "$DB"
  bundle="$MODELS/smollm2-ov-fp16-$(basename "$RUN")"
  [ -f "$bundle/edge_spec.json" ] || \
    edge-spec export "$TARGET" -o "$bundle" --weights fp16 --draft "$RUN"
  run() {  # name prompts limit [extra...]
    local name=$1 prompts=$2 limit=$3; shift 3
    [ -f "$OUT/$name.json" ] && { echo "skip $name"; return; }
    edge-spec bench "$bundle" --prompts "$prompts" --limit "$limit" --drafter ngram,draft,auto \
      --max-new-tokens 128 --compare genai --ngram-db "$DB" --json "$OUT/$name.json" --plot "$OUT/$name.png" "$@" \
      | tee "$OUT/$name.txt"
  }
  tag=${BENCH_TAG:-$(basename "$RUN")}
  run "${tag}_code_default" "$SHARED/bench/prompts/code.jsonl" 20
  run "${tag}_spec_bench_default" "$SHARED/bench/spec_bench_question.jsonl" 3
  run "${tag}_code_exact" "$SHARED/bench/prompts/code.jsonl" 10 --exact
  run "${tag}_spec_bench_exact" "$SHARED/bench/spec_bench_question.jsonl" 3 --exact
  ;;
*) echo "usage: $0 train|ship|bench" >&2; exit 2 ;;
esac
