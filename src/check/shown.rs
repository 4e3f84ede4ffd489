//! How a trial's name shows the values of its sweep's axes: `grid[model.width=64, seed=7]`.
//! Names are for people (tables, the report, `--only`); ids identify trials.

use super::sweep::Trial;
use super::value::{Val, V};
use super::Checker;

/// The most characters of one axis value in a trial's name.
const MAX_SHOWN: usize = 60;

impl Checker {
    /// An axis value as a trial's name shows it: evaluated where it is a number, string, word
    /// or a tuple or list of them (`seed=7`, `budget=10 tokens/param`), as written where it is a
    /// record (`prune=journey { sparsity = 50% }`), on one line, with control characters escaped
    /// and at most [`MAX_SHOWN`] characters.
    pub(super) fn shown(&self, value: &Val) -> String {
        let text = match &value.v {
            V::Num(n) => n.to_string(),
            V::Str(s) => format!("{s:?}"),
            V::Bool(b) => b.to_string(),
            V::Word(w) => w.clone(),
            // No more elements than characters shown: a long list costs no more than a short one.
            V::Tuple(items) => format!("({})", self.joined(items)),
            V::List(items) => format!("[{}]", self.joined(items)),
            _ => self.text(value.at).split_whitespace().collect::<Vec<_>>().join(" "),
        };
        let text = crate::escape::controls(&text);
        match text.char_indices().nth(MAX_SHOWN) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.into_owned(),
        }
    }

    fn joined(&self, items: &[Val]) -> String {
        items.iter().take(MAX_SHOWN).map(|i| self.shown(i)).collect::<Vec<_>>().join(", ")
    }
}

/// Appends its id to the name of a trial whose name an earlier trial has (values that show
/// alike, or shown cut short), so that names are unique.
pub(super) fn unique_names(trials: &mut [Trial]) {
    let mut seen = std::collections::HashSet::new();
    for trial in trials {
        if !seen.insert(trial.name.clone()) {
            trial.name = format!("{}#{}", trial.name, trial.id);
        }
    }
}
