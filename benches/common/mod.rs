//! What the benches share: the python that runs their reference scripts.

use std::path::Path;

/// `$var`, else the project's `.venv-torch/bin/python` (from `scripts/setup_libtorch.sh`), else
/// `python3`.
pub fn python(var: &str) -> String {
    std::env::var(var).ok().unwrap_or_else(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-torch/bin/python");
        if venv.exists() {
            venv.display().to_string()
        } else {
            "python3".into()
        }
    })
}
