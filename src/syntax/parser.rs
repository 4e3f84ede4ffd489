//! Lowering pest's pairs into the AST.

use pest::error::InputLocation;
use pest::iterators::Pair;
use pest::Parser as _;
use pest_derive::Parser;

use super::ast::*;
use super::error::SyntaxError;
use super::span::{Ident, Span, Spanned};

/// The language version this build reads and writes (`sprs 0.1`).
pub const LANGUAGE_VERSION: &str = "0.1";

#[derive(Parser)]
#[grammar = "../grammar/sprs.pest"]
struct Grammar;

/// Parses a whole file. Syntax errors stop the parse, except errors inside otherwise
/// well-formed tokens (bad escapes, missing separators), which are all collected.
pub fn parse(source: &str) -> std::result::Result<File, Vec<SyntaxError>> {
    // Literal-token detail is what lets the message say "expected `}`" instead of naming rules.
    pest::set_error_detail(true);
    let mut pairs = match Grammar::parse(Rule::file, source) {
        Ok(pairs) => pairs,
        Err(error) => return Err(vec![unexpected(source, &error)]),
    };
    let mut lower = Lower { source, errors: Vec::new(), depth: 0, too_deep: false };
    // Invariant: a successful parse of `file` yields exactly one `file` pair.
    let file = lower.file(pairs.next().expect("grammar yields one file pair"));
    if lower.errors.is_empty() {
        Ok(file)
    } else {
        Err(lower.errors)
    }
}

fn unexpected(source: &str, error: &pest::error::Error<Rule>) -> SyntaxError {
    let pos = match error.location {
        InputLocation::Pos(pos) => pos,
        InputLocation::Span((start, _)) => start,
    };
    let mut words: Vec<String> = Vec::new();
    fn push(words: &mut Vec<String>, word: String) {
        if !words.contains(&word) {
            words.push(word);
        }
    }
    let mut operator = false;
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            // `ParsingToken` is not exported; its Display is the literal (ranges print `a..b`).
            let text = token.to_string();
            if text == "BUILTIN_RULE" || (text.chars().count() == 4 && text.contains("..")) {
                continue;
            }
            match text.as_str() {
                "+" | "-" | "*" | "/" | "^" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "and" | "or" | "where" | "of" => {
                    operator = true
                }
                // Continuations of a number or a name, and units: the help covers units.
                "%" | "k" | "M" | "B" | "G" | "T" | "e" | "E" | "_" | "tokens" | "token" | "params" | "param"
                | "flops" | "flop" | "FLOPs" | "FLOP" | "steps" | "step" | "sequences" | "sequence" => {}
                "\"" | "[" | "true" | "false" | "self" | "not" => push(&mut words, "an expression".into()),
                "//" | "/*" | "///" | " " | "\t" | "\r" | "\n" | "\u{feff}" | "*/" => {}
                "use" | "let" | "data" | "model" | "schedule" | "optimizer" | "train" | "sweep" | "fit" => {
                    push(&mut words, "an item".into())
                }
                other => push(&mut words, format!("`{other}`")),
            }
        }
    }
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            if let Some(word) = rule_words(*rule) {
                push(&mut words, word.into());
            }
        }
    }
    if operator {
        push(&mut words, "an operator".into());
    }
    if words.is_empty() {
        push(&mut words, "valid syntax".into());
    }
    let expected = match words.len() {
        1 => words.remove(0),
        2 => format!("{} or {}", words[0], words[1]),
        _ => {
            let last = words.pop().unwrap_or_default();
            format!("one of {}, or {last}", words.join(", "))
        }
    };
    let (found, span) = token_at(source, pos);
    let help = help_for(source, pos);
    SyntaxError::Unexpected { expected, found, span: span.into(), help }
}

/// Words for the rules pest reports as expected.
fn rule_words(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::expr
        | Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::add_expr
        | Rule::mul_expr
        | Rule::neg_expr
        | Rule::pow_expr
        | Rule::postfix
        | Rule::primary
        | Rule::quantity
        | Rule::number
        | Rule::unit_list
        | Rule::string
        | Rule::paren
        | Rule::record
        | Rule::name => "an expression",
        Rule::ident | Rule::ident_raw | Rule::field_name | Rule::path | Rule::use_name => "a name",
        Rule::version => "a version number such as `0.1`",
        Rule::item | Rule::kind_item | Rule::kind => "an item",
        _ => return None,
    })
}

