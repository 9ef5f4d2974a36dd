#!/usr/bin/env bash
# Submits the whole sharded pipeline as four chained Slurm jobs:
#   1. array: kd-ingest, shard K of the corpus's files       (KD_STAGE=ingest)
#   2. kd-merge of the parts into corpus.sqlite               (KD_MERGE=parts)
#   3. array: kd-teacher-cache, shard K of the examples      (KD_STAGE=teacher)
#   4. kd-merge of the teacher shards into data.sqlite        (KD_MERGE=teacher)
# Each waits for the previous one (afterok). Then: kd-train --db $KD_WORK/data.sqlite
#
#   deploy/slurm/submit.sh N [extra sbatch arguments, e.g. --partition=gpu]
set -euo pipefail
n=${1:?usage: submit.sh N [sbatch args]}
shift
here=$(cd "$(dirname "$0")" && pwd)
job() { local id; id=$(sbatch --parsable "$@"); echo "${id%%;*}"; }
a=$(job --array=0-$((n - 1)) --export=ALL,KD_STAGE=ingest "$@" "$here/kd-shard.sbatch")
b=$(job --dependency=afterok:"$a" --export=ALL,KD_MERGE=parts,KD_SHARDS="$n" "$@" "$here/kd-merge.sbatch")
c=$(job --dependency=afterok:"$b" --array=0-$((n - 1)) --export=ALL,KD_STAGE=teacher "$@" "$here/kd-shard.sbatch")
d=$(job --dependency=afterok:"$c" --export=ALL,KD_MERGE=teacher,KD_SHARDS="$n" "$@" "$here/kd-merge.sbatch")
echo "ingest array $a, merge $b, teacher array $c, merge $d"
