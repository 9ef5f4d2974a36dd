#!/usr/bin/env bash
# Issue 15's GPU measurement, repeated: kd-teacher-cache --teacher-cmd with
# tools/teacher-cmd/hf_teacher.py on an NVIDIA GPU and a BERT-base-sized
# classifier (random weights, made here from a config: nothing is downloaded),
# beside a plain PyTorch loop over the same texts, for banking77 and medical
# abstracts at batch 64 fp32 and batch 256 fp16. Prints a markdown table.
#
# Runs where there is no Swift toolchain and no internet: kd comes from CARRY,
# built by tools/bench/teacher-cmd/prepare-gpu-carry.sh (binary, its shared
# libraries, the two prepared stores, the tokenizer).
#
#   tools/bench/teacher-cmd/gpu.sh [CARRY]     (default .gpu-carry; ~4-5 min on one H200)
#
# Needs python3 with torch + transformers, nvidia-smi. Every step has a timeout;
# the whole script stops starting new measurements after KD_GPU_BUDGET seconds (300).
set -uo pipefail
cd "$(dirname "$0")/../../.."
root=$PWD
carry=${1:-.gpu-carry}
case "$carry" in /*) ;; *) carry="$root/$carry" ;; esac
budget=${KD_GPU_BUDGET:-300}
start=$SECONDS
out=${OUT:-$root/out/gpu-bench}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
export LD_LIBRARY_PATH="$carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
K="$carry/bin/kd-teacher-cache"
log() { echo "[gpu.sh +$((SECONDS - start))s] $*" >&2; }
step() { local t=$1; shift; timeout --kill-after=10 "$t" "$@"; }

log "checks"
step 30 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt" >&2 || { log "no nvidia-smi / GPU"; exit 1; }
step 120 python3 -c "import torch, transformers; assert torch.cuda.is_available(); print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0))" | tee -a "$out/gpu.txt" >&2 || { log "torch cannot see the GPU"; exit 1; }
step 20 "$K" --help > /dev/null || { log "the carried kd-teacher-cache does not run (LD_LIBRARY_PATH=$carry/lib)"; ldd "$K" >&2; exit 1; }
nproc >> "$out/gpu.txt"

log "models: BERT-base (12 x 768, random weights) per task"
for task in banking77 medical; do
  step 180 python3 tools/bench/teacher-cmd/make_bert.py "$tmp/bert-$task" "$carry/tokenizer" "$carry/stores/$task.sqlite" "$task" >&2 \
    || { log "cannot make the model for $task"; exit 1; }
done

# sample UTIL_FILE: GPU utilisation every 100 ms, with epoch seconds
sample() {
  nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits -lms 100 > "$1" 2>/dev/null &
  echo $!
}

rows=()
for task in banking77 medical; do
  for cfg in "64 fp32" "256 fp16"; do
    set -- $cfg
    batch=$1 prec=$2
    if [ $((SECONDS - start)) -gt "$budget" ]; then log "budget of $budget s spent: skipping $task $batch $prec"; continue; fi
    fp16=(); [ "$prec" = fp16 ] && fp16=(--fp16)
    name="$task-$batch-$prec"
    cp "$carry/stores/$task.sqlite" "$tmp/$name.sqlite"
    log "kd-teacher-cache: $name"
    pid=$(sample "$tmp/$name.kd.util")
    step 150 "$K" --db "$tmp/$name.sqlite" --batch-size "$batch" --window 4 --response-timeout 120 --json --quiet \
      --teacher-cmd "python3 $root/tools/teacher-cmd/hf_teacher.py $tmp/bert-$task --batch-size $batch ${fp16[*]} --stats $tmp/$name.hf.json" \
      > "$tmp/$name.kd.json" 2> "$tmp/$name.kd.err"
    rc=$?
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    [ $rc -eq 0 ] || { log "kd failed ($rc): $(tail -3 "$tmp/$name.kd.err")"; cp "$tmp/$name.kd.err" "$out/"; continue; }
    log "plain PyTorch loop: $name"
    pid=$(sample "$tmp/$name.loop.util")
    step 150 python3 tools/bench/teacher-cmd/torch_loop.py "$tmp/$name.sqlite" "$task" "$tmp/bert-$task" --batch-size "$batch" ${fp16[*]} \
      > "$tmp/$name.loop.json" 2> "$tmp/$name.loop.err"
    rc=$?
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    [ $rc -eq 0 ] || { log "loop failed ($rc): $(tail -3 "$tmp/$name.loop.err")"; echo '{}' > "$tmp/$name.loop.json"; }
    cp "$tmp/$name".*.json "$tmp/$name".*.util "$out/" 2>/dev/null
    rows+=("$(python3 - "$tmp" "$name" "$task" "$batch" "$prec" <<'PY'
import datetime, json, sys
tmp, name, task, batch, prec = sys.argv[1:]
kd = json.load(open(f"{tmp}/{name}.kd.json"))["teachers"][0]
hf = json.load(open(f"{tmp}/{name}.hf.json"))
loop = json.load(open(f"{tmp}/{name}.loop.json"))
def util(path, t0=None, t1=None):
    vals = []
    for line in open(path):
        try:
            ts, u = [x.strip() for x in line.split(",")]
            t = datetime.datetime.strptime(ts, "%Y/%m/%d %H:%M:%S.%f").timestamp()
            if (t0 is None or t >= t0) and (t1 is None or t <= t1):
                vals.append(float(u))
        except ValueError:
            pass
    return sum(vals) / len(vals) if vals else float("nan")
n = kd["cached_now"]
e2e = n / kd["seconds"]
startup = hf["first_request"] - hf["process_start"]
steady = n / (hf["last_answer"] - hf["first_request"])
busy_all = util(f"{tmp}/{name}.kd.util")
busy = util(f"{tmp}/{name}.kd.util", hf["first_request"], hf["last_answer"])
lp = loop.get("examples_per_second", float("nan"))
lbusy = util(f"{tmp}/{name}.loop.util", loop.get("start"), loop.get("end")) if loop else float("nan")
print(f"| {task} | {batch}, {prec} | {n:,} | {e2e:,.0f} | {startup:.1f} s | {steady:,.0f} | {lp:,.0f} | {steady / lp * 100:.0f}% | "
      f"{busy:.0f}% ({busy_all:.0f}% over the whole run) | {lbusy:.0f}% |")
PY
)")
  done
done

{
echo "### kd-teacher-cache --teacher-cmd on $(head -1 "$out/gpu.txt" | cut -d, -f1): hf_teacher.py, BERT-base-sized classifier (random weights)"
echo
echo "| task | batch, precision | examples | kd ex/s end to end | teacher start-up (import, load) | kd ex/s after start-up | plain PyTorch loop ex/s | kd ÷ loop | GPU busy during kd | GPU busy during loop |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "kd: --window 4, token ids (the teacher does not tokenize), logits as base64 float32. End to end = kd's own seconds"
echo "(teacher process start, torch import and model load included). After start-up = examples / (the teacher's last answer"
echo "minus its first request). The loop tokenizes its own text, sorts by length like kd, and leaves out the model load and"
echo "one warm-up batch. GPU busy = mean of nvidia-smi utilization.gpu sampled every 100 ms over the same span."
echo "$(sed -n 2p "$out/gpu.txt"); $(sed -n 3p "$out/gpu.txt") CPU cores; total $((SECONDS - start)) s."
} | tee "$out/table.md"
