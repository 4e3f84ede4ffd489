//! The canonical layout, printed from the AST with the source's comments put back.

use super::comments::{comments, Comment};
use crate::syntax::ast::{
    Arg, BinaryOp, Expr, ExprKind, Field, File, Item, ItemKind, Path, Record, RecordBody, SweepEntry, UnaryOp, UnitAst,
    UseOrigin,
};
use crate::syntax::{Ident, Span};

const INDENT: &str = "    ";

/// `file` (parsed from `source`) in canonical form.
pub fn print(source: &str, file: &File) -> String {
    let mut printer = Printer { source, comments: comments(source), next: 0, out: String::new(), indent: 0 };
    printer.file(file);
    printer.out
}

struct Printer<'s> {
    source: &'s str,
    comments: Vec<Comment>,
    /// The first comment not printed yet.
    next: usize,
    out: String,
    indent: usize,
}

/// How tightly an expression binds, loosest first, as the grammar nests its rules.
fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Where { .. } => 0,
        ExprKind::Binary { op, .. } => match op {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div => 6,
            BinaryOp::Pow => 8,
        },
        ExprKind::Unary { op: UnaryOp::Not, .. } => 3,
        ExprKind::Unary { op: UnaryOp::Neg, .. } => 7,
        ExprKind::Call { .. } | ExprKind::Derive { .. } | ExprKind::Field { .. } | ExprKind::Of { .. } => 9,
        _ => 10,
    }
}

