//! What a file means, shown in the editor: inlay hints (each train's and sweep's trials and what
//! they cost as `sprs plan` computes them, the tokens of a budget in tokens/param, and the fields
//! a derived record gets from its base without writing them) and code lenses (above each train,
//! sweep and fit: its trials, compute and, from the results folder, its progress and time).

use std::path::Path;

use lsp_types::{CodeLens, Command, InlayHint, InlayHintKind, InlayHintLabel, Range, Uri};

use super::analysis::Analysis;
use super::{path_of, Lines};
use crate::format::si;
use crate::plan::{Plan, PlannedTrial};
use crate::store::Store;
use crate::syntax::ast::{Expr, ExprKind, ItemKind, RecordBody, RecordKind};

/// The most trials whose results a code lens reads from the results folder.
const MAX_READ: usize = 10_000;

/// The trials of `name`: a train's one trial, or a sweep's.
fn trials_of<'p>(plan: &'p Plan, name: &str) -> Vec<&'p PlannedTrial> {
    plan.trials.iter().filter(|t| t.sweep.as_deref() == Some(name) || (t.sweep.is_none() && t.name == name)).collect()
}

fn plural(count: usize, word: &str) -> String {
    format!("{count} {word}{}", if count == 1 { "" } else { "s" })
}

/// The hints of the buffer `text` of `uri`, from its analysis (the plan, none when the file has
/// errors, and its derived records), within `range`.
pub fn inlay_hints(uri: &Uri, text: &str, analysis: &Analysis, range: Range) -> Vec<InlayHint> {
    let plan = analysis.plan.as_ref();
    let Ok(file) = crate::syntax::parse(text) else { return Vec::new() };
    let lines = Lines::new(text);
    let mut hints = Vec::new();
    let mut hint = |at: usize, label: String, kind: Option<InlayHintKind>| {
        let position = lines.position(at);
        hints.push(InlayHint {
            position,
            label: InlayHintLabel::String(label),
            kind,
            text_edits: None,
            tooltip: None,
            padding_left: Some(true),
            padding_right: None,
            data: None,
        });
    };
    if let Some(plan) = plan {
        for item in &file.items {
            let Some(name) = item.name() else { continue };
            let trials = match &item.kind {
                ItemKind::Record { kind: RecordKind::Train, .. } | ItemKind::Sweep(_) => trials_of(plan, &name.node),
                _ => continue,
            };
            match (&item.kind, trials.as_slice()) {
                (ItemKind::Record { body, .. }, [trial]) => {
                    let o = &trial.observables;
                    let label = format!(
                        "N {} · N_avg {} · {} steps · D {} · C {:.2e}",
                        si(o.n as f64),
                        si(o.n_avg),
                        trial.steps,
                        si(o.d as f64),
                        o.c
                    );
                    hint(name.span.end, label, None);
                    let record = match body {
                        RecordBody::Fields(record) => Some(record),
                        RecordBody::Expr(Expr { kind: ExprKind::Derive { record, .. }, .. }) => Some(record),
                        RecordBody::Expr(_) => None,
                    };
                    let budget = record.and_then(|r| r.fields.iter().find(|f| f.path.dotted() == "budget"));
                    // A budget in tokens per parameter: the tokens it comes to.
                    if let Some(budget) = budget.filter(|b| text[b.value.span.start..b.value.span.end].contains('/')) {
                        hint(budget.value.span.end, format!("= {} tokens", si(o.d as f64)), None);
                    }
                }
                (ItemKind::Sweep(_), trials) if !trials.is_empty() => {
                    let compute: f64 = trials.iter().map(|t| t.observables.c).sum();
                    hint(name.span.end, format!("{} · C {compute:.2e}", plural(trials.len(), "trial")), None);
                }
                _ => {}
            }
        }
    }
    for late in analysis.late_bound(uri, text) {
        let fields: Vec<String> = late.fields.iter().map(|(name, value)| format!("{name} = {value}")).collect();
        hint(late.record.end, fields.join(", "), Some(InlayHintKind::PARAMETER));
    }
    hints.retain(|h| range.start <= h.position && h.position <= range.end);
    hints
}

