//! Type, unit and range checking of records against their kinds' schemas. The result is the
//! record's canonical JSON (every field, defaults filled in), which deserializes into the typed
//! configs of [`super::config`].

use std::rc::Rc;

use serde_json::{json, Map, Value as Json};

use super::schema::{FieldDefault, Kind};
use super::value::{fmt_number, Cached, Loc, Obj};
use super::{CheckError, Checker};

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

impl Checker {
    /// Checks every field of `obj` as a record of `kind`. With `partial` (templates such as a
    /// sweep's base), only the fields the record sets are checked and none is required.
    pub(super) fn coerce_record(&mut self, obj: &Rc<Obj>, kind: Kind, path: &str, partial: bool) -> Option<Json> {
        let mut map = Map::new();
        let mut ok = true;
        for spec in kind.fields() {
            if partial && obj.slot(spec.name).is_none() {
                continue;
            }
            let field_path = join(path, spec.name);
            match self.field(obj, spec.name, obj.at) {
                None => {
                    if spec.default == FieldDefault::Required && !partial {
                        let help = Some(format!("add `{} = ..`: {}", spec.name, spec.doc));
                        let at = self.first_line(obj.at);
                        self.emit(at, |span| CheckError::MissingField {
                            field: spec.name.to_string(),
                            kind: kind.article(),
                            span,
                            help,
                        });
                        ok = false;
                    }
                }
                Some(None) => ok = false,
                Some(Some(value)) => match self.coerce(&value, spec.ty, &field_path, partial) {
                    Some(json) => {
                        map.insert(spec.name.to_string(), json);
                    }
                    None => ok = false,
                },
            }
        }
        if !ok {
            return None;
        }
        if !partial {
            self.validate(obj, kind, path, &mut map)?;
        }
        Some(Json::Object(map))
    }

    /// Where a field's value was written, once it has been evaluated.
    pub(super) fn field_at(&self, obj: &Obj, name: &str) -> Loc {
        match obj.cache.borrow().get(name) {
            Some(Cached::Done(Some(value))) => value.at,
            _ => obj.slot(name).map_or(obj.at, |s| s.at),
        }
    }

    /// Checks a named model or schedule on its own, as far as the fields it sets allow: its rules
    /// that need several fields (`heads` divides `width`, `end` after `start`, a method for a
    /// sparsity), so that a library of records is checked without a trial that uses them. A
    /// trial that uses the record meets the same error at the same place, reported once.
    /// `checked` is the record's JSON from a partial [`Checker::coerce_record`].
    pub(super) fn validate_item(&mut self, obj: &Obj, kind: Kind, name: &str, checked: Json) {
        if let (Kind::Model | Kind::Schedule, Json::Object(mut map)) = (kind, checked) {
            let _ = self.validate(obj, kind, name, &mut map);
        }
    }

    /// Checks that need several fields of one record.
    fn validate(&mut self, obj: &Obj, kind: Kind, path: &str, map: &mut Map<String, Json>) -> Option<()> {
        let num = |map: &Map<String, Json>, key: &str| map.get(key).and_then(Json::as_f64);
        match kind {
            Kind::Model => {
                // A record checked on its own may not set both (a template leaves `width` open).
                let (Some(width), Some(heads)) = (num(map, "width"), num(map, "heads")) else { return Some(()) };
                let (width, heads) = (width as u64, heads as u64);
                if width % heads != 0 {
                    let nearest = (1..=width).filter(|h| width % h == 0).min_by_key(|h| h.abs_diff(heads)).unwrap_or(1);
                    let help = Some(format!("each head gets `width / heads` dimensions; with width {width}, heads = {nearest} divides evenly"));
                    self.emit(self.field_at(obj, "heads"), |span| CheckError::HeadsDivide { heads, width, span, help });
                    return None;
                }
            }
            Kind::Schedule => {
                let start = map.get("start").and_then(point_key);
                let end = map.get("end").and_then(point_key);
                if let (Some((start_basis, start)), Some((end_basis, end))) = (start, end) {
                    if start_basis == end_basis && end < start {
                        let start_at = self.user_loc(self.field_at(obj, "start"));
                        let end_at = self.user_loc(self.field_at(obj, "end"));
                        let start_span = (start_at.file == end_at.file).then(|| start_at.span.into());
                        self.emit(end_at, |span| CheckError::ScheduleOrder { span, start: start_span });
                        return None;
                    }
                }
                let sparsity = num(map, "sparsity").unwrap_or(0.0);
                if map.get("method").and_then(Json::as_str) == Some("none") && sparsity > 0.0 {
                    let sparsity = format!("{}%", fmt_number(sparsity * 100.0));
                    self.emit(self.field_at(obj, "sparsity"), |span| CheckError::SparsityWithoutMethod {
                        sparsity,
                        span,
                    });
                    return None;
                }
            }
            Kind::Synthetic => {
                let (vocab, branching) = (num(map, "vocab")?, num(map, "branching")?);
                if branching > vocab {
                    let range = format!("in [1, {}] (at most `vocab`)", fmt_number(vocab));
                    let field = join(path, "branching");
                    self.emit(self.field_at(obj, "branching"), |span| CheckError::OutOfRange {
                        field,
                        range,
                        value: fmt_number(branching),
                        span,
                        help: None,
                    });
                    return None;
                }
                let config: crate::config::SyntheticConfig = serde_json::from_value(Json::Object(map.clone())).ok()?;
                let draws = crate::data::synthetic::draws_per_token(&config);
                if draws > crate::data::synthetic::MAX_DRAWS_PER_TOKEN {
                    let at = self.field_at(obj, "branching");
                    let help = Some(
                        "successors are drawn at random until `branching` distinct ones are found, which takes longer as `branching` nears `vocab`; lower `branching`".to_string(),
                    );
                    self.emit(at, |span| CheckError::CostlyGeneration {
                        draws: fmt_number(draws.round()),
                        max: fmt_number(crate::data::synthetic::MAX_DRAWS_PER_TOKEN),
                        span,
                        help,
                    });
                    return None;
                }
            }
            Kind::Data => {
                let is_ids = |key: &str| {
                    map.get(key)
                        .and_then(Json::as_object)
                        .is_some_and(|s| s.contains_key("tokens") || s.contains_key("synthetic"))
                };
                let trained = map.get("tokenizer").and_then(Json::as_object).is_some_and(|t| t.contains_key("bpe"));
                if trained && is_ids("source") {
                    let at = self.field_at(obj, "tokenizer");
                    self.emit(at, |span| CheckError::DataMismatch {
                        message: "a `bpe` tokenizer is trained on text, but this source is token ids already".into(),
                        span,
                        label: "needs a text source".into(),
                        help: Some("use `text(..)` or `bundled(..)` as the source, or drop the tokenizer".into()),
                    });
                    return None;
                }
                if !map.contains_key("valid") && num(map, "holdout") == Some(0.0) {
                    let at = self.field_at(obj, "holdout");
                    self.emit(at, |span| CheckError::DataMismatch {
                        message: "`holdout` is 0% and there is no `valid` source: nothing is left to evaluate on"
                            .into(),
                        span,
                        label: "nothing held out".into(),
                        help: Some("hold out a fraction (`holdout = 1%`), or give a separate `valid` source".into()),
                    });
                    return None;
                }
            }
            Kind::Train => self.fill_model(obj, map)?,
            _ => {}
        }
        Some(())
    }

