//! Lowering pest's pairs into the AST.

use pest::iterators::Pair;
use pest::Parser as _;
use pest_derive::Parser;

use super::ast::*;
use super::error::SyntaxError;
use super::expected::{content_end, token_at, unexpected};
use super::span::{Ident, Span, Spanned};

/// The language version this build reads and writes (`sprs 0.1`).
pub const LANGUAGE_VERSION: &str = "0.1";

#[derive(Parser)]
#[grammar = "../grammar/sprs.pest"]
struct Grammar;

/// Parses a whole file. Syntax errors stop the parse, except errors inside otherwise
/// well-formed tokens (bad escapes, missing separators), which are all collected.
pub fn parse(source: &str) -> std::result::Result<File, Vec<SyntaxError>> {
    parse_rule(source, Rule::file, |lower, file| lower.file(file))
}

/// Parses one `PATH = VALUE` override, as given to `--set` on the command line.
pub fn parse_override(source: &str) -> std::result::Result<Field, Vec<SyntaxError>> {
    parse_rule(source, Rule::set_override, |lower, set| {
        // Invariant: `set_override` is `SOI ~ override_ ~ EOI`.
        lower.field(set.into_inner().next().expect("`set_override` holds one override"))
    })
}

/// Runs the grammar's `rule` over `source` and lowers the one pair it yields.
fn parse_rule<T>(
    source: &str,
    rule: Rule,
    lower_pair: impl FnOnce(&mut Lower, Pair<Rule>) -> T,
) -> std::result::Result<T, Vec<SyntaxError>> {
    // Literal-token detail is what lets the message say "expected `}`" instead of naming rules.
    pest::set_error_detail(true);
    let mut pairs = Grammar::parse(rule, source).map_err(|error| vec![unexpected(source, &error)])?;
    let mut lower = Lower { source, errors: Vec::new(), depth: 0, too_deep: false };
    // Invariant: a successful parse of a rule that spans SOI to EOI yields exactly one pair.
    let value = lower_pair(&mut lower, pairs.next().expect("grammar yields one pair"));
    if lower.errors.is_empty() {
        Ok(value)
    } else {
        Err(lower.errors)
    }
}

/// How deeply expressions may nest, counting operators of one chain (`1 + 1 + ...` is a
/// left-deep tree) as levels. Later phases recurse over expressions; this bound keeps them
/// far from the stack's limit on any input.
pub const MAX_DEPTH: usize = 200;

pub(super) struct Lower<'s> {
    pub(super) source: &'s str,
    pub(super) errors: Vec<SyntaxError>,
    /// Nesting depth of the expression being lowered.
    pub(super) depth: usize,
    /// Whether a too-deep expression was reported (once per file is enough).
    pub(super) too_deep: bool,
}

/// The pair's span without trailing whitespace and comments: pest counts the whitespace it
/// skipped before a trailing optional part that did not match as part of the rule.
pub(super) fn span(pair: &Pair<Rule>) -> Span {
    let start = pair.as_span().start();
    Span::new(start, start + content_end(pair.as_str()))
}

pub(super) fn ident(pair: Pair<Rule>) -> Ident {
    Spanned { span: span(&pair), node: pair.as_str().to_string() }
}