/// The token starting at `pos`, described for a message, and its span.
fn token_at(source: &str, pos: usize) -> (String, Span) {
    let rest = &source[pos.min(source.len())..];
    let Some(first) = rest.chars().next() else {
        // Point just after the last token: a label past the final newline would not be shown.
        let end = content_end(source);
        return ("end of file".into(), Span::new(end, end));
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    let text = &rest[..len];
    let found = match first {
        '\n' | '\r' => "end of line".to_string(),
        _ => format!("`{text}`"),
    };
    (found, Span::new(pos, pos + len))
}

/// The keywords of the grammar's `keyword` rule.
const KEYWORDS: &[&str] = &[
    "sprs",
    "use",
    "let",
    "data",
    "model",
    "schedule",
    "optimizer",
    "train",
    "sweep",
    "fit",
    "in",
    "where",
    "of",
    "self",
    "true",
    "false",
    "as",
    "and",
    "or",
    "not",
];

/// The unit words of the grammar's `unit_word` rule.
const UNIT_WORDS: &[&str] =
    &["tokens", "token", "params", "param", "flops", "flop", "FLOPs", "FLOP", "steps", "step", "sequences", "sequence"];

/// Help for the common slips that the expected-token list alone explains badly.
fn help_for(source: &str, pos: usize) -> Option<String> {
    let before = source[..pos.min(source.len())].trim_end_matches([' ', '\t']);
    let rest = &source[pos.min(source.len())..];
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let after_number = before.chars().last().is_some_and(|c| c.is_ascii_digit() || c == '%');
    if after_number && !word.is_empty() && !word.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!(
            "`{word}` is not a unit; the units are `tokens`, `params`, `flops`, `steps` and `sequences`, and one `/` forms a ratio such as `tokens/param`"
        ));
    }
    if rest.starts_with("/*") || (before.ends_with('/') && rest.starts_with('*')) {
        return Some("this block comment is never closed with `*/`".into());
    }
    let first_on_line = before.ends_with('\n');
    let previous_line_ends_in_number =
        before.trim_end().ends_with(|c: char| c.is_ascii_digit() || c == '%' || c == ']');
    if first_on_line && previous_line_ends_in_number && UNIT_WORDS.contains(&word.as_str()) {
        return Some(format!("a unit must be on the same line as its number: `20 {word}`"));
    }
    if KEYWORDS.contains(&word.as_str()) {
        return Some(format!("`{word}` is a keyword; choose another name"));
    }
    if rest.starts_with("std::") {
        return Some("bring a standard library name into scope with `use std::...` at the top of the file".into());
    }
    None
}

/// How deeply expressions may nest, counting operators of one chain (`1 + 1 + ...` is a
/// left-deep tree) as levels. Later phases recurse over expressions; this bound keeps them
/// far from the stack's limit on any input.
pub const MAX_DEPTH: usize = 200;

struct Lower<'s> {
    source: &'s str,
    errors: Vec<SyntaxError>,
    /// Nesting depth of the expression being lowered.
    depth: usize,
    /// Whether a too-deep expression was reported (once per file is enough).
    too_deep: bool,
}

/// The pair's span without trailing whitespace and comments: pest counts the whitespace it
/// skipped before a trailing optional part that did not match as part of the rule.
fn span(pair: &Pair<Rule>) -> Span {
    let start = pair.as_span().start();
    Span::new(start, start + content_end(pair.as_str()))
}

/// The end of the last byte of `text` that is not whitespace or a comment.
fn content_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut i, mut last) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                last = i;
            }
            _ => {
                i += 1;
                last = i;
            }
        }
    }
    last
}

