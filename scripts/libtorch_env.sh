# Source this after scripts/setup_libtorch.sh to build or run sprs with `--features tch`.
# tch's build script finds LibTorch through the venv's python; the loader finds it at run time
# through LD_LIBRARY_PATH.
_sprs_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_sprs_root/.venv-torch/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
_torch_lib="$("$_sprs_root/.venv-torch/bin/python" -c 'import torch, os; print(os.path.join(torch.__path__[0], "lib"))')"
export LD_LIBRARY_PATH="$_torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _sprs_root _torch_lib
