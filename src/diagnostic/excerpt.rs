//! The part of a file shown under a diagnostic: the lines around its labels, with lines longer
//! than [`LONG_LINE`] characters cut to a window around the label, and control characters
//! replaced, so that any input renders quickly and safely. miette's renderer fails on columns past
//! 65535, rescans the file from its start for every label, and prints what the file holds,
//! escape sequences included; it is given this excerpt instead of the file, with the file's own
//! line numbers and the label's real line and column in the header.

use miette::{LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use crate::check::SourceFile;
use crate::syntax::source::floor_char_boundary;

/// Lines longer than this (in characters) are cut.
pub const LONG_LINE: usize = 200;

/// Characters of a cut line kept before a label's start; [`WINDOW`] in all.
const BEFORE: usize = 40;
const WINDOW: usize = 120;

/// A label spanning more lines than this is shown on its first line only.
const TALL: usize = 8;

/// Lines of context kept around each label (miette shows one).
const CONTEXT: usize = 2;

/// What `…` takes in the excerpt.
const ELLIPSIS: &str = "…";

/// One line of the file, as shown.
struct Shown {
    /// Where the line starts in the file, and the part of it that is kept.
    start: usize,
    keep: std::ops::Range<usize>,
    /// Where it starts in the excerpt, and the bytes of the `…` before the kept part.
    at: usize,
    prefix: usize,
    suffix: usize,
}

/// The source given to miette for one diagnostic.
pub struct Excerpt {
    name: String,
    text: String,
    /// Pieces of the file shown, each a run of whole lines: (first line in `text`, first line
    /// in the file).
    pieces: Vec<(usize, usize)>,
    /// The file's 0-based line and column of each label's start, by its offset in `text`.
    starts: Vec<(usize, (usize, usize))>,
}

impl Excerpt {
    /// The excerpt of `file` for `labels`, and the labels moved into it.
    pub fn new(file: &SourceFile, labels: Vec<LabeledSpan>) -> (Excerpt, Vec<LabeledSpan>) {
        let text = file.text.as_str();
        // Each label as a byte range on character boundaries, tall ones cut to their first line.
        let ranges: Vec<(usize, usize)> = labels
            .iter()
            .map(|label| {
                let start = floor_char_boundary(text, label.offset());
                let end = floor_char_boundary(text, label.offset().saturating_add(label.len())).max(start);
                let (first, last) = (file.line_of(start), file.line_of(end.saturating_sub(1).max(start)));
                if last - first > TALL {
                    (start, file.line_range(first).end.max(start))
                } else {
                    (start, end)
                }
            })
            .collect();
        // The lines to show: around every label, joined where they touch. The empty line after a
        // final newline is not a line.
        let last_line = file.line_count() - 1 - usize::from(text.ends_with('\n') && file.line_count() > 1);
        let mut runs: Vec<(usize, usize)> = ranges
            .iter()
            .map(|&(start, end)| {
                let (first, last) = (file.line_of(start), file.line_of(end));
                (first.saturating_sub(CONTEXT).min(last_line), (last + CONTEXT).min(last_line).max(first))
            })
            .collect();
        runs.sort_unstable();
        let mut joined: Vec<(usize, usize)> = Vec::new();
        for (first, last) in runs {
            match joined.last_mut() {
                Some((_, end)) if first <= *end + 1 => *end = (*end).max(last),
                _ => joined.push((first, last)),
            }
        }
        let points: Vec<usize> = ranges.iter().flat_map(|&(start, end)| [start, end]).collect();
        let mut excerpt = String::new();
        let mut shown: Vec<Shown> = Vec::new();
        let mut pieces = Vec::new();
        let mut excerpt_line = 0;
        for (i, &(first, last)) in joined.iter().enumerate() {
            if i > 0 {
                // A blank line between pieces: miette never reads across it.
                excerpt.push('\n');
                excerpt_line += 1;
            }
            pieces.push((excerpt_line, first));
            for line in first..=last {
                let range = file.line_range(line);
                shown.push(show_line(&text[range.clone()], range.start, &points, &mut excerpt));
                excerpt.push('\n');
                excerpt_line += 1;
            }
        }
        let place = |offset: usize| -> usize {
            let i = shown.partition_point(|s| s.start <= offset).saturating_sub(1);
            let line = &shown[i];
            if offset < line.keep.start {
                line.at
            } else if offset <= line.keep.end {
                line.at + line.prefix + (offset - line.keep.start)
            } else {
                line.at + line.prefix + line.keep.len() + line.suffix
            }
        };
        let mut starts = Vec::new();
        let moved = labels
            .iter()
            .zip(&ranges)
            .map(|(label, &(start, end))| {
                let (from, to) = (place(start), place(end).max(place(start)));
                let (line, column) = file.line_col(start);
                starts.push((from, (line - 1, column - 1)));
                let span = SourceSpan::new(from.into(), to - from);
                let text = label.label().map(|l| crate::escape::controls(l).into_owned());
                if label.primary() {
                    LabeledSpan::new_primary_with_span(text, span)
                } else {
                    LabeledSpan::new_with_span(text, span)
                }
            })
            .collect();
        let name = crate::escape::line(&file.name);
        (Excerpt { name, text: excerpt, pieces, starts }, moved)
    }

    /// The file's 0-based line of an excerpt line.
    fn file_line(&self, line: usize) -> usize {
        let i = self.pieces.partition_point(|(at, _)| *at <= line).saturating_sub(1);
        self.pieces.get(i).map_or(line, |(at, first)| first + (line - at))
    }
}

/// Appends `line` (which starts at `start` in the file) to `out`, cut to a window around the
/// first of `points` on it when it is long, with control characters replaced by characters of the
/// same length (so offsets in the kept part move by a constant).
fn show_line(line: &str, start: usize, points: &[usize], out: &mut String) -> Shown {
    let at = out.len();
    let end = start + line.len();
    let chars = line.chars().count();
    let mut keep = 0..line.len();
    if chars > LONG_LINE {
        let anchor = points.iter().copied().filter(|p| (start..=end).contains(p)).min().unwrap_or(start) - start;
        let anchor_char = line[..anchor].chars().count();
        let first = anchor_char.saturating_sub(BEFORE).min(chars.saturating_sub(WINDOW));
        let byte = |n: usize| line.char_indices().nth(n).map_or(line.len(), |(i, _)| i);
        keep = byte(first)..byte(first + WINDOW);
    }
    let prefix = if keep.start > 0 { ELLIPSIS.len() } else { 0 };
    let suffix = if keep.end < line.len() { ELLIPSIS.len() } else { 0 };
    if prefix > 0 {
        out.push_str(ELLIPSIS);
    }
    for c in line[keep.clone()].chars() {
        if c.is_control() && c != '\t' || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.push_str(match c.len_utf8() {
                1 => "?",
                2 => "¿",
                _ => "\u{fffd}",
            });
        } else {
            out.push(c);
        }
    }
    if suffix > 0 {
        out.push_str(ELLIPSIS);
    }
    Shown { start, keep: start + keep.start..start + keep.end, at, prefix, suffix }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.as_str().read_span(span, context_lines_before, context_lines_after)?;
        // A read without context is the header's `[file:line:column]` of a label: the file's own.
        let header = (context_lines_before, context_lines_after) == (0, 0);
        let (line, column) = match self.starts.iter().find(|(at, _)| *at == span.offset()) {
            Some((_, position)) if header => *position,
            _ => (self.file_line(inner.line()), inner.column()),
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line,
            column,
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{Origin, SourceMap};

    fn excerpt(text: &str, labels: Vec<LabeledSpan>) -> (Excerpt, Vec<LabeledSpan>) {
        let mut map = SourceMap::default();
        let id = map.add(Origin::Defaults, "x.sprs".into(), text.to_string());
        Excerpt::new(map.get(id), labels)
    }

    #[test]
    fn short_lines_are_kept_whole_and_labels_stay_on_their_text() {
        let text = "a\nb\nlet x = nope\nc\nd\ne\nf\n";
        let at = text.find("nope").unwrap();
        let (excerpt, labels) = excerpt(text, vec![LabeledSpan::at(at..at + 4, "here")]);
        let moved = &labels[0];
        assert_eq!(&excerpt.text[moved.offset()..moved.offset() + moved.len()], "nope");
        // Lines 0..=4 around line 2; the header's position is the file's.
        assert_eq!(excerpt.text, "a\nb\nlet x = nope\nc\nd\n");
        let header = excerpt.read_span(moved.inner(), 0, 0).unwrap();
        assert_eq!((header.line(), header.column()), (2, 8));
    }

    #[test]
    fn long_lines_are_cut_around_the_label() {
        let text = format!("{}nope\n", " ".repeat(70_000));
        let (excerpt, labels) = excerpt(&text, vec![LabeledSpan::at(70_000..70_004, "here")]);
        assert!(excerpt.text.chars().count() <= WINDOW + 4, "{}", excerpt.text.len());
        let moved = &labels[0];
        assert_eq!(&excerpt.text[moved.offset()..moved.offset() + moved.len()], "nope");
        let header = excerpt.read_span(moved.inner(), 0, 0).unwrap();
        assert_eq!((header.line(), header.column()), (0, 70_000));
    }

    #[test]
    fn distant_labels_get_their_own_lines_with_the_files_numbers() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let (first, last) = (text.find("line 3\n").unwrap(), text.find("line 900\n").unwrap());
        let (excerpt, labels) =
            excerpt(&text, vec![LabeledSpan::at(first..first + 6, "a"), LabeledSpan::at(last..last + 8, "b")]);
        assert!(excerpt.text.lines().count() < 15);
        let read = excerpt.read_span(labels[1].inner(), 1, 1).unwrap();
        assert_eq!(read.line(), 899);
        assert!(std::str::from_utf8(read.data()).unwrap().starts_with("line 899\nline 900\n"));
    }

    #[test]
    fn control_characters_are_replaced_in_place() {
        let text = "let x = \"\u{1b}[31m\u{9b}\u{202e}\" + nope\n";
        let at = text.find("nope").unwrap();
        let (excerpt, labels) = excerpt(text, vec![LabeledSpan::at(at..at + 4, "here")]);
        assert!(
            !excerpt.text.contains('\u{1b}') && !excerpt.text.contains('\u{9b}') && !excerpt.text.contains('\u{202e}')
        );
        assert_eq!(labels[0].offset(), at);
    }
}
