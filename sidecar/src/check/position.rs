//! Byte offsets (what oxc reports) to LSP positions (zero-based line, UTF-16 column) and back.

use odw_protocol::{Position, Range};
use oxc_span::Span;

/// Line starts of one source text, built once per check so each conversion is a binary search.
#[derive(Debug, Clone)]
pub struct LineIndex<'s> {
    source: &'s str,
    /// Byte offset where each line starts; LSP counts `\n`, `\r\n` and a lone `\r` as breaks.
    starts: Vec<u32>,
}

impl<'s> LineIndex<'s> {
    /// Indexes the line starts of `source`.
    pub fn new(source: &'s str) -> Self {
        let bytes = source.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i as u32 + 1),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i as u32 + 1),
                _ => {}
            }
            i += 1;
        }
        Self { source, starts }
    }

    /// The position of a byte offset; offsets past the end clamp to the end.
    pub fn position(&self, offset: u32) -> Position {
        let offset = self.floor_char_boundary(offset.min(self.source.len() as u32));
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let start = self.starts[line] as usize;
        let character = self.source[start..offset as usize].encode_utf16().count() as u32;
        Position {
            line: line as u32,
            character,
        }
    }

    /// The range of a byte span.
    pub fn range(&self, span: Span) -> Range {
        Range {
            start: self.position(span.start),
            end: self.position(span.end),
        }
    }

    /// The byte offset of a position; a column past the end of its line clamps to the line end.
    pub fn offset(&self, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return self.source.len();
        };
        let line = self.line_text(position.line as usize);
        let mut units = 0;
        for (i, c) in line.char_indices() {
            if units >= position.character {
                return start as usize + i;
            }
            units += c.len_utf16() as u32;
        }
        start as usize + line.len()
    }

    /// The text of a zero-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &'s str {
        let Some(&start) = self.starts.get(line) else {
            return "";
        };
        let end = self
            .starts
            .get(line + 1)
            .map_or(self.source.len(), |&s| s as usize);
        self.source[start as usize..end].trim_end_matches(['\n', '\r'])
    }

    /// Number of lines (a trailing line break starts one more, empty line).
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    fn floor_char_boundary(&self, mut offset: u32) -> u32 {
        while !self.source.is_char_boundary(offset as usize) {
            offset -= 1;
        }
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn ascii_lines() {
        let idx = LineIndex::new("ab\ncd\n");
        assert_eq!(idx.position(0), pos(0, 0));
        assert_eq!(idx.position(2), pos(0, 2));
        assert_eq!(idx.position(3), pos(1, 0));
        assert_eq!(idx.position(6), pos(2, 0));
        assert_eq!(idx.position(99), pos(2, 0));
        assert_eq!(idx.line_count(), 3);
        assert_eq!(idx.line_text(1), "cd");
    }

    #[test]
    fn crlf_and_lone_cr_break_lines() {
        let idx = LineIndex::new("a\r\nb\rc");
        assert_eq!(idx.position(3), pos(1, 0));
        assert_eq!(idx.position(5), pos(2, 0));
        assert_eq!(idx.line_text(0), "a");
        assert_eq!(idx.line_text(1), "b");
    }

    #[test]
    fn columns_count_utf16_units() {
        // "é" is 2 bytes / 1 unit, "😀" is 4 bytes / 2 units.
        let src = "é😀x";
        let idx = LineIndex::new(src);
        assert_eq!(idx.position(2), pos(0, 1));
        assert_eq!(idx.position(6), pos(0, 3));
        assert_eq!(idx.position(7), pos(0, 4));
        // An offset inside a character rounds down to its start.
        assert_eq!(idx.position(4), pos(0, 1));
    }

    #[test]
    fn offset_inverts_position() {
        let src = "let s = \"😀\";\nagent(s)";
        let idx = LineIndex::new(src);
        for offset in [0, 9, 13, 14, 15, 16, 24] {
            let offset = offset as u32;
            assert!(src.is_char_boundary(offset as usize));
            assert_eq!(idx.offset(idx.position(offset)), offset as usize);
        }
        assert_eq!(idx.offset(pos(0, 99)), 15);
        assert_eq!(idx.offset(pos(9, 0)), src.len());
    }
}
