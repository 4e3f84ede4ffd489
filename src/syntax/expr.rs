//! Lowering expressions: operators with their precedence, postfix chains, literals and strings.

use pest::iterators::Pair;

use super::ast::*;
use super::error::SyntaxError;
use super::parser::{ident, span, Lower, Rule, MAX_DEPTH};
use super::span::Span;

impl Lower<'_> {
    pub(super) fn expr(&mut self, pair: Pair<Rule>) -> Expr {
        let pair_span = span(&pair);
        // Operators of one chain each add a level to the tree they build: one per operator where
        // operands alternate with operators, one per prefix operator or postfix suffix (`--x`,
        // `a.b.c`) where they wrap a single operand.
        let inner = pair.clone().into_inner().count();
        let chain = match pair.as_rule() {
            Rule::neg_expr | Rule::not_expr | Rule::postfix => inner.max(1),
            _ => inner.saturating_sub(1) / 2 + 1,
        };
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
                    let op = operator(op);
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
                        let op = operator(op);
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

    pub(super) fn string(&mut self, pair: Pair<Rule>) -> String {
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

fn unit(pair: Pair<Rule>) -> UnitAst {
    let unit_span = span(&pair);
    let mut words = pair.into_inner().map(ident);
    let numerator = words.next().expect("unit has a word");
    UnitAst { numerator, denominator: words.next(), span: unit_span }
}

/// The operator of an `add_op`, `mul_op` or `cmp_op` pair.
fn operator(pair: Pair<Rule>) -> BinaryOp {
    // Invariant: each operator rule of the grammar is a choice of exactly one `op_*` rule.
    let op = pair.into_inner().next().expect("an operator rule holds one operator");
    match op.as_rule() {
        Rule::op_eq => BinaryOp::Eq,
        Rule::op_ne => BinaryOp::Ne,
        Rule::op_le => BinaryOp::Le,
        Rule::op_ge => BinaryOp::Ge,
        Rule::op_lt => BinaryOp::Lt,
        Rule::op_gt => BinaryOp::Gt,
        Rule::op_add => BinaryOp::Add,
        Rule::op_sub => BinaryOp::Sub,
        Rule::op_mul => BinaryOp::Mul,
        Rule::op_div => BinaryOp::Div,
        other => unreachable!("`{other:?}` is not an operator rule of the grammar"),
    }
}