impl Lower<'_> {
    fn file(&mut self, pair: Pair<Rule>) -> File {
        let mut version = None;
        let mut items = Vec::new();
        for inner in pair.into_inner() {
            match inner.as_rule() {
                Rule::header => {
                    // Invariant: `header` is `kw_sprs ~ version`.
                    let v = ident(inner.into_inner().nth(1).expect("header has a version"));
                    if v.node != LANGUAGE_VERSION {
                        self.errors.push(SyntaxError::UnsupportedVersion {
                            found: v.node.clone(),
                            supported: LANGUAGE_VERSION,
                            span: v.span.into(),
                        });
                    }
                    version = Some(v);
                }
                Rule::item => items.push(self.item(inner)),
                _ => {}
            }
        }
        File { version, items }
    }

    fn item(&mut self, pair: Pair<Rule>) -> Item {
        let mut docs = Vec::new();
        let mut kind = None;
        let mut item_span = span(&pair);
        for inner in pair.into_inner() {
            if inner.as_rule() == Rule::doc {
                docs.push(doc_text(inner));
                continue;
            }
            // The item's span starts at its keyword, not at its docs.
            item_span = span(&inner);
            kind = Some(match inner.as_rule() {
                Rule::use_item => ItemKind::Use(self.use_item(inner)),
                Rule::let_item => {
                    let mut parts = inner.into_inner().skip(1);
                    let name = ident(parts.next().expect("let has a name"));
                    let value = self.expr(parts.next().expect("let has a value"));
                    ItemKind::Let { name, value }
                }
                Rule::sweep_item => ItemKind::Sweep(self.sweep(inner)),
                Rule::fit_item => ItemKind::Fit(self.fit(inner)),
                _ => self.kind_item(inner),
            });
        }
        // Invariant: `item` always contains one of the item rules.
        Item { docs, kind: kind.expect("item has a kind"), span: item_span }
    }

    fn use_item(&mut self, pair: Pair<Rule>) -> Use {
        let mut parts = pair.into_inner().skip(1);
        let origin_pair = parts.next().expect("use has an origin");
        let origin_span = span(&origin_pair);
        let origin_inner = origin_pair.into_inner().next().expect("origin has a body");
        let origin = match origin_inner.as_rule() {
            Rule::string => UseOrigin::File { path: self.string(origin_inner), span: origin_span },
            _ => UseOrigin::Module {
                segments: origin_inner.as_str().split("::").map(str::to_string).collect(),
                span: origin_span,
            },
        };
        let names_pair = parts.next().expect("use has names");
        let names = match names_pair.as_rule() {
            Rule::use_group => names_pair.into_inner().map(use_name).collect(),
            _ => vec![use_name(names_pair)],
        };
        Use { origin, names }
    }

    fn kind_item(&mut self, pair: Pair<Rule>) -> ItemKind {
        let mut parts = pair.into_inner();
        let kind_pair = parts.next().expect("kind_item has a kind");
        let kind = match kind_pair.into_inner().next().expect("kind has a keyword").as_rule() {
            Rule::kw_data => RecordKind::Data,
            Rule::kw_model => RecordKind::Model,
            Rule::kw_schedule => RecordKind::Schedule,
            Rule::kw_optimizer => RecordKind::Optimizer,
            _ => RecordKind::Train,
        };
        let name = ident(parts.next().expect("kind_item has a name"));
        let body_pair = parts.next().expect("kind_item has a body");
        let body = match body_pair.as_rule() {
            Rule::record => RecordBody::Fields(self.record(body_pair)),
            _ => RecordBody::Expr(self.expr(body_pair)),
        };
        ItemKind::Record { kind, name, body }
    }

    fn sweep(&mut self, pair: Pair<Rule>) -> Sweep {
        let sweep_span = span(&pair);
        let mut parts = pair.into_inner().skip(1);
        let name = ident(parts.next().expect("sweep has a name"));
        let base = ident(parts.next().expect("sweep has a base"));
        let body = parts.next().expect("sweep has a body");
        let mut entries = Vec::new();
        let mut last_end = None;
        for entry in body.into_inner() {
            let entry_span = span(&entry);
            self.separator(&mut last_end, entry_span, "sweep entries");
            let mut docs = Vec::new();
            for inner in entry.into_inner() {
                match inner.as_rule() {
                    Rule::doc => docs.push(doc_text(inner)),
                    Rule::axis => entries.push(SweepEntry::Axis(self.axis(inner))),
                    _ => {
                        let mut field = self.field(inner);
                        field.docs = std::mem::take(&mut docs);
                        entries.push(SweepEntry::Override(field));
                    }
                }
            }
        }
        Sweep { name, base, entries, span: sweep_span }
    }

    fn axis(&mut self, pair: Pair<Rule>) -> Axis {
        let axis_span = span(&pair);
        let mut parts = pair.into_inner();
        let target = parts.next().expect("axis has a target");
        let (paths, tuple) = match target.as_rule() {
            Rule::path_tuple => (target.into_inner().map(path).collect(), true),
            _ => (vec![path(target)], false),
        };
        let values = self.expr(parts.nth(1).expect("axis has values"));
        Axis { paths, tuple, values, span: axis_span }
    }

    fn fit(&mut self, pair: Pair<Rule>) -> Fit {
        let mut parts = pair.into_inner().skip(1);
        let name = ident(parts.next().expect("fit has a name"));
        let next = parts.next().expect("fit has a body");
        let (base, body) = match next.as_rule() {
            Rule::ident => (Some(ident(next)), self.record(parts.next().expect("fit has a body"))),
            _ => (None, self.record(next)),
        };
        Fit { name, base, body }
    }

    pub(super) fn record(&mut self, pair: Pair<Rule>) -> Record {
        let record_span = span(&pair);
        let mut fields = Vec::new();
        let mut last_end = None;
        for field in pair.into_inner() {
            self.separator(&mut last_end, span(&field), "fields");
            fields.push(self.field(field));
        }
        Record { fields, span: record_span }
    }

    /// Two entries on one line need a comma between them.
    fn separator(&mut self, last_end: &mut Option<usize>, next: Span, what: &'static str) {
        if let Some(end) = *last_end {
            let between = &self.source[end..next.start];
            if !between.contains(',') && !between.contains('\n') {
                self.errors
                    .push(SyntaxError::MissingSeparator { what, span: token_at(self.source, next.start).1.into() });
            }
        }
        *last_end = Some(next.end);
    }

    fn field(&mut self, pair: Pair<Rule>) -> Field {
        let field_span = span(&pair);
        let mut docs = Vec::new();
        let mut field_path = None;
        let mut value = None;
        for inner in pair.into_inner() {
            match inner.as_rule() {
                Rule::doc => docs.push(doc_text(inner)),
                Rule::path => field_path = Some(path(inner)),
                _ => value = Some(self.expr(inner)),
            }
        }
        let path = field_path.expect("field has a path");
        let span = Span::new(path.span.start, field_span.end);
        Field { docs, path, value: value.expect("field has a value"), span }
    }
}

pub(super) fn path(pair: Pair<Rule>) -> Path {
    let path_span = span(&pair);
    Path { segments: pair.into_inner().map(ident).collect(), span: path_span }
}

fn use_name(pair: Pair<Rule>) -> UseName {
    let mut parts = pair.into_inner().filter(|p| p.as_rule() == Rule::ident);
    let name = ident(parts.next().expect("use_name has a name"));
    UseName { name, alias: parts.next().map(ident) }
}

fn doc_text(pair: Pair<Rule>) -> String {
    let text = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
    text.strip_prefix(' ').unwrap_or(text).trim_end().to_string()
}