/// The code lenses of the buffer `text` of `uri`: above each train and sweep its trials and
/// compute, and what its results folder holds; above each fit its last errors. Each lens runs
/// `sprs.plan`, `sprs.run` or `sprs.status` with the file's URI, for the client to bind.
pub fn code_lenses(uri: &Uri, text: &str, plan: Option<&Plan>) -> Vec<CodeLens> {
    let Ok(file) = crate::syntax::parse(text) else { return Vec::new() };
    let lines = Lines::new(text);
    let store = results(&path_of(uri));
    let rate = store.as_ref().and_then(|store| plan.and_then(|plan| flops_per_second(store, plan)));
    let mut lenses = Vec::new();
    for item in &file.items {
        let Some(name) = item.name() else { continue };
        let at = Range::new(lines.position(item.span.start), lines.position(name.span.end));
        let lens = |title: String, command: &str| CodeLens {
            range: at,
            command: Some(Command {
                title,
                command: command.to_string(),
                arguments: Some(vec![serde_json::json!(uri.as_str()), serde_json::json!(name.node)]),
            }),
            data: None,
        };
        match &item.kind {
            ItemKind::Record { kind: RecordKind::Train, .. } | ItemKind::Sweep(_) => {
                let Some(plan) = plan else { continue };
                let trials = trials_of(plan, &name.node);
                if trials.is_empty() {
                    // A train that sweeps vary is not a trial itself.
                    lenses.push(lens("the base of a sweep, not a trial".into(), "sprs.plan"));
                    continue;
                }
                let compute: f64 = trials.iter().map(|t| t.observables.c).sum();
                let mut title = format!("{} · {compute:.1e} FLOPs", plural(trials.len(), "trial"));
                if let Some(rate) = rate {
                    title.push_str(&format!(" · ~{} here", duration(compute / rate)));
                }
                lenses.push(lens(title, "sprs.plan"));
                // Each trial's state is a file read: a very large sweep's is left to `sprs status`.
                if let Some(store) = store.as_ref().filter(|_| trials.len() <= MAX_READ) {
                    let done = trials.iter().filter(|t| store.done(&t.id).is_some()).count();
                    let failed = trials
                        .iter()
                        .filter(|t| store.result(&t.id).is_some_and(|r| r.status == crate::store::Status::Failed))
                        .count();
                    let mut title = format!("{done}/{} done", trials.len());
                    if failed > 0 {
                        title.push_str(&format!(" · {failed} failed"));
                    }
                    lenses.push(lens(title, "sprs.status"));
                }
                lenses.push(lens("run".into(), "sprs.run"));
            }
            ItemKind::Fit(fit) => {
                let Some(errors) = store.as_ref().and_then(|s| fit_errors(s, &fit.name.node)) else { continue };
                lenses.push(lens(errors, "sprs.status"));
            }
            _ => {}
        }
    }
    lenses
}

/// The results folder of the file at `path`, as `sprs run` names it (`runs/<stem>` under the
/// working directory, which an editor sets to the project), if it exists.
fn results(path: &Path) -> Option<Store> {
    let store = Store::new(None, path).ok()?;
    crate::fs::is_real_dir(&store.root).then_some(store)
}

/// The training FLOP/s of the plan's finished trials in `store` (their compute over their
/// seconds, from at most [`MAX_READ`] trials), if any has finished.
fn flops_per_second(store: &Store, plan: &Plan) -> Option<f64> {
    let (mut compute, mut seconds) = (0.0, 0.0);
    for trial in plan.trials.iter().take(MAX_READ) {
        if let (Some(_), Some(speed)) = (store.done(&trial.id), store.speed(&trial.id)) {
            if speed.seconds > 0.0 && speed.steps == trial.steps {
                compute += trial.observables.c;
                seconds += speed.seconds;
            }
        }
    }
    (seconds > 0.0 && compute > 0.0).then(|| compute / seconds)
}

/// Seconds as `40 s`, `6 min` or `3.2 h`.
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.0} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

/// A fit's errors as its last `sprs fit` wrote them in `fits/<name>.json`.
fn fit_errors(store: &Store, name: &str) -> Option<String> {
    let path = store.root.join("fits").join(format!("{name}.json"));
    let text = crate::fs::read_to_string(&path, crate::fs::MAX_JSON_BYTES).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let mae = |key: &str| json.get(key).and_then(|e| e.get("mae")).and_then(serde_json::Value::as_f64);
    let mut parts = vec![format!("in-sample MAE {:.4}", mae("in_sample")?)];
    if let Some(held) = mae("holdout") {
        parts.push(format!("held-out MAE {held:.4}"));
    }
    let predicted = json.get("predict").and_then(|p| p.get("errors")).and_then(|e| e.get("mae"));
    if let Some(predicted) = predicted.and_then(serde_json::Value::as_f64) {
        parts.push(format!("predicted MAE {predicted:.4}"));
    }
    Some(parts.join(" · "))
}
