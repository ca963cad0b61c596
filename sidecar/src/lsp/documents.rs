//! Open documents: text and version as the editor has them, edits applied in arrival order.
//! Positions are UTF-16 columns (the LSP default, and what the checker reports).

use crate::check::LineIndex;
use odw_protocol::Diagnostic;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tower_lsp_server::ls_types::{TextDocumentContentChangeEvent, Uri};

/// One open document.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: Arc<str>,
    pub version: i32,
    pub language_id: String,
    /// The checker's findings for `version`, kept for code actions.
    pub checked: Option<(i32, Arc<Vec<Diagnostic>>)>,
    /// Whether diagnostics were published for this document and not cleared since.
    pub published: bool,
}

/// Every open document, keyed by URI.
#[derive(Debug, Default)]
pub struct Documents {
    docs: Mutex<HashMap<Uri, Document>>,
}

impl Documents {
    /// `textDocument/didOpen`.
    pub fn open(&self, uri: Uri, text: String, version: i32, language_id: String) {
        self.docs.lock().unwrap().insert(
            uri,
            Document {
                text: text.into(),
                version,
                language_id,
                checked: None,
                published: false,
            },
        );
    }

    /// `textDocument/didChange`: applies the changes in order. False when the document is not
    /// open (the change is ignored).
    pub fn change(
        &self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> bool {
        let mut docs = self.docs.lock().unwrap();
        let Some(doc) = docs.get_mut(uri) else {
            return false;
        };
        let mut text = doc.text.to_string();
        for change in changes {
            apply(&mut text, change);
        }
        doc.text = text.into();
        doc.version = version;
        doc.checked = None;
        true
    }

    /// `textDocument/didClose`. Returns the document that was open.
    pub fn close(&self, uri: &Uri) -> Option<Document> {
        self.docs.lock().unwrap().remove(uri)
    }

    /// A copy of an open document.
    pub fn get(&self, uri: &Uri) -> Option<Document> {
        self.docs.lock().unwrap().get(uri).cloned()
    }

    /// URIs of every open document.
    pub fn uris(&self) -> Vec<Uri> {
        self.docs.lock().unwrap().keys().cloned().collect()
    }

    /// Runs `f` on an open document if its version is still `version`.
    pub fn update_if_current<R>(
        &self,
        uri: &Uri,
        version: i32,
        f: impl FnOnce(&mut Document) -> R,
    ) -> Option<R> {
        let mut docs = self.docs.lock().unwrap();
        docs.get_mut(uri).filter(|d| d.version == version).map(f)
    }
}

/// Applies one change: a whole new text, or a replacement of a range.
fn apply(text: &mut String, change: TextDocumentContentChangeEvent) {
    let Some(range) = change.range else {
        *text = change.text;
        return;
    };
    let (start, end) = {
        let index = LineIndex::new(text);
        let start = index.offset(to_protocol(range.start));
        let end = index.offset(to_protocol(range.end));
        (start.min(end), end.max(start))
    };
    text.replace_range(start..end, &change.text);
}

fn to_protocol(p: tower_lsp_server::ls_types::Position) -> odw_protocol::Position {
    odw_protocol::Position {
        line: p.line,
        character: p.character,
    }
}

/// The byte offset of an LSP position in `text`.
pub fn offset_at(text: &str, position: tower_lsp_server::ls_types::Position) -> usize {
    LineIndex::new(text).offset(to_protocol(position))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{Position, Range};

    fn edit(sl: u32, sc: u32, el: u32, ec: u32, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(sl, sc), Position::new(el, ec))),
            range_length: None,
            text: text.into(),
        }
    }

    #[test]
    fn incremental_edits_apply_in_order_with_utf16_columns() {
        let docs = Documents::default();
        let uri: Uri = "file:///w/a.workflow.js".parse().unwrap();
        docs.open(
            uri.clone(),
            "const s = \"😀\"; agnet(s);\nreturn 1;\n".into(),
            1,
            "javascript".into(),
        );
        // `agnet` starts after the emoji: 11 + 2 (one astral char) + 3 = 16 UTF-16 units.
        assert!(docs.change(
            &uri,
            2,
            vec![edit(0, 16, 0, 21, "agent"), edit(1, 7, 1, 8, "2")]
        ));
        let d = docs.get(&uri).unwrap();
        assert_eq!(&*d.text, "const s = \"😀\"; agent(s);\nreturn 2;\n");
        assert_eq!(d.version, 2);
        // Inserting a line, then editing on the new line, in one notification.
        assert!(docs.change(
            &uri,
            3,
            vec![edit(0, 0, 0, 0, "// x\n"), edit(0, 3, 0, 4, "y")]
        ));
        assert!(docs.get(&uri).unwrap().text.starts_with("// y\nconst"));
        // A full replacement.
        assert!(docs.change(
            &uri,
            4,
            vec![TextDocumentContentChangeEvent {
                range: None,
                range_length: None,
                text: "new".into(),
            }]
        ));
        assert_eq!(&*docs.get(&uri).unwrap().text, "new");
        assert!(docs.close(&uri).is_some());
        assert!(!docs.change(&uri, 5, vec![]));
    }

    #[test]
    fn positions_past_the_end_clamp() {
        let mut t = "ab\ncd".to_string();
        apply(&mut t, edit(1, 9, 7, 0, "!"));
        assert_eq!(t, "ab\ncd!");
    }
}
