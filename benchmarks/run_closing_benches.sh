#!/usr/bin/env bash
# The benchmark runs behind the issue notes (SmolLM2-135M-Instruct, OpenVINO CPU, 128 new tokens,
# greedy, every mode interleaved in one process). Resumable: a run whose JSON exists is skipped.
#   bash benchmarks/run_closing_benches.sh        # ~1 hour on a 2-core laptop CPU (the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${EDGE_SPEC_SHARED:-../shared}
MODELS=${EDGE_SPEC_BENCH_MODELS:-$HOME/.cache/edge-spec-bench/models}
DB=${EDGE_SPEC_STATIC_DB:-$HOME/.cache/edge-spec-bench/ngram/stdlib-smollm2.esng}
OUT=${EDGE_SPEC_BENCH_OUT:-benchmarks/results}  # a fresh folder per machine: existing runs are skipped
mkdir -p "$OUT"
TARGET=$(python "$SHARED/bench/get_target.py" | tail -1)
[ -f "$DB" ] || edge-spec ngram build "$SHARED/bench/tokenizer" --python-stdlib -o "$DB"
# Spec-Bench's static DB adds the target's own chat answers: the text the package ships for the
# demo (edge_spec/models/smollm2_chat/, written by `edge-spec train chat-corpus`, see its recipe)
CHAT_TEXT=${EDGE_SPEC_CHAT_TEXT:-edge_spec/models/smollm2_chat/chat.txt.gz}
CHAT_DB=${EDGE_SPEC_CHAT_DB:-$HOME/.cache/edge-spec-bench/ngram/stdlib-chat2048-smollm2.esng}
[ -f "$CHAT_DB" ] || edge-spec ngram build "$SHARED/bench/tokenizer" "$CHAT_TEXT" --python-stdlib -o "$CHAT_DB"
for weights in fp16 int4; do
  [ -f "$MODELS/smollm2-ov-$weights/edge_spec.json" ] || \
    edge-spec export "$TARGET" -o "$MODELS/smollm2-ov-$weights" --format openvino --weights "$weights"
done
run() {  # name bundle-weights prompts limit [extra...]
  local name=$1 weights=$2 prompts=$3 limit=$4; shift 4
  [ -f "$OUT/$name.json" ] && { echo "skip $name"; return; }
  edge-spec bench "$MODELS/smollm2-ov-$weights" --prompts "$prompts" --limit "$limit" --drafter ngram \
    --max-new-tokens 128 --compare genai --json "$OUT/$name.json" --plot "$OUT/$name.png" "$@" \
    | tee "$OUT/$name.txt"
}
run code_default fp16 "$SHARED/bench/prompts/code.jsonl" 20 --ngram-db "$DB"
run spec_bench_default fp16 "$SHARED/bench/spec_bench_question.jsonl" 3 --ngram-db "$CHAT_DB"
run code_exact fp16 "$SHARED/bench/prompts/code.jsonl" 10 --exact --ngram-db "$DB"
run code_int4_default int4 "$SHARED/bench/prompts/code.jsonl" 10 --genai-f32 --ngram-db "$DB"
run humaneval_default fp16 "$SHARED/bench/HumanEval.jsonl.gz" 40 --ngram-db "$DB"
