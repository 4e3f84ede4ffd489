//! Type, unit and range checking of records against their kinds' schemas. The result is the
//! record's canonical JSON (every field, defaults filled in), which deserializes into the typed
//! configs of [`super::config`].

use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value as Json};

use super::schema::{FieldDefault, Kind};
use super::value::{Cached, Loc, Obj};
use super::{CheckError, Checker};
use crate::config::{Arch, DataConfig, Dtype, Method, Point, Source, SyntheticConfig, Tokenizer};
use crate::data::tokenize::Manifest;

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

    /// Checks that need several fields of one record, on their typed values.
    fn validate(&mut self, obj: &Obj, kind: Kind, path: &str, map: &mut Map<String, Json>) -> Option<()> {
        let fields = Fields { kind, map };
        match kind {
            Kind::Model => {
                // A record checked on its own may not set both (a template leaves `width` open).
                let (Some(width), Some(heads)) = (fields.get::<u64>("width"), fields.get::<u64>("heads")) else {
                    return Some(());
                };
                if width % heads != 0 {
                    let nearest = (1..=width).filter(|h| width % h == 0).min_by_key(|h| h.abs_diff(heads)).unwrap_or(1);
                    let help = Some(format!("each head gets `width / heads` dimensions; with width {width}, heads = {nearest} divides evenly"));
                    self.emit(self.field_at(obj, "heads"), |span| CheckError::HeadsDivide { heads, width, span, help });
                    return None;
                }
                // Rotary positions turn a head's dimensions in pairs.
                let head_dim = width / heads;
                if fields.get::<Arch>("arch") == Some(Arch::Llama) && head_dim % 2 == 1 {
                    // The nearest count of heads that splits evenly, the larger on a tie.
                    let even = (1..=width).rev().filter(|h| width % h == 0 && (width / h) % 2 == 0);
                    let help = match even.min_by_key(|h| h.abs_diff(heads)) {
                        Some(nearest) => format!(
                            "with width {width}, heads = {nearest} gives {} dimensions per head",
                            width / nearest
                        ),
                        None => format!("an odd width ({width}) has no even split: make it even"),
                    };
                    self.emit(self.field_at(obj, "heads"), |span| CheckError::OddHeadDim {
                        head_dim,
                        heads,
                        span,
                        help,
                    });
                    return None;
                }
            }
            Kind::Schedule => {
                if let (Some(start), Some(end)) = (fields.get::<Point>("start"), fields.get::<Point>("end")) {
                    if ends_before(end, start) {
                        let start_at = self.user_loc(self.field_at(obj, "start"));
                        let end_at = self.user_loc(self.field_at(obj, "end"));
                        let start_span = (start_at.file == end_at.file).then(|| start_at.span.into());
                        self.emit(end_at, |span| CheckError::ScheduleOrder { span, start: start_span });
                        return None;
                    }
                }
                let sparsity = fields.get::<f64>("sparsity").unwrap_or(0.0);
                if fields.get::<Method>("method") == Some(Method::None) && sparsity > 0.0 {
                    let sparsity = format!("{}%", crate::format::number(sparsity * 100.0));
                    self.emit(self.field_at(obj, "sparsity"), |span| CheckError::SparsityWithoutMethod {
                        sparsity,
                        span,
                    });
                    return None;
                }
            }
            Kind::Synthetic => {
                let config: SyntheticConfig = fields.all()?;
                if config.branching > config.vocab {
                    let range = format!("in [1, {}] (at most `vocab`)", config.vocab);
                    let field = join(path, "branching");
                    self.emit(self.field_at(obj, "branching"), |span| CheckError::OutOfRange {
                        field,
                        range,
                        value: config.branching.to_string(),
                        span,
                        help: None,
                    });
                    return None;
                }
                let draws = crate::data::synthetic::draws_per_token(&config);
                if draws > crate::data::synthetic::MAX_DRAWS_PER_TOKEN {
                    let at = self.field_at(obj, "branching");
                    let help = Some(
                        "successors are drawn at random until `branching` distinct ones are found, which takes longer as `branching` nears `vocab`; lower `branching`".to_string(),
                    );
                    self.emit(at, |span| CheckError::CostlyGeneration {
                        draws: crate::format::number(draws.round()),
                        max: crate::format::number(crate::data::synthetic::MAX_DRAWS_PER_TOKEN),
                        span,
                        help,
                    });
                    return None;
                }
            }
            Kind::Data => {
                let data: DataConfig = fields.all()?;
                let is_ids = |source: &Source| matches!(source, Source::Tokens { .. } | Source::Synthetic(_));
                if matches!(data.tokenizer, Tokenizer::Bpe { .. }) && is_ids(&data.source) {
                    let at = self.field_at(obj, "tokenizer");
                    self.emit(at, |span| CheckError::DataMismatch {
                        message: "a `bpe` tokenizer is trained on text, but this source is token ids already".into(),
                        span,
                        label: "needs a text source".into(),
                        help: Some("use `text(..)` or `bundled(..)` as the source, or drop the tokenizer".into()),
                    });
                    return None;
                }
                if data.valid.is_none() && data.holdout == 0.0 {
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
            Kind::Train => {
                let data: DataConfig = fields.get("data")?;
                self.fill_model(obj, &data, map)?
            }
            _ => {}
        }
        Some(())
    }

    /// A model's vocabulary and context default to the data's.
    /// The model's fields stay JSON here: they are what the trial's canonical configuration
    /// (and so its id) is built from, and `vocab` and `context` are not set yet.
    fn fill_model(&mut self, obj: &Obj, data: &DataConfig, map: &mut Map<String, Json>) -> Option<()> {
        // A generated source's ids are its own vocabulary; a pre-tokenized file's is unknown
        // until run time; otherwise the tokenizer's.
        let tokenizer_vocab = match (&data.source, &data.tokenizer) {
            (Source::Synthetic(synthetic), _) => Some(synthetic.vocab),
            (Source::Tokens { path, dtype }, _) => self.token_manifest(obj, path, *dtype)?,
            (_, Tokenizer::Bytes) => Some(256),
            (_, Tokenizer::Bpe { vocab }) => Some(*vocab),
            (_, Tokenizer::File { .. }) => None,
        };
        let data_context = data.context;
        let model = map.get_mut("model")?.as_object_mut()?;
        let model_at = self.field_at(obj, "model");
        match (model.get("vocab").and_then(Json::as_u64), tokenizer_vocab) {
            (None, Some(vocab)) => {
                model.insert("vocab".into(), json!(vocab));
            }
            (None, None) => {
                let help = Some(
                    "the vocabulary of a `file(..)` tokenizer, or of a `tokens(..)` file without the manifest `sprs tokenize` writes beside it, is only known at run time; set `vocab` in the model"
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

impl Checker {
    /// The vocabulary of a token file, from the manifest `sprs tokenize` wrote beside it
    /// (`FILE.json`): `Some(None)` without one; `None` (reported) when a value of the manifest
    /// cannot be right ([`Manifest::validate`]) or it says the ids are of another type than the
    /// file is read as.
    fn token_manifest(&mut self, obj: &Obj, path: &str, dtype: Dtype) -> Option<Option<u64>> {
        let manifest = match Manifest::read(&self.access, &self.entry_dir.join(path)) {
            Ok(Some(manifest)) => manifest,
            Ok(None) => return Some(None),
            Err(reason) => {
                let at = self.field_at(obj, "data");
                self.emit(at, |span| CheckError::DataMismatch {
                    message: format!("`{path}` cannot be used: {reason}"),
                    span,
                    label: "its manifest is wrong".into(),
                    help: Some("make the token file and its manifest again with `sprs tokenize`".into()),
                });
                return None;
            }
        };
        if manifest.dtype != dtype {
            let name = |d: Dtype| if d == Dtype::U16 { "u16" } else { "u32" };
            let at = self.field_at(obj, "data");
            let message = format!(
                "`{path}` holds {} ids (its manifest says so), but is read as {}",
                name(manifest.dtype),
                name(dtype)
            );
            self.emit(at, |span| CheckError::DataMismatch {
                message,
                span,
                label: "read as the wrong type".into(),
                help: Some(format!("write `tokens(\"{path}\", dtype = {})`", name(manifest.dtype))),
            });
            return None;
        }
        Some(Some(manifest.vocab))
    }
}

/// Whether `end` comes before `start`, when both are measured the same way (fractions of the same
/// basis, or both steps, or both tokens); points of different kinds are ordered per trial, where
/// the run's length is known.
fn ends_before(end: Point, start: Point) -> bool {
    match (start, end) {
        (Point::Fraction { value: start, of: a }, Point::Fraction { value: end, of: b }) => a == b && end < start,
        (Point::Steps(start), Point::Steps(end)) | (Point::Tokens(start), Point::Tokens(end)) => end < start,
        _ => false,
    }
}

/// A record's checked fields, read by name as the typed values of [`crate::config`]. A name that
/// is not a field of the record's kind is a bug in the checker, caught by any test that reaches
/// the rule: it never reads as an unset field.
struct Fields<'a> {
    kind: Kind,
    map: &'a Map<String, Json>,
}

impl Fields<'_> {
    /// The field's value, or `None` when the record does not set it (a template).
    fn get<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        debug_assert!(self.kind.field(name).is_some(), "`{name}` is not a field of {}", self.kind.article());
        let value = self.map.get(name)?;
        let typed = T::deserialize(value);
        debug_assert!(typed.is_ok(), "`{name}` = {value} does not fit its configuration type");
        typed.ok()
    }

    /// The whole record as its configuration type.
    fn all<T: DeserializeOwned>(&self) -> Option<T> {
        let typed = T::deserialize(&Json::Object(self.map.clone()));
        debug_assert!(typed.is_ok(), "{} does not fit its configuration type", self.kind.article());
        typed.ok()
    }
}
