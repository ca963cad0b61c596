//! LSP base-protocol framing (`Content-Length: N\r\n\r\n` then N bytes), tolerant of garbage.
//!
//! tower-lsp-server's own decoder ends the whole input stream at the first bad frame (tokio-util
//! stops a `FramedRead` after any decoder error), so one malformed message would kill the server.
//! This decoder reports the bad frame instead and resynchronises on the next `Content-Length`.

/// Header blocks longer than this are garbage, not a header still arriving.
const MAX_HEADER: usize = 8 * 1024;
/// A message larger than this is refused rather than buffered.
const MAX_BODY: usize = 256 << 20;
const HEADER_END: &[u8] = b"\r\n\r\n";
const LENGTH: &[u8] = b"content-length";

/// What the decoder found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message body (not yet known to be valid JSON).
    Body(Vec<u8>),
    /// Bytes that were not a valid frame and were skipped; says why.
    Malformed(String),
}

/// Incremental decoder: [`push`](Self::push) bytes as they arrive, then take frames with
/// [`next_frame`](Self::next_frame) until it returns `None`.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.buf.is_empty() {
            return None;
        }
        let Some(end) = find(&self.buf, HEADER_END) else {
            if self.buf.len() > MAX_HEADER {
                self.resync(1);
                return Some(Frame::Malformed("a header block without an end".into()));
            }
            return None;
        };
        let length = match parse_headers(&self.buf[..end]) {
            Ok(n) if n > MAX_BODY => Err(format!("Content-Length {n} is too large")),
            other => other,
        };
        let length = match length {
            Ok(n) => n,
            Err(why) => {
                // Whatever follows the bad header may still hold the next good message.
                self.resync(1);
                return Some(Frame::Malformed(why));
            }
        };
        let start = end + HEADER_END.len();
        if self.buf.len() < start + length {
            return None;
        }
        let body = self.buf[start..start + length].to_vec();
        self.buf.drain(..start + length);
        Some(Frame::Body(body))
    }

    /// After a body turned out not to be JSON: when it swallowed the start of the next message (a
    /// `Content-Length` that was too large), put that part back so the message is not lost.
    pub fn recover(&mut self, body: &[u8]) {
        if let Some(at) = find_ignore_case(body, LENGTH, 1) {
            let mut rest = body[at..].to_vec();
            rest.extend_from_slice(&self.buf);
            self.buf = rest;
        }
    }

    /// Drops bytes up to the next `Content-Length` at or after `from` (or everything).
    fn resync(&mut self, from: usize) {
        match find_ignore_case(&self.buf, LENGTH, from) {
            Some(at) => {
                self.buf.drain(..at);
            }
            None => {
                // Keep a tail that may be the start of a header still arriving.
                let len = self.buf.len();
                let keep = (1..LENGTH.len().min(len + 1))
                    .rev()
                    .find(|&k| self.buf[len - k..].eq_ignore_ascii_case(&LENGTH[..k]))
                    .unwrap_or(0);
                self.buf.drain(..len - keep);
            }
        }
    }
}

/// Frames one message body.
pub fn encode(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// The `Content-Length` of a header block (lines of `Name: value`, names case-insensitive).
fn parse_headers(block: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(block).map_err(|_| "the header is not UTF-8".to_string())?;
    let mut length = None;
    for line in text.split("\r\n") {
        let Some((name, value)) = line
            .split_once(':')
            .filter(|(name, _)| is_token(name.trim_end()))
        else {
            return Err(format!("not a header line: {:?}", shorten(line)));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n = value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("invalid Content-Length {:?}", shorten(value.trim())))?;
            length = Some(n);
        }
        // Content-Type and unknown headers are ignored, as the specification allows.
    }
    length.ok_or_else(|| "no Content-Length header".to_string())
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_ignore_case(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Frame> {
        let mut f = Framer::default();
        f.push(input);
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    fn body(s: &str) -> Frame {
        Frame::Body(s.as_bytes().to_vec())
    }

    #[test]
    fn decodes_messages_split_anywhere() {
        let msg = [encode(b"{\"a\":1}"), encode(b"{\"b\":2}")].concat();
        for cut in 0..msg.len() {
            let mut f = Framer::default();
            let mut out = Vec::new();
            f.push(&msg[..cut]);
            out.extend(std::iter::from_fn(|| f.next_frame()));
            f.push(&msg[cut..]);
            out.extend(std::iter::from_fn(|| f.next_frame()));
            assert_eq!(
                out,
                vec![body("{\"a\":1}"), body("{\"b\":2}")],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn accepts_content_type_and_any_header_case() {
        let input = b"content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}";
        assert_eq!(frames(input), vec![body("{}")]);
    }

    #[test]
    fn bad_length_is_reported_and_the_next_message_survives() {
        let input = [b"Content-Length: abc\r\n\r\n{}".as_slice(), &encode(b"{}")].concat();
        let out = frames(&input);
        assert!(
            matches!(&out[0], Frame::Malformed(m) if m.contains("abc")),
            "{out:?}"
        );
        assert_eq!(out[1..], [body("{}")]);
    }

    #[test]
    fn garbage_before_a_message_is_skipped() {
        let input = [b"hello there\r\n\r\n".as_slice(), &encode(b"[1]")].concat();
        let out = frames(&input);
        assert!(matches!(out[0], Frame::Malformed(_)));
        assert_eq!(out[1..], [body("[1]")]);
        // Garbage glued to the next header, without its own blank line.
        let input = [b"{\"x\":1}".as_slice(), &encode(b"[2]")].concat();
        let out = frames(&input);
        assert!(matches!(out[0], Frame::Malformed(_)));
        assert_eq!(out[1..], [body("[2]")]);
    }

    #[test]
    fn missing_length_and_endless_headers() {
        let out = frames(b"Content-Type: x\r\n\r\n");
        assert_eq!(
            out,
            vec![Frame::Malformed("no Content-Length header".into())]
        );
        let out = frames(&vec![b'x'; MAX_HEADER + 1]);
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0], Frame::Malformed(_)));
    }

    #[test]
    fn a_header_split_right_after_garbage_is_kept() {
        let mut f = Framer::default();
        f.push(&[vec![b'x'; MAX_HEADER], b"Conte".to_vec()].concat());
        assert!(matches!(f.next_frame(), Some(Frame::Malformed(_))));
        f.push(b"nt-Length: 2\r\n\r\n{}");
        assert_eq!(f.next_frame(), Some(body("{}")));
    }

    #[test]
    fn too_long_a_length_gives_back_the_swallowed_message() {
        let good = encode(b"{\"ok\":true}");
        let mut input = b"Content-Length: 40\r\n\r\n{\"a\":".to_vec();
        input.extend_from_slice(&good);
        input.extend_from_slice(&good);
        let mut f = Framer::default();
        f.push(&input);
        let Some(Frame::Body(b)) = f.next_frame() else {
            panic!("expected a body")
        };
        assert!(serde_json::from_slice::<serde_json::Value>(&b).is_err());
        f.recover(&b);
        assert_eq!(f.next_frame(), Some(body("{\"ok\":true}")));
        assert_eq!(f.next_frame(), Some(body("{\"ok\":true}")));
        assert_eq!(f.next_frame(), None);
    }
}
