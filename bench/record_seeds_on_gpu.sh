#!/usr/bin/env bash
# Train every seed of a multi-seed recorded run on one lent GPU inside one command (< 10 min), then record
# it on the CPU machine. The teacher is an existing one (default pretrained:teacher-x4, shared by every
# student of every seed), so the GPU time goes to the students only.
#
#   bash bench/record_seeds_on_gpu.sh OUT_DIR                  # benchmark, plan the budget, train all seeds at once
#   PLAN=OUT_DIR/plan.env bash bench/record_seeds_on_gpu.sh OUT2   # a later device: the same budgets, resumed
#   DRY_RUN=1 bash bench/record_seeds_on_gpu.sh OUT_DIR        # on the CPU: plan from $GPU_JSON, print the commands
#
# The budget is planned from measured step times before any training (bench.gpu, then bench.seeds_plan)
# and written to OUT_DIR/plan.env, which also fixes RUN_ID, SEEDS and ENTRIES. Every seed runs one process
# per entry (student, student-1phase, phase2, phase1 → phase1+2, phase1-alpha1), all at once on the GPU.
# At the deadline the processes are interrupted; each keeps its last checkpoint (every checkpoint_every
# steps), and the same command with PLAN= resumes them on a later device, given the work folders back
# (carry .cache/recorded-work/$RUN_ID, or untar OUT_DIR/*.tar into it). Afterwards, on the CPU machine:
#   untar OUT_DIR/*.tar into .cache/recorded-work/$RUN_ID/, then run the printed `record` command.
# Output file names avoid '+' (phase1+2 → phase1-2) for transfer tools that refuse it.
set -euo pipefail
out=${1:?usage: bash bench/record_seeds_on_gpu.sh OUT_DIR}
mkdir -p "$out"
WINDOW=${WINDOW:-560}        # seconds this script may take in all
BENCH_S=${BENCH_S:-100}      # seconds of GPU benchmark before planning
TEACHER=${TEACHER:-pretrained:teacher-x4}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
if [ -n "${WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
# The no-KD student's two budget conventions need TrainConfig.student_budget.
$PY -c "import sys; from sofkd_lib.engine.config import field_names; sys.exit(0 if 'student_budget' in field_names() else
'TrainConfig.student_budget is missing: student-1phase cannot be trained')"

if [ -n "${PLAN:-}" ]; then
  [ "$PLAN" -ef "$out/plan.env" ] || cp "$PLAN" "$out/plan.env"
else
  if [ -n "${DRY_RUN:-}" ]; then
    gpu_json=${GPU_JSON:-results/bench/gpu.json}
  else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    # bf16 + channels_last steps of every variant and the CPU sampler only (--moves): what the plan reads
    $PY -m bench.gpu --out "$out/gpu.json" --budget-s "$BENCH_S" --no-compile --moves
    gpu_json=$out/gpu.json
  fi
  planned() {
    # shellcheck disable=SC2086
    $PY -m bench.seeds_plan "$1" $(( WINDOW - SECONDS - 90 )) --run-id "${RUN_ID:-seeds-x4}" \
        --seeds "${SEEDS:-0,1,2}" ${ENTRIES:+--entries $ENTRIES} > "$out/plan.env"
  }
  # A benchmark cut short plans from the recorded one (an H100's steps: conservative on a faster GPU).
  planned "$gpu_json" || { echo "planning from results/bench/gpu.json instead"; planned results/bench/gpu.json; }
fi
# shellcheck disable=SC1091
source "$out/plan.env"
cat "$out/plan.env"
work=.cache/recorded-work/$RUN_ID
common=(--run-id "$RUN_ID" --profile gpu-short --teacher "$TEACHER" --train-only --quiet)

if [ -z "${DRY_RUN:-}" ]; then  # build the embedded data once, before the processes that read it start
  $PY -c "from sofkd_lib.data import load_split; print('embedded clips:', len(load_split('embedded', 'train')), len(load_split('embedded', 'test')))"
fi
pids=()
for seed in ${SEEDS//,/ }; do
  for entry in $ENTRIES; do
    # shellcheck disable=SC2086
    cmd=($PY -m sofkd_lib record "${common[@]}" $OVERRIDES --variants "$entry" --seeds "$seed")
    log="$out/train_${entry//+/-}_seed$seed.log"
    if [ -n "${DRY_RUN:-}" ]; then
      echo "+ ${cmd[*]} > $log"
    else
      "${cmd[@]}" > "$log" 2>&1 &
      pids+=($!)
    fi
  done
done
if [ -z "${DRY_RUN:-}" ]; then
  deadline=$(( WINDOW - 45 ))
  alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
  while [ $SECONDS -lt $deadline ] && alive; do sleep 5; done
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait || true
  # Each process's progress (last logged iteration) and its folder, one tar per entry and seed.
  for d in "$work"/*/seed*; do
    [ -d "$d" ] || continue
    rel=${d#"$work"/}
    echo "$rel: iteration $(tail -n 1 "$d/metrics.csv" 2>/dev/null | cut -d, -f1)"
    tar -C "$work" -cf "$out/$(echo "${rel//+/-}" | tr / _).tar" --exclude=best.pt "$rel"
  done
fi
# shellcheck disable=SC2086
echo "record on the CPU machine: $PY -m sofkd_lib record --run-id $RUN_ID --profile gpu-short $OVERRIDES" \
     "--variants teacher $ENTRIES --seeds $SEEDS --teacher $TEACHER"
echo "done in $SECONDS s"
