#!/usr/bin/env bash
# The main job on embedded defaults (offline, CPU): build a small Sudoku set, train the tiny preset,
# evaluate it on held-out puzzles, and solve one held-out puzzle. About 2 minutes on 2 CPU cores.
# DEMO_CONFIG=hrm-tiny trains the HRM instead (about 5 minutes).
set -euo pipefail
HRM=${1:-hrm}
DATA=${DEMO_DATA:-data/demo-sudoku4}
RUN=${DEMO_RUN:-runs/demo}
CONFIG=${DEMO_CONFIG:-trm-demo}

echo "== hrm doctor: device and BLAS"
"$HRM" doctor --no-compare || true

echo "== 1. build 3,000 training and 300 held-out 4x4 Sudoku puzzles (minimal, unique solutions)"
"$HRM" data build sudoku --size 4 --difficulty hard --count 3000 --test-count 300 --seed 0 --output "$DATA" --force
"$HRM" data show "$DATA" --split test --index 0

echo "== 2. train the $CONFIG preset on the CPU (trm-demo: a Tiny Recursive Model, 125k parameters, 562 steps)"
rm -rf "$RUN"
"$HRM" train "$DATA" --config "$CONFIG" --run-name "$(basename "$RUN")" runs_dir="$(dirname "$RUN")"

echo "== 3. evaluate on the held-out puzzles (exact accuracy = the whole grid right)"
"$HRM" eval "$RUN" --data "$DATA"

echo "== 4. solve a held-out puzzle"
PUZZLE=$("$HRM" data show "$DATA" --split test --index 0 --json | python3 -c \
  'import json,sys; d=json.load(sys.stdin); print("".join(str(v-1) if v>1 else "." for v in d["inputs"]))')
echo "puzzle: $PUZZLE"
"$HRM" solve "$RUN" --puzzle "$PUZZLE" || echo "(the model got this one wrong; see the exact accuracy above)"
