//! `[[...]]` directives embedded in a prompt. See the crate documentation for the syntax.

use std::time::Duration;

/// What an injected fault does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Reply with this HTTP status and a provider-style error body.
    Fail(u16),
    /// Never reply (sleep for an hour, or until the provider shuts down).
    Hang,
    /// Reply 200 with a body that is not JSON.
    Malformed,
    /// Declare a Content-Length larger than the body, send part of it and drop the connection.
    Truncated,
    /// Reply with JSON that violates the request's schema.
    BadSchema,
    /// Reply in full, but dribble the body out in small pieces over about a second.
    SlowBody,
    /// Send the status and headers, then drop the connection before any of the body.
    Reset,
}

/// A fault and how many requests (with the same key) it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub times: u64,
}

/// One tool call a `[[call:NAME ARGS]]` directive scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    /// The arguments: always a JSON object (`{}` when the directive gives none).
    pub args: serde_json::Value,
}

/// Every directive found in a prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `[[reply:TEXT]]`
    pub reply: Option<String>,
    /// `[[json:{...}]]` (the JSON text, verbatim)
    pub json: Option<String>,
    /// Sum of every `[[latency:MS]]`.
    pub latency: Option<Duration>,
    /// `[[retry-after:SECS]]`
    pub retry_after: Option<u64>,
    /// Faults in the order they appear; they apply one after the other (see [`Directives::fault_for`]).
    pub faults: Vec<Fault>,
    /// `[[echo-system]]`
    pub echo_system: bool,
    /// `[[gate]]`: wait until the test opens the gate ([`crate::TestProvider::open_gate`]).
    pub gate: bool,
    /// `[[length]]`: the reply says it stopped at the token limit.
    pub cut_off: bool,
    /// `[[usage:IN,OUT]]`: the token counts the reply claims.
    pub usage: Option<(u64, u64)>,
    /// `[[key:NAME]]`: count faults under NAME instead of the prompt text.
    pub key: Option<String>,
    /// The scripted tool-call turns: each `[[call:…]]` starts a turn, each `[[call+:…]]` adds a
    /// call to the turn before it.
    pub calls: Vec<Vec<ToolCall>>,
    /// `[[badargs]]`: the first tool-call turn's arguments are broken.
    pub bad_args: bool,
    /// `[[echo-tools]]`: reply with the conversation's tool results as a JSON array.
    pub echo_tools: bool,
}

impl Directives {
    /// Parses every `[[...]]` directive in `text`. Unknown or malformed directives are ignored.
    pub fn parse(text: &str) -> Self {
        let mut d = Directives::default();
        let mut pos = 0;
        while let Some(found) = text[pos..].find("[[") {
            let start = pos + found + 2;
            let rest = &text[start..];
            // `[[json:` with an object or array: balanced scan so `]` inside the JSON is fine.
            if let Some(after) = rest.strip_prefix("json:") {
                let trimmed = after.trim_start();
                if trimmed.starts_with('{') || trimmed.starts_with('[') {
                    let offset = start + 5 + (after.len() - trimmed.len());
                    if let Some(len) = balanced_len(trimmed) {
                        let tail = &trimmed[len..];
                        let tail_trimmed = tail.trim_start();
                        if tail_trimmed.starts_with("]]") {
                            d.json = Some(trimmed[..len].to_string());
                            pos = offset + len + (tail.len() - tail_trimmed.len()) + 2;
                            continue;
                        }
                    }
                    pos = start;
                    continue;
                }
            }
            // `[[call:NAME {…}]]` / `[[call+:NAME {…}]]`: the arguments are scanned balanced too.
            let call = rest
                .strip_prefix("call:")
                .map(|a| (false, a, 5))
                .or_else(|| rest.strip_prefix("call+:").map(|a| (true, a, 6)));
            if let Some((add, after, prefix)) = call {
                if let Some((tool_call, len)) = parse_call(after) {
                    match d.calls.last_mut() {
                        Some(turn) if add => turn.push(tool_call),
                        _ => d.calls.push(vec![tool_call]),
                    }
                    pos = start + prefix + len;
                } else {
                    pos = start;
                }
                continue;
            }
            let Some(end) = rest.find("]]") else { break };
            let body = &rest[..end];
            d.apply(body);
            pos = start + end + 2;
        }
        d
    }

