//! Byte offsets to and from LSP positions (a line and a column in UTF-16 code units).

use lsp_types::Position;

/// The LSP position of byte `offset` of `text` (clamped to the text, and back to a character's
/// first byte).
pub fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() as u32;
    let character = before[line_start..].encode_utf16().count() as u32;
    Position { line, character }
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
    }
}