impl Printer<'_> {
    /// Whether a line break stands between `open` and the first part, between two parts, or
    /// between the last part and `close`: such a list, call or record is printed one part per
    /// line. A break inside a part (a record argument written over lines) does not count.
    fn breaks_between(&self, open: usize, parts: &[Span], close: usize) -> bool {
        let mut from = open;
        for part in parts.iter().chain([&Span::new(close, close)]) {
            if part.start > from && self.source[from..part.start].contains('\n') {
                return true;
            }
            from = from.max(part.end);
        }
        false
    }

    /// The end of the last non-blank byte before `pos`.
    fn previous_end(&self, pos: usize) -> usize {
        self.source[..pos].trim_end().len()
    }

    /// Line breaks in the blank stretch just before `pos`.
    fn breaks_before(&self, pos: usize) -> usize {
        self.source[self.previous_end(pos)..pos].matches('\n').count()
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn newline(&mut self) {
        let trimmed = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(trimmed);
        self.out.push('\n');
    }

    /// Ends the line unless it is already ended.
    fn end_line(&mut self) {
        if !self.at_line_start() {
            self.newline();
        }
    }

    fn pad(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    /// Starts a line of a block for whatever is at `pos`: a blank line first where the source
    /// has one (never at the top of a block).
    fn start_line(&mut self, pos: usize, first: &mut bool) {
        if !self.at_line_start() {
            self.newline();
        }
        if !*first && self.breaks_before(pos) >= 2 {
            self.out.push('\n');
        }
        *first = false;
        self.pad();
    }

    /// The comments before `pos`, in a block: each on its own line, or at the end of the line
    /// before when it was written there.
    fn block_comments(&mut self, pos: usize, first: &mut bool) {
        while let Some(comment) = self.comments.get(self.next).filter(|c| c.span.start < pos).cloned() {
            self.next += 1;
            if !self.at_line_start() && self.breaks_before(comment.span.start) == 0 {
                self.out.push(' ');
            } else {
                self.start_line(comment.span.start, first);
            }
            self.out.push_str(&comment.text);
            if comment.line || self.breaks_after(comment.span.end) {
                self.newline();
            }
        }
    }

    /// Whether a line break follows `pos` before anything else.
    fn breaks_after(&self, pos: usize) -> bool {
        let rest = &self.source[pos..];
        rest[..rest.len() - rest.trim_start().len()].contains('\n')
    }

    /// The comments before `pos`, inside a line: block comments stay inline; a line comment ends
    /// the line, and what follows goes on the next, one level in.
    fn inline_comments(&mut self, pos: usize) {
        while let Some(comment) = self.comments.get(self.next).filter(|c| c.span.start < pos).cloned() {
            self.next += 1;
            if !self.at_line_start() && !self.out.ends_with([' ', '(', '[']) {
                self.out.push(' ');
            }
            self.out.push_str(&comment.text);
            if comment.line {
                self.newline();
                self.indent += 1;
                self.pad();
                self.indent -= 1;
            } else {
                self.out.push(' ');
            }
        }
    }

    fn file(&mut self, file: &File) {
        let mut first = true;
        if let Some(version) = &file.version {
            self.block_comments(version.span.start, &mut first);
            // The header's `sprs` keyword ends where the blank before the version begins.
            let start = self.source[..version.span.start].trim_end().len().saturating_sub("sprs".len());
            self.start_line(start, &mut first);
            self.out.push_str("sprs ");
            self.out.push_str(&version.node);
        }
        for item in &file.items {
            self.block_comments(item.span.start, &mut first);
            self.start_line(item.span.start, &mut first);
            self.item(item);
        }
        self.block_comments(self.source.len() + 1, &mut first);
        if !self.at_line_start() {
            self.newline();
        }
    }

    fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Use(usage) => {
                self.out.push_str("use ");
                match &usage.origin {
                    UseOrigin::Module { segments, .. } => self.out.push_str(&segments.join("::")),
                    UseOrigin::File { span, .. } => self.out.push_str(&self.source[span.start..span.end]),
                }
                self.out.push_str("::");
                let group = usage.names.len() != 1;
                if group {
                    self.out.push('{');
                }
                for (i, name) in usage.names.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.ident(&name.name);
                    if let Some(alias) = &name.alias {
                        self.out.push_str(" as ");
                        self.ident(alias);
                    }
                }
                if group {
                    self.inline_comments(item.span.end.saturating_sub(1));
                    self.out.push('}');
                }
            }
            ItemKind::Let { name, value } => {
                self.out.push_str("let ");
                self.ident(name);
                self.out.push_str(" = ");
                self.expr(value);
            }
            ItemKind::Record { kind, name, body } => {
                self.out.push_str(kind.keyword());
                self.out.push(' ');
                self.ident(name);
                match body {
                    RecordBody::Fields(record) => {
                        self.out.push(' ');
                        self.record(record);
                    }
                    RecordBody::Expr(value) => {
                        self.out.push_str(" = ");
                        self.expr(value);
                    }
                }
            }
            ItemKind::Sweep(sweep) => {
                self.out.push_str("sweep ");
                self.ident(&sweep.name);
                self.out.push_str(" = ");
                self.ident(&sweep.base);
                self.out.push(' ');
                let body = Span::new(sweep.base.span.end, sweep.span.end);
                let entries: Vec<Entry> = sweep
                    .entries
                    .iter()
                    .map(|entry| match entry {
                        SweepEntry::Axis(axis) => {
                            let key = if axis.tuple {
                                let paths: Vec<String> = axis.paths.iter().map(Path::dotted).collect();
                                format!("({})", paths.join(", "))
                            } else {
                                axis.paths[0].dotted()
                            };
                            Entry { key, op: "in", value: &axis.values, start: axis.span.start }
                        }
                        SweepEntry::Override(field) => Entry::field(field),
                    })
                    .collect();
                self.entries(&entries, body);
            }
            ItemKind::Fit(fit) => {
                self.out.push_str("fit ");
                self.ident(&fit.name);
                if let Some(base) = &fit.base {
                    self.out.push_str(" = ");
                    self.ident(base);
                }
                self.out.push(' ');
                self.record(&fit.body);
            }
        }
    }

    fn record(&mut self, record: &Record) {
        let entries: Vec<Entry> = record.fields.iter().map(Entry::field).collect();
        self.entries(&entries, record.span);
    }

    /// `{ .. }` with `entries`, on one line or one per line as written; `body` spans the braces.
    fn entries(&mut self, entries: &[Entry], body: Span) {
        let close = body.end.saturating_sub(1);
        let open = self.source[body.start..close].find('{').map_or(body.start, |i| body.start + i + 1);
        let parts: Vec<Span> = entries.iter().map(|e| Span::new(e.start, e.value.span.end)).collect();
        // Comments between an item's name and its `{` stay before the brace.
        self.inline_comments(open.saturating_sub(1));
        if !self.breaks_between(open, &parts, close) {
            if entries.is_empty() {
                self.out.push_str("{}");
                return;
            }
            self.out.push_str("{ ");
            for (i, entry) in entries.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                self.inline_comments(entry.start);
                self.out.push_str(&format!("{} {} ", entry.key, entry.op));
                self.expr(entry.value);
            }
            self.inline_comments(close);
            self.out.push_str(" }");
            return;
        }
        self.out.push('{');
        self.indent += 1;
        // Keys are aligned within each run of entries that no blank line splits. An entry whose
        // value spans lines (other than a record's block) stands alone.
        let alone: Vec<bool> = entries.iter().map(|e| self.stands_alone(e.value)).collect();
        let mut widths = vec![0; entries.len()];
        let mut run_start = 0;
        for i in 0..=entries.len() {
            let split = i == entries.len()
                || (i > 0 && (alone[i] || alone[i - 1] || self.blank_before_entry(entries[i].start)));
            if split {
                let width = entries[run_start..i].iter().map(|e| e.key.len()).max().unwrap_or(0);
                widths[run_start..i].iter_mut().for_each(|w| *w = width);
                run_start = i;
            }
        }
        let mut first = true;
        for (entry, width) in entries.iter().zip(widths) {
            self.block_comments(entry.start, &mut first);
            self.start_line(entry.start, &mut first);
            self.out.push_str(&format!("{:<width$} {} ", entry.key, entry.op));
            self.expr(entry.value);
        }
        self.block_comments(close, &mut first);
        self.indent -= 1;
        self.end_line();
        self.pad();
        self.out.push('}');
    }

    /// Whether an entry's value is printed over lines and is not a record's block.
    fn stands_alone(&self, value: &Expr) -> bool {
        !matches!(value.kind, ExprKind::Record(_) | ExprKind::Derive { .. }) && self.prints_over_lines(value)
    }

    /// Whether `expr` is printed over more than one line: a record, list or call with a line
    /// break between its parts, or a line comment anywhere in it (one ends its line).
    fn prints_over_lines(&self, expr: &Expr) -> bool {
        let span = expr.span;
        let inside = self.comments.partition_point(|c| c.span.start <= span.start);
        if self.comments[inside..].iter().take_while(|c| c.span.start < span.end).any(|c| c.line) {
            return true;
        }
        match &expr.kind {
            ExprKind::Record(record) => self.record_over_lines(record),
            ExprKind::Derive { base, record } => self.prints_over_lines(base) || self.record_over_lines(record),
            ExprKind::List { items, .. } | ExprKind::Tuple(items) => {
                let parts: Vec<Span> = items.iter().map(|item| item.span).collect();
                let end = self.list_end(expr);
                (!items.is_empty() && self.breaks_between(span.start + 1, &parts, end.saturating_sub(1)))
                    || items.iter().any(|item| self.prints_over_lines(item))
            }
            ExprKind::Call { callee, args } => {
                self.prints_over_lines(callee)
                    || self.arguments_break(args, self.arguments_span(args, span))
                    || args.iter().any(|a| self.prints_over_lines(&a.value))
            }
            ExprKind::Field { base: inner, .. } | ExprKind::Of { value: inner, .. } => self.prints_over_lines(inner),
            ExprKind::Unary { operand, .. } => self.prints_over_lines(operand),
            ExprKind::Binary { lhs, rhs, .. } => self.prints_over_lines(lhs) || self.prints_over_lines(rhs),
            ExprKind::Where { value, cond } => self.prints_over_lines(value) || self.prints_over_lines(cond),
            _ => false,
        }
    }

    fn record_over_lines(&self, record: &Record) -> bool {
        let close = record.span.end.saturating_sub(1);
        let parts: Vec<Span> = record.fields.iter().map(|f| Span::new(f.path.span.start, f.value.span.end)).collect();
        self.breaks_between(record.span.start + 1, &parts, close)
            || record.fields.iter().any(|f| self.prints_over_lines(&f.value))
    }

    /// Where a list's brackets end (before its unit) or a tuple's parentheses.
    fn list_end(&self, expr: &Expr) -> usize {
        match &expr.kind {
            ExprKind::List { unit: Some(unit), .. } => self.previous_end(unit.span.start),
            _ => expr.span.end,
        }
    }

    /// Whether a blank line comes before an entry, or before the comments that lead it.
    fn blank_before_entry(&self, start: usize) -> bool {
        let mut pos = start;
        loop {
            if self.breaks_before(pos) >= 2 {
                return true;
            }
            let end = self.previous_end(pos);
            // The comment that ends where the blank stretch before `pos` begins, if one does.
            let before = self.comments.partition_point(|c| c.span.start < pos);
            let last = before.checked_sub(1).map(|i| &self.comments[i]);
            match last.filter(|c| c.span.end >= end && end > c.span.start) {
                Some(comment) if self.breaks_before(comment.span.start) > 0 => pos = comment.span.start,
                _ => return false,
            }
        }
    }

    fn expr(&mut self, expr: &Expr) {
        self.inline_comments(expr.span.start);
        match &expr.kind {
            ExprKind::Number { unit, .. } => {
                let text = &self.source[expr.span.start..expr.span.end];
                let number = text.split_whitespace().next().unwrap_or(text);
                self.out.push_str(number);
                self.unit(unit);
            }
            ExprKind::List { items, unit } => {
                let end = self.list_end(expr);
                self.sequence("[", "]", items, Span::new(expr.span.start, end), false);
                self.unit(unit);
            }
            ExprKind::Tuple(items) => self.sequence("(", ")", items, expr.span, items.len() == 1),
            ExprKind::Str(_) => self.out.push_str(&self.source[expr.span.start..expr.span.end]),
            ExprKind::Bool(value) => self.out.push_str(if *value { "true" } else { "false" }),
            ExprKind::SelfRef => self.out.push_str("self"),
            ExprKind::Name(name) => self.out.push_str(name),
            ExprKind::Record(record) => self.record(record),
            ExprKind::Field { base, name } => {
                self.operand(base, 9);
                self.out.push('.');
                self.ident(name);
            }
            ExprKind::Call { callee, args } => {
                self.operand(callee, 9);
                self.arguments(args, self.arguments_span(args, expr.span));
            }
            ExprKind::Derive { base, record } => {
                self.operand(base, 9);
                self.out.push(' ');
                self.record(record);
            }
            ExprKind::Of { value, basis } => {
                self.operand(value, 9);
                self.out.push_str(" of ");
                self.ident(basis);
            }
            ExprKind::Unary { op, operand } => match op {
                UnaryOp::Neg => {
                    self.out.push('-');
                    self.operand(operand, 7);
                }
                UnaryOp::Not => {
                    self.out.push_str("not ");
                    self.operand(operand, 3);
                }
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let (left, right) = match op {
                    BinaryOp::Or => (1, 2),
                    BinaryOp::And => (2, 3),
                    BinaryOp::Add | BinaryOp::Sub => (5, 6),
                    BinaryOp::Mul | BinaryOp::Div => (6, 7),
                    BinaryOp::Pow => (9, 7),
                    _ => (5, 5),
                };
                self.operand(lhs, left);
                if *op == BinaryOp::Pow {
                    self.out.push('^');
                } else {
                    self.out.push(' ');
                    self.out.push_str(op.symbol());
                    self.out.push(' ');
                }
                self.operand(rhs, right);
            }
            ExprKind::Where { value, cond } => {
                self.operand(value, 1);
                self.out.push_str(" where ");
                self.operand(cond, 1);
            }
        }
    }

    /// A name, after the comments written before it.
    fn ident(&mut self, ident: &Ident) {
        self.inline_comments(ident.span.start);
        self.out.push_str(&ident.node);
    }

    /// `expr`, in parentheses when it binds more loosely than its place needs.
    fn operand(&mut self, expr: &Expr, min: u8) {
        if precedence(expr) < min {
            self.out.push('(');
            self.expr(expr);
            self.out.push(')');
        } else {
            self.expr(expr);
        }
    }

    fn unit(&mut self, unit: &Option<UnitAst>) {
        if let Some(unit) = unit {
            self.out.push(' ');
            self.out.push_str(&unit.numerator.node);
            if let Some(denominator) = &unit.denominator {
                self.out.push('/');
                self.out.push_str(&denominator.node);
            }
        }
    }

    /// A list or tuple: on one line, or one item per line with a trailing comma, as written.
    fn sequence(&mut self, open: &str, close: &str, items: &[Expr], span: Span, one_tuple: bool) {
        self.out.push_str(open);
        let parts: Vec<Span> = items.iter().map(|item| item.span).collect();
        if !items.is_empty() && self.breaks_between(span.start + 1, &parts, span.end.saturating_sub(1)) {
            self.indent += 1;
            let mut first = true;
            for item in items {
                self.block_comments(item.span.start, &mut first);
                self.start_line(item.span.start, &mut first);
                self.expr(item);
                self.out.push(',');
            }
            self.block_comments(span.end.saturating_sub(1), &mut first);
            self.indent -= 1;
            self.end_line();
            self.pad();
        } else {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                self.expr(item);
            }
            if one_tuple {
                self.out.push(',');
            }
            self.inline_comments(span.end.saturating_sub(1));
        }
        self.out.push_str(close);
    }

    /// From just after a call's `(` to just after its `)`; `call` spans the whole call.
    fn arguments_span(&self, args: &[Arg], call: Span) -> Span {
        Span::new(self.previous_end(args.first().map_or(call.end, arg_start)), call.end)
    }

    /// Whether a call's arguments (in `span`, from [`Self::arguments_span`]) go one per line.
    fn arguments_break(&self, args: &[Arg], span: Span) -> bool {
        let parts: Vec<Span> = args.iter().map(|a| Span::new(arg_start(a), a.value.span.end)).collect();
        !args.is_empty() && self.breaks_between(span.start, &parts, span.end.saturating_sub(1))
    }

    /// A call's arguments, `span` from [`Self::arguments_span`].
    fn arguments(&mut self, args: &[Arg], span: Span) {
        let multiline = self.arguments_break(args, span);
        self.out.push('(');
        if multiline {
            self.indent += 1;
        }
        let mut first = true;
        for (i, arg) in args.iter().enumerate() {
            if multiline {
                self.block_comments(arg_start(arg), &mut first);
                self.start_line(arg_start(arg), &mut first);
            } else if i > 0 {
                self.out.push_str(", ");
            }
            if let Some(name) = &arg.name {
                self.ident(name);
                self.out.push_str(" = ");
            }
            self.expr(&arg.value);
            if multiline {
                self.out.push(',');
            }
        }
        if multiline {
            self.block_comments(span.end.saturating_sub(1), &mut first);
            self.indent -= 1;
            self.end_line();
            self.pad();
        } else {
            self.inline_comments(span.end.saturating_sub(1));
        }
        self.out.push(')');
    }
}

fn arg_start(arg: &Arg) -> usize {
    arg.name.as_ref().map_or(arg.value.span.start, |n| n.span.start)
}

/// One line of a record or sweep: `key op value`.
struct Entry<'a> {
    key: String,
    op: &'static str,
    value: &'a Expr,
    start: usize,
}

impl<'a> Entry<'a> {
    fn field(field: &'a Field) -> Entry<'a> {
        Entry { key: field.path.dotted(), op: "=", value: &field.value, start: field.path.span.start }
    }
}