    fn apply(&mut self, body: &str) {
        if let Some(text) = body.strip_prefix("reply:") {
            self.reply = Some(text.to_string());
        } else if let Some(text) = body.strip_prefix("json:") {
            self.json = Some(text.trim().to_string());
        } else if let Some(ms) = body.strip_prefix("latency:") {
            if let Ok(ms) = ms.trim().parse::<u64>() {
                let total = self.latency.unwrap_or_default() + Duration::from_millis(ms);
                self.latency = Some(total);
            }
        } else if let Some(secs) = body.strip_prefix("retry-after:") {
            if let Ok(secs) = secs.trim().parse::<u64>() {
                self.retry_after = Some(secs);
            }
        } else if let Some(key) = body.strip_prefix("key:") {
            self.key = Some(key.trim().to_string());
        } else if body.trim() == "echo-system" {
            self.echo_system = true;
        } else if body.trim() == "badargs" {
            self.bad_args = true;
        } else if body.trim() == "echo-tools" {
            self.echo_tools = true;
        } else if body.trim() == "gate" {
            self.gate = true;
        } else if body.trim() == "length" {
            self.cut_off = true;
        } else if let Some(spec) = body.trim().strip_prefix("usage:") {
            if let Some((i, o)) = spec.split_once(',')
                && let (Ok(i), Ok(o)) = (i.trim().parse(), o.trim().parse())
            {
                self.usage = Some((i, o));
            }
        } else if let Some(spec) = body.strip_prefix("fail:") {
            let spec = spec.trim();
            let (status, times) = match spec.split_once(char::is_whitespace) {
                Some((status, times)) => (status, parse_times(times)),
                None => (spec, Some(1)),
            };
            if let (Ok(status), Some(times)) = (status.parse::<u16>(), times)
                && (100..=999).contains(&status)
            {
                self.faults.push(Fault {
                    kind: FaultKind::Fail(status),
                    times,
                });
            }
        } else {
            let body = body.trim();
            let (name, times) = match body.split_once(char::is_whitespace) {
                Some((name, times)) => (name, parse_times(times)),
                None => (body, Some(1)),
            };
            let kind = match name {
                "hang" => FaultKind::Hang,
                "malformed" => FaultKind::Malformed,
                "truncated" => FaultKind::Truncated,
                "badschema" => FaultKind::BadSchema,
                "slowbody" => FaultKind::SlowBody,
                "reset" => FaultKind::Reset,
                _ => return,
            };
            if let Some(times) = times {
                self.faults.push(Fault { kind, times });
            }
        }
    }

    /// The fault for the `n`-th request (1-based) with the same key: faults apply in the order
    /// written, each to as many requests as its `xN` says; after all of them, none.
    pub fn fault_for(&self, n: u64) -> Option<&FaultKind> {
        let mut upto = 0u64;
        for fault in &self.faults {
            upto = upto.saturating_add(fault.times);
            if n <= upto {
                return Some(&fault.kind);
            }
        }
        None
    }
}

/// `NAME ARGS]]` (ARGS optional, a JSON object) after `[[call:`: the call and the length in bytes
/// up to and including the closing `]]`. `None` when malformed.
fn parse_call(s: &str) -> Option<(ToolCall, usize)> {
    let lead = s.len() - s.trim_start().len();
    let rest = &s[lead..];
    let name_len = rest
        .find(|c: char| c.is_whitespace() || c == '{' || c == ']')
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if name.is_empty() {
        return None;
    }
    let mut used = lead + name_len;
    let after = &s[used..];
    let trimmed = after.trim_start();
    used += after.len() - trimmed.len();
    let args = if trimmed.starts_with('{') {
        let len = balanced_len(trimmed)?;
        let args: serde_json::Value = serde_json::from_str(&trimmed[..len]).ok()?;
        used += len;
        args
    } else {
        serde_json::Value::Object(Default::default())
    };
    let tail = &s[used..];
    let tail_trimmed = tail.trim_start();
    if !tail_trimmed.starts_with("]]") {
        return None;
    }
    used += tail.len() - tail_trimmed.len() + 2;
    Some((
        ToolCall {
            name: name.to_string(),
            args,
        },
        used,
    ))
}

