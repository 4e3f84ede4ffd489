//! Byte offsets to and from LSP positions (a line and a column in UTF-16 code units).

use lsp_types::Position;

/// The LSP position of byte `offset` of `text` (clamped to the text, and back to a character's
/// first byte). For many positions in one text, [`Lines`] finds each without reading the text
/// before it.
pub fn position(text: &str, offset: usize) -> Position {
    Lines::new(text).position(offset)
}

/// Where the lines of a text start: positions of many offsets in a text (the diagnostics and
/// the outline of a long file) in time proportional to their lines, not to the text.
pub struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    /// The line starts of `text`.
    pub fn new(text: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Lines { text, starts }
    }

    /// The LSP position of byte `offset` (clamped to the text, and back to a character's first
    /// byte).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let character = self.text[self.starts[line]..offset].encode_utf16().count() as u32;
        Position { line: line as u32, character }
    }
}

/// The byte offset of `at` in `text`: past a line's end, its end; past the last line, the text's.
pub fn offset(text: &str, at: Position) -> usize {
    let mut start = 0;
    for _ in 0..at.line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let line = &text[start..text[start..].find('\n').map_or(text.len(), |i| start + i)];
    let mut units = 0;
    for (i, c) in line.char_indices() {
        if units >= at.character as usize {
            return start + i;
        }
        units += c.len_utf16();
    }
    start + line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_units() {
        let text = "a\n// é😀 x\nlast";
        let x = text.find(" x").unwrap() + 1;
        // `// é😀 ` is 3 + 1 + 2 + 1 = 7 units (the emoji is two).
        assert_eq!(position(text, x), Position { line: 1, character: 7 });
        assert_eq!(offset(text, Position { line: 1, character: 7 }), x);
        assert_eq!(offset(text, Position { line: 9, character: 0 }), text.len());
        assert_eq!(offset(text, Position { line: 0, character: 99 }), 1);
        // Every offset (inside a character too) the same from the line index as by counting.
        let lines = Lines::new(text);
        for at in 0..=text.len() + 2 {
            let clamped = (0..=at.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap();
            let before = &text[..clamped];
            let expected = Position {
                line: before.matches('\n').count() as u32,
                character: before[before.rfind('\n').map_or(0, |i| i + 1)..].encode_utf16().count() as u32,
            };
            assert_eq!(lines.position(at), expected, "{at}");
        }
    }
}