fn ident(pair: Pair<Rule>) -> Ident {
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

    fn record(&mut self, pair: Pair<Rule>) -> Record {
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

    fn expr(&mut self, pair: Pair<Rule>) -> Expr {
        let pair_span = span(&pair);
        // Operators of one chain each add a level to the tree they build.
        let chain = pair.clone().into_inner().count().saturating_sub(1) / 2 + 1;
        if self.depth + chain > MAX_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                self.errors.push(SyntaxError::TooDeep { max: MAX_DEPTH, span: pair_span.into() });
            }
            return Expr { kind: ExprKind::Bool(false), span: pair_span };
        }
        self.depth += chain;
        let expr = self.expr_inner(pair, pair_span);
        self.depth -= chain;
        expr
    }

    fn expr_inner(&mut self, pair: Pair<Rule>, pair_span: Span) -> Expr {
        match pair.as_rule() {
            Rule::expr => {
                let mut parts = pair.into_inner();
                let value = self.expr(parts.next().expect("expr has a value"));
                match parts.nth(1) {
                    Some(cond) => {
                        let cond = self.expr(cond);
                        Expr { kind: ExprKind::Where { value: Box::new(value), cond: Box::new(cond) }, span: pair_span }
                    }
                    None => value,
                }
            }
            Rule::or_expr | Rule::and_expr => {
                let op = if pair.as_rule() == Rule::or_expr { BinaryOp::Or } else { BinaryOp::And };
                let mut parts = pair.into_inner().filter(|p| !matches!(p.as_rule(), Rule::kw_or | Rule::kw_and));
                let first = self.expr(parts.next().expect("operand"));
                parts.fold(first, |lhs, rhs| {
                    let rhs = self.expr(rhs);
                    binary(op, lhs, rhs)
                })
            }
            Rule::add_expr | Rule::mul_expr => {
                let mut parts = pair.into_inner();
                let mut lhs = self.expr(parts.next().expect("operand"));
                while let Some(op) = parts.next() {
                    let op = match op.as_str() {
                        "+" => BinaryOp::Add,
                        "-" => BinaryOp::Sub,
                        "*" => BinaryOp::Mul,
                        _ => BinaryOp::Div,
                    };
                    let rhs = self.expr(parts.next().expect("operand after operator"));
                    lhs = binary(op, lhs, rhs);
                }
                lhs
            }
            Rule::cmp_expr => {
                let mut parts = pair.into_inner();
                let lhs = self.expr(parts.next().expect("operand"));
                match parts.next() {
                    Some(op) => {
                        let op = match op.as_str() {
                            "==" => BinaryOp::Eq,
                            "!=" => BinaryOp::Ne,
                            "<=" => BinaryOp::Le,
                            ">=" => BinaryOp::Ge,
                            "<" => BinaryOp::Lt,
                            _ => BinaryOp::Gt,
                        };
                        let rhs = self.expr(parts.next().expect("operand after comparison"));
                        binary(op, lhs, rhs)
                    }
                    None => lhs,
                }
            }
            Rule::not_expr | Rule::neg_expr => {
                let mut ops = Vec::new();
                let mut operand = None;
                for inner in pair.into_inner() {
                    match inner.as_rule() {
                        Rule::not_op => ops.push((UnaryOp::Not, inner.as_span().start())),
                        Rule::neg_op => ops.push((UnaryOp::Neg, inner.as_span().start())),
                        _ => operand = Some(self.expr(inner)),
                    }
                }
                let mut expr = operand.expect("unary has an operand");
                for (op, start) in ops.into_iter().rev() {
                    let span = Span::new(start, expr.span.end);
                    expr = Expr { kind: ExprKind::Unary { op, operand: Box::new(expr) }, span };
                }
                expr
            }
            Rule::pow_expr => {
                let mut parts = pair.into_inner();
                let base = self.expr(parts.next().expect("base"));
                match parts.next() {
                    Some(exponent) => {
                        let exponent = self.expr(exponent);
                        binary(BinaryOp::Pow, base, exponent)
                    }
                    None => base,
                }
            }
            Rule::postfix => self.postfix(pair),
            _ => self.primary(pair),
        }
    }

    fn postfix(&mut self, pair: Pair<Rule>) -> Expr {
        let mut parts = pair.into_inner();
        let mut expr = self.primary(parts.next().expect("postfix has a primary"));
        for op in parts {
            let end = op.as_span().end();
            let span = Span::new(expr.span.start, end);
            let kind = match op.as_rule() {
                Rule::field_access => {
                    let name = ident(op.into_inner().next().expect("field name"));
                    ExprKind::Field { base: Box::new(expr), name }
                }
                Rule::call_args => {
                    let args = op.into_inner().map(|arg| self.arg(arg)).collect();
                    ExprKind::Call { callee: Box::new(expr), args }
                }
                Rule::derive => {
                    let record = self.record(op.into_inner().next().expect("derive has a record"));
                    ExprKind::Derive { base: Box::new(expr), record }
                }
                _ => {
                    let basis = ident(op.into_inner().nth(1).expect("of has a basis"));
                    ExprKind::Of { value: Box::new(expr), basis }
                }
            };
            expr = Expr { kind, span };
        }
        expr
    }

    fn arg(&mut self, pair: Pair<Rule>) -> Arg {
        let mut parts: Vec<Pair<Rule>> = pair.into_inner().collect();
        let value = self.expr(parts.pop().expect("arg has a value"));
        let name = parts.pop().map(ident);
        Arg { name, value }
    }

    fn primary(&mut self, pair: Pair<Rule>) -> Expr {
        let pair =
            if pair.as_rule() == Rule::primary { pair.into_inner().next().expect("primary has a body") } else { pair };
        let pair_span = span(&pair);
        let kind = match pair.as_rule() {
            Rule::quantity => {
                let mut parts = pair.into_inner();
                let number = parts.next().expect("quantity has a number");
                let (value, percent) = self.number(&number);
                ExprKind::Number { value, percent, unit: parts.next().map(unit) }
            }
            Rule::unit_list => {
                let mut parts = pair.into_inner();
                let list = parts.next().expect("unit_list has a list");
                let items = list.into_inner().map(|p| self.expr(p)).collect();
                ExprKind::List { items, unit: parts.next().map(unit) }
            }
            Rule::string => ExprKind::Str(self.string(pair)),
            Rule::kw_true => ExprKind::Bool(true),
            Rule::kw_false => ExprKind::Bool(false),
            Rule::kw_self => ExprKind::SelfRef,
            Rule::paren => {
                let mut parts = pair.into_inner();
                let first = self.expr(parts.next().expect("paren has an expression"));
                match parts.next() {
                    Some(tail) => {
                        let mut items = vec![first];
                        items.extend(tail.into_inner().map(|p| self.expr(p)));
                        ExprKind::Tuple(items)
                    }
                    None => return Expr { kind: first.kind, span: pair_span },
                }
            }
            Rule::record => ExprKind::Record(self.record(pair)),
            _ => ExprKind::Name(pair.as_str().to_string()),
        };
        Expr { kind, span: pair_span }
    }

    /// The value of a number literal, with suffixes applied, and whether it was written with `%`.
    /// A suffix shifts the decimal exponent before the one rounding to f64, so `7%` is exactly
    /// the float `0.07` and `1.5B` exactly `1.5e9`: equal values give equal trial ids.
    fn number(&mut self, pair: &Pair<Rule>) -> (f64, bool) {
        let text = pair.as_str();
        let (body, shift, percent) = match text.chars().last() {
            Some('%') => (&text[..text.len() - 1], -2, true),
            Some('k') => (&text[..text.len() - 1], 3, false),
            Some('M') => (&text[..text.len() - 1], 6, false),
            Some('B' | 'G') => (&text[..text.len() - 1], 9, false),
            Some('T') => (&text[..text.len() - 1], 12, false),
            _ => (text, 0, false),
        };
        let digits: String = body.chars().filter(|c| *c != '_').collect();
        let (mantissa, exponent) = match digits.find(['e', 'E']) {
            Some(i) => (&digits[..i], digits[i + 1..].parse::<i64>().unwrap_or(i64::MAX)),
            None => (digits.as_str(), 0),
        };
        let exponent = exponent.saturating_add(shift);
        // Invariant: the grammar only admits digit strings that Rust's float parser accepts.
        let value = format!("{mantissa}e{exponent}").parse::<f64>().expect("grammar admits only valid floats");
        if !value.is_finite() {
            self.errors.push(SyntaxError::NumberTooLarge { text: text.to_string(), span: span(pair).into() });
            return (0.0, percent);
        }
        (value, percent)
    }

    fn string(&mut self, pair: Pair<Rule>) -> String {
        let mut out = String::new();
        for part in pair.into_inner() {
            let part = part.into_inner().next().expect("string part has a body");
            let text = part.as_str();
            if part.as_rule() == Rule::str_text {
                out.push_str(text);
                continue;
            }
            let decoded = match text {
                "\\\"" => Some('"'),
                "\\\\" => Some('\\'),
                "\\n" => Some('\n'),
                "\\t" => Some('\t'),
                _ if text.starts_with("\\u{") && text.ends_with('}') => {
                    let hex = &text[3..text.len() - 1];
                    (1..=6)
                        .contains(&hex.len())
                        .then(|| u32::from_str_radix(hex, 16).ok().and_then(char::from_u32))
                        .flatten()
                }
                _ => None,
            };
            match decoded {
                Some(c) => out.push(c),
                None => self.errors.push(SyntaxError::BadEscape { text: text.to_string(), span: span(&part).into() }),
            }
        }
        out
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span }
}

fn path(pair: Pair<Rule>) -> Path {
    let path_span = span(&pair);
    Path { segments: pair.into_inner().map(ident).collect(), span: path_span }
}

fn use_name(pair: Pair<Rule>) -> UseName {
    let mut parts = pair.into_inner().filter(|p| p.as_rule() == Rule::ident);
    let name = ident(parts.next().expect("use_name has a name"));
    UseName { name, alias: parts.next().map(ident) }
}

fn unit(pair: Pair<Rule>) -> UnitAst {
    let unit_span = span(&pair);
    let mut words = pair.into_inner().map(ident);
    let numerator = words.next().expect("unit has a word");
    UnitAst { numerator, denominator: words.next(), span: unit_span }
}

fn doc_text(pair: Pair<Rule>) -> String {
    let text = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
    text.strip_prefix(' ').unwrap_or(text).trim_end().to_string()
}