fn parse_times(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.strip_prefix('x').or_else(|| s.strip_prefix('X'))?;
    digits.trim().parse().ok()
}

/// Length in bytes of the balanced JSON object/array at the start of `s`, string-aware.
fn balanced_len(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_directives() {
        let d = Directives::parse(
            "hi [[reply:hello there]] [[latency:20]][[latency:5]] [[fail:429 x2]] [[hang x1]] \
             [[retry-after:0]] [[echo-system]] [[key:k1]] [[badschema]] [[unknown:1]]",
        );
        assert_eq!(d.reply.as_deref(), Some("hello there"));
        assert_eq!(d.latency, Some(Duration::from_millis(25)));
        assert_eq!(d.retry_after, Some(0));
        assert!(d.echo_system);
        assert_eq!(d.key.as_deref(), Some("k1"));
        assert_eq!(
            d.faults,
            vec![
                Fault {
                    kind: FaultKind::Fail(429),
                    times: 2
                },
                Fault {
                    kind: FaultKind::Hang,
                    times: 1
                },
                Fault {
                    kind: FaultKind::BadSchema,
                    times: 1
                },
            ]
        );
        assert_eq!(d.fault_for(1), Some(&FaultKind::Fail(429)));
        assert_eq!(d.fault_for(2), Some(&FaultKind::Fail(429)));
        assert_eq!(d.fault_for(3), Some(&FaultKind::Hang));
        assert_eq!(d.fault_for(4), Some(&FaultKind::BadSchema));
        assert_eq!(d.fault_for(5), None);
    }

    #[test]
    fn json_with_nested_brackets() {
        let d =
            Directives::parse(r#"x [[json:{"a":[1,[2]],"b":"]]","c":{"d":[]}}]] y [[reply:z]]"#);
        assert_eq!(
            d.json.as_deref(),
            Some(r#"{"a":[1,[2]],"b":"]]","c":{"d":[]}}"#)
        );
        assert_eq!(d.reply.as_deref(), Some("z"));
        let d = Directives::parse("[[json: [1, [2, 3]] ]]");
        assert_eq!(d.json.as_deref(), Some("[1, [2, 3]]"));
        let d = Directives::parse("[[json:42]]");
        assert_eq!(d.json.as_deref(), Some("42"));
    }

    #[test]
    fn ignores_plain_brackets() {
        let d = Directives::parse("a [[ b ]] c [[fail:abc x2]] [[hang xq]] [[x");
        assert_eq!(d, Directives::default());
    }

    #[test]
    fn call_turns() {
        let d = Directives::parse(
            r#"go [[call+:first {"a": 1}]] [[call:read_file {"path": "x]]", "n": [1, {"b": []}]}]]
               [[call+:list]] [[call: stat {}]] [[badargs]] [[echo-tools]] [[reply:done]]
               [[call:]] [[call:bad {"x": ]] [[call:bad2 {} junk]]"#,
        );
        let names: Vec<Vec<&str>> = d
            .calls
            .iter()
            .map(|t| t.iter().map(|c| c.name.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            vec![vec!["first"], vec!["read_file", "list"], vec!["stat"]]
        );
        assert_eq!(
            d.calls[1][0].args,
            serde_json::json!({"path": "x]]", "n": [1, {"b": []}]})
        );
        assert_eq!(d.calls[1][1].args, serde_json::json!({}));
        assert!(d.bad_args && d.echo_tools);
        assert_eq!(d.reply.as_deref(), Some("done"));
    }

    #[test]
    fn fail_defaults_to_once() {
        let d = Directives::parse("[[fail:500]]");
        assert_eq!(
            d.faults,
            vec![Fault {
                kind: FaultKind::Fail(500),
                times: 1
            }]
        );
    }
}