    /// A model's vocabulary and context default to the data's.
    fn fill_model(&mut self, obj: &Obj, map: &mut Map<String, Json>) -> Option<()> {
        let data = map.get("data")?.clone();
        // A generated source's ids are its own vocabulary; a pre-tokenized file's is unknown
        // until run time; otherwise the tokenizer's.
        let tokenizer_vocab = match (&data["source"], &data["tokenizer"]) {
            (Json::Object(s), _) if s.contains_key("synthetic") => s["synthetic"]["vocab"].as_u64(),
            (Json::Object(s), _) if s.contains_key("tokens") => None,
            (_, Json::String(word)) if word == "bytes" => Some(256),
            (_, Json::Object(o)) if o.contains_key("bpe") => o["bpe"]["vocab"].as_u64(),
            _ => None,
        };
        let data_context = data["context"].as_u64()?;
        let model = map.get_mut("model")?.as_object_mut()?;
        let model_at = self.field_at(obj, "model");
        match (model.get("vocab").and_then(Json::as_u64), tokenizer_vocab) {
            (None, Some(vocab)) => {
                model.insert("vocab".into(), json!(vocab));
            }
            (None, None) => {
                let help = Some(
                    "the vocabulary of a `file(..)` tokenizer or a `tokens(..)` file is only known at run time; set `vocab` in the model"
                        .to_string(),
                );
                self.emit(model_at, |span| CheckError::MissingField {
                    field: "vocab".into(),
                    kind: Kind::Model.article(),
                    span,
                    help,
                });
                return None;
            }
            (Some(vocab), Some(needed)) if vocab < needed => {
                let range = format!("at least the tokenizer's vocabulary ({needed})");
                self.emit(model_at, |span| CheckError::OutOfRange {
                    field: "model.vocab".into(),
                    range,
                    value: vocab.to_string(),
                    span,
                    help: None,
                });
                return None;
            }
            _ => {}
        }
        match model.get("context").and_then(Json::as_u64) {
            None => {
                model.insert("context".into(), json!(data_context));
            }
            Some(context) if context < data_context => {
                let range = format!("at least the data's context ({data_context})");
                self.emit(model_at, |span| CheckError::OutOfRange {
                    field: "model.context".into(),
                    range,
                    value: context.to_string(),
                    span,
                    help: None,
                });
                return None;
            }
            Some(_) => {}
        }
        Some(())
    }
}

/// The (basis, value) of a schedule point, for ordering points of the same basis.
fn point_key(point: &Json) -> Option<(String, f64)> {
    let (key, value) = point.as_object()?.iter().next()?;
    match value {
        Json::Object(fraction) => {
            Some((format!("fraction of {}", fraction.get("of")?.as_str()?), fraction.get("value")?.as_f64()?))
        }
        other => Some((key.clone(), other.as_f64()?)),
    }
}
