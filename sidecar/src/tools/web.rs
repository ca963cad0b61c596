//! `web_fetch`: an agent reads a web page as text.
//!
//! The URL comes from a model, so it is untrusted: a prompt-injected page can ask for
//! `http://169.254.169.254/` or a service on the user's LAN. Every address is therefore checked
//! where it is used. Names go through [`GuardedResolver`], so the addresses checked are exactly the
//! ones reqwest connects to (no window for DNS rebinding between a check and the connect); IP
//! literals never reach a resolver, so they are checked before the request is sent. Redirects are
//! followed by hand so that each hop gets the same scheme and address checks.
//!
//! One deadline covers all hops and the body, and the body is read in chunks up to a byte cap:
//! a slow or endless server costs a bounded wait and bounded memory.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::Serialize;

use super::ToolError;

/// Column width HTML is wrapped to: wide enough for prose, narrow enough for a model's context.
const TEXT_WIDTH: usize = 100;

/// Limits and exceptions for `web_fetch`, from `[tools.web]` in odw.toml.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Fetch private, loopback and other non-public addresses too.
    pub allow_private: bool,
    /// `host:port` (or `ip:port`, `[v6]:port`) entries fetched whatever they resolve to.
    pub allow: Vec<String>,
    /// Deadline for the whole fetch: every redirect hop and the body.
    pub timeout: Duration,
    /// Body bytes read at most; the rest is dropped and `truncated` set.
    pub max_bytes: usize,
    /// Redirects followed at most.
    pub max_redirects: usize,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            allow_private: false,
            allow: Vec::new(),
            timeout: Duration::from_secs(30),
            max_bytes: 2 << 20,
            max_redirects: 5,
        }
    }
}

/// What `web_fetch` returns to the script.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fetched {
    /// The URL after redirects.
    pub url: String,
    /// The HTTP status of the final response; non-2xx statuses are results too.
    pub status: u16,
    /// The `Content-Type` header as sent, empty when absent.
    pub content_type: String,
    /// Readable text: HTML rendered, text passed through, binaries described.
    pub text: String,
    /// The body was longer than `max_bytes` and was cut.
    pub truncated: bool,
}

/// Fetches `url` with GET and returns its content as text.
pub async fn web_fetch(url: &str, opts: &WebOptions) -> Result<Fetched, ToolError> {
    let start = Url::parse(url).map_err(|err| ToolError::WebUrl {
        url: url.to_owned(),
        reason: err.to_string(),
    })?;
    check_url(&start)?;
    match tokio::time::timeout(opts.timeout, follow(start, opts)).await {
        Ok(result) => result,
        Err(_) => Err(ToolError::WebTimeout {
            url: url.to_owned(),
            timeout: opts.timeout,
        }),
    }
}

/// Follows redirects from `url` and reads the final response.
async fn follow(mut url: Url, opts: &WebOptions) -> Result<Fetched, ToolError> {
    let mut redirects = 0;
    loop {
        let response = send(&url, opts).await?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let redirect = matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308);
        let Some(location) = location.filter(|_| redirect) else {
            return read(url, response, opts).await;
        };
        if redirects == opts.max_redirects {
            return Err(ToolError::WebRedirects {
                url: url.to_string(),
                max: opts.max_redirects,
            });
        }
        redirects += 1;
        url = url.join(&location).map_err(|err| ToolError::WebUrl {
            url: location.clone(),
            reason: format!("bad redirect from {url}: {err}"),
        })?;
        check_url(&url)?;
    }
}

/// Refuses what is never fetched, whatever the address: other schemes and embedded credentials.
fn check_url(url: &Url) -> Result<(), ToolError> {
    let refuse = |reason: &str| {
        Err(ToolError::WebUrl {
            url: url.to_string(),
            reason: reason.to_owned(),
        })
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("only http and https URLs are fetched");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("URLs with a user name or password are not fetched");
    }
    if url.host().is_none() {
        return refuse("the URL has no host");
    }
    Ok(())
}

/// Sends one GET to `url`, with the address guard that applies to its `host:port`.
async fn send(url: &Url, opts: &WebOptions) -> Result<reqwest::Response, ToolError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or_default();
    let allowed = opts.allow_private || is_listed(&opts.allow, &host, port);
    let blocked = |address: IpAddr, kind| ToolError::WebBlocked {
        host: host.clone(),
        port,
        address,
        kind,
    };
    if !allowed {
        // The URL parser normalised IP literals (`0x7f.1` is `127.0.0.1`); v6 keeps brackets.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>()
            && let Some(kind) = reserved_range(ip)
        {
            return Err(blocked(ip, kind));
        }
    }
    // One client per hop: the resolver only sees the host name, and whether private addresses
    // are allowed depends on the port too.
    let refused = Arc::new(Mutex::new(None));
    let resolver = GuardedResolver {
        allow_private: allowed,
        refused: refused.clone(),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("odw/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(resolver)
        .build()
        .map_err(|err| request_error(url, &err))?;
    let request = client.get(url.clone()).header(
        reqwest::header::ACCEPT,
        "text/html, text/*;q=0.9, application/json;q=0.9, */*;q=0.5",
    );
    request.send().await.map_err(
        |err| match *refused.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((address, kind)) => blocked(address, kind),
            None => request_error(url, &err),
        },
    )
}

/// Whether `host:port` is on the allow list; entries are compared as the URL spells them.
fn is_listed(allow: &[String], host: &str, port: u16) -> bool {
    let wanted = format!("{host}:{port}");
    allow
        .iter()
        .any(|entry| entry.trim().eq_ignore_ascii_case(&wanted))
}

/// The error and its causes on one line: reqwest's top-level message alone rarely says why.
fn request_error(url: &Url, err: &reqwest::Error) -> ToolError {
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    ToolError::WebRequest {
        url: url.to_string(),
        reason,
    }
}

/// Resolves with the system resolver and refuses the name if any address is non-public.
///
/// Refusing the whole name (rather than dropping its bad addresses) keeps a rebinding answer
/// that mixes public and private addresses from reaching the private one on a fallback.
struct GuardedResolver {
    allow_private: bool,
    /// The first refused address, for a precise error: reqwest wraps resolver errors opaquely.
    refused: Arc<Mutex<Option<(IpAddr, &'static str)>>>,
}

/// The resolver's error; the details travel through [`GuardedResolver::refused`].
#[derive(Debug, thiserror::Error)]
#[error("{address} is {kind}")]
struct Refused {
    address: IpAddr,
    kind: &'static str,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let refused = self.refused.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private
                && let Some((address, kind)) = addrs
                    .iter()
                    .find_map(|addr| reserved_range(addr.ip()).map(|kind| (addr.ip(), kind)))
            {
                *refused.lock().unwrap_or_else(|e| e.into_inner()) = Some((address, kind));
                return Err(Box::new(Refused { address, kind }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The name of the non-public range `ip` falls in, or `None` for a public address.
pub fn reserved_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_broadcast() => "broadcast",
        (0, ..) => "in \"this network\" (0.0.0.0/8)",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private (RFC 1918)",
        (100, 64..=127, _) => "shared carrier-grade NAT space (100.64.0.0/10)",
        (127, ..) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "reserved for IETF protocols (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved for documentation",
        (198, 18..=19, _) => "reserved for benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4-mapped address is that IPv4 address on the wire.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_range(v4);
    }
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let embedding = |inner: Option<&'static str>, label: &'static str| inner.map(|_| label);
    Some(match s {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        [0, 0, 0, 0, 0, 0, ..] => "IPv4-compatible IPv6 (deprecated, ::/96)",
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            return embedding(v4_range(v4(hi, lo)), "NAT64 of a non-public IPv4 address");
        }
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] => {
            let client = v4_range(v4(!client_hi, !client_lo));
            return embedding(
                v4_range(v4(server_hi, server_lo)).or(client),
                "Teredo with a non-public IPv4 address",
            );
        }
        [0x2001, 2, 0, ..] => "reserved for benchmarking (2001:2::/48)",
        [0x2001, 0xdb8, ..] => "reserved for documentation (2001:db8::/32)",
        [0x3fff, second, ..] if second < 0x1000 => "reserved for documentation (3fff::/20)",
        [0x2002, hi, lo, ..] => {
            return embedding(v4_range(v4(hi, lo)), "6to4 of a non-public IPv4 address");
        }
        [first, ..] if first & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local (deprecated, fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        // Outside 2000::/3 nothing else is globally routed unicast (100::/64 discard and the rest).
        [first, ..] if first & 0xe000 != 0x2000 => "reserved (outside 2000::/3)",
        _ => return None,
    })
}

/// How a body is turned into text.
#[derive(Debug, PartialEq)]
enum Kind {
    Html,
    Text,
    Binary,
}

/// Reads the final response's body (up to the cap) and renders it as text.
async fn read(
    url: Url,
    mut response: reqwest::Response,
    opts: &WebOptions,
) -> Result<Fetched, ToolError> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let essence = essence(&content_type);
    let by_header = kind_of_type(&essence);
    let done = |text: String, truncated| Fetched {
        url: url.to_string(),
        status,
        content_type: content_type.clone(),
        text,
        truncated,
    };
    if by_header == Some(Kind::Binary) {
        // No need to download an image to say it is one.
        let size = match response.content_length() {
            Some(length) => format!("{length} bytes"),
            None => "unknown size".to_owned(),
        };
        return Ok(done(binary_note(&essence, &size), false));
    }

    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| request_error(&url, &err))?
    {
        let room = opts.max_bytes - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }

    let kind = by_header.unwrap_or_else(|| sniff(&body));
    let text = match kind {
        Kind::Binary => {
            let size = if truncated {
                format!("over {} bytes", body.len())
            } else {
                format!("{} bytes", body.len())
            };
            return Ok(done(binary_note(&essence, &size), truncated));
        }
        Kind::Text => decode(&body, &content_type, truncated),
        Kind::Html => {
            let html = decode(&body, &content_type, truncated);
            // Parsing megabytes of HTML is CPU work; keep it off the async workers.
            tokio::task::spawn_blocking(move || render_html(&html))
                .await
                .map_err(|err| ToolError::WebRequest {
                    url: url.to_string(),
                    reason: format!("rendering the HTML failed: {err}"),
                })?
        }
    };
    Ok(done(text, truncated))
}

/// The media type without parameters, lowercased: `text/html; charset=utf-8` → `text/html`.
fn essence(content_type: &str) -> String {
    let media = content_type.split(';').next().unwrap_or_default();
    media.trim().to_ascii_lowercase()
}

/// How a media type is read, or `None` when the header does not say and the body must.
fn kind_of_type(essence: &str) -> Option<Kind> {
    let (top, sub) = essence.split_once('/').unwrap_or((essence, ""));
    Some(match (top, sub) {
        ("", _) | ("application", "octet-stream") | ("unknown", _) => return None,
        ("text", "html") | ("application", "xhtml+xml") => Kind::Html,
        ("text", _) => Kind::Text,
        ("application", sub)
            if sub.ends_with("+json")
                || sub.ends_with("+xml")
                || matches!(
                    sub,
                    "json"
                        | "xml"
                        | "javascript"
                        | "ecmascript"
                        | "x-javascript"
                        | "x-ndjson"
                        | "ndjson"
                        | "yaml"
                        | "x-yaml"
                        | "toml"
                        | "x-toml"
                        | "x-sh"
                        | "sql"
                        | "graphql"
                        | "x-www-form-urlencoded"
                ) =>
        {
            Kind::Text
        }
        _ => Kind::Binary,
    })
}

/// Classifies a body without a usable type: HTML by its opening tag, text if it decodes.
fn sniff(body: &[u8]) -> Kind {
    let head = &body[..body.len().min(1024)];
    let start = String::from_utf8_lossy(head);
    let start = start.trim_start_matches('\u{feff}').trim_start();
    let lower = start.get(..14).unwrap_or(start).to_ascii_lowercase();
    if ["<!doctype html", "<html", "<head", "<body"]
        .iter()
        .any(|tag| lower.starts_with(tag))
    {
        return Kind::Html;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the 1 KiB mark is still text.
        Err(err) => err.error_len().is_none(),
    };
    if valid && !head.contains(&0) {
        Kind::Text
    } else {
        Kind::Binary
    }
}

/// Decodes with the header's charset (or a BOM), UTF-8 otherwise; bad bytes become U+FFFD.
fn decode(body: &[u8], content_type: &str, truncated: bool) -> String {
    let label = content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    });
    let encoding = label
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    let mut text = encoding.decode(body).0.into_owned();
    // The cap can split a multi-byte character; its half is noise, not a decoding error.
    if truncated && text.ends_with('\u{fffd}') {
        text.pop();
    }
    text
}

/// HTML as wrapped plain text; scripts, styles and the head are dropped, links become footnotes.
///
/// html2text (html5ever underneath, no optional features) rather than hand-stripping tags: real
/// pages need a real HTML parser for entities, implied end tags and tables.
fn render_html(html: &str) -> String {
    if too_deep(html) {
        return format!(
            "[HTML nested over {MAX_RENDER_DEPTH} elements deep: returned as markup, not rendered]\n{html}"
        );
    }
    html2text::config::plain()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), TEXT_WIDTH)
        // With width overflow allowed html2text has no failure left for an in-memory reader;
        // fall back to the markup rather than lose the page.
        .unwrap_or_else(|_| html.to_owned())
}

/// Nesting past which HTML is not parsed: html5ever's scope checks walk the stack of open
/// elements, so parsing costs depth × tags, and a 2 MiB page of `<div>`s would take minutes.
const MAX_RENDER_DEPTH: usize = 1000;

/// Whether `html` likely nests deeper than [`MAX_RENDER_DEPTH`], by a linear scan of its tags.
///
/// An over-estimate by design (it knows nothing of implied end tags beyond the elements that
/// close themselves), so a false positive costs rendering, never time.
fn too_deep(html: &str) -> bool {
    // Void elements and elements whose end tag may be omitted never deepen the tree by repeating.
    const FLAT: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead",
        "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
    ];
    let lower = html.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    // Open elements by name: an end tag with nothing of its name open is ignored by the parser,
    // so it must not lower the estimate either.
    let mut open: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(offset) = lower[at..].find('<') {
        at += offset + 1;
        if lower[at..].starts_with("!--") {
            at = lower[at..]
                .find("-->")
                .map_or(bytes.len(), |end| at + end + 3);
            continue;
        }
        let closing = bytes.get(at) == Some(&b'/');
        let name_start = at + usize::from(closing);
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if name_len == 0 {
            continue;
        }
        let name = &lower[name_start..name_start + name_len];
        let tag_end = lower[at..].find('>').map_or(bytes.len(), |end| at + end);
        if closing {
            if let Some(count) = open.get_mut(name).filter(|count| **count > 0) {
                *count -= 1;
                depth -= 1;
            }
        } else if matches!(name, "script" | "style" | "textarea" | "title") {
            // Raw text: a `<div>` inside a script is not a tag.
            let close = format!("</{name}");
            at = lower[tag_end..]
                .find(&close)
                .map_or(bytes.len(), |end| tag_end + end);
            continue;
        } else if !FLAT.contains(&name) {
            // No `/>` exception: in HTML `<div/>` opens a div like `<div>` does.
            *open.entry(name).or_default() += 1;
            depth += 1;
            if depth > MAX_RENDER_DEPTH {
                return true;
            }
        }
        at = tag_end;
    }
    false
}

fn binary_note(essence: &str, size: &str) -> String {
    let media = if essence.is_empty() {
        "unknown type"
    } else {
        essence
    };
    format!("[{media}, {size}: not text, so web_fetch does not return its content]")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// What the test server does with a request.
    enum Reply {
        /// Writes these bytes (a whole HTTP/1.1 response) and closes.
        Raw(Vec<u8>),
        /// Keeps the connection open and never answers.
        Hang,
    }

    fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body);
        Reply::Raw(raw)
    }

    fn ok(content_type: &str, body: &[u8]) -> Reply {
        response("200 OK", &[("Content-Type", content_type)], body)
    }

    fn redirect(location: &str) -> Reply {
        response("302 Found", &[("Location", location)], b"")
    }

    /// A minimal HTTP/1.1 server on 127.0.0.1: reads the request head, answers by path.
    struct Server {
        addr: SocketAddr,
        hits: Arc<AtomicUsize>,
    }

    impl Server {
        async fn start(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let hits = Arc::new(AtomicUsize::new(0));
            let route = Arc::new(route);
            let counter = hits.clone();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let route = route.clone();
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut head = Vec::new();
                        let mut buf = [0; 1024];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        let head = String::from_utf8_lossy(&head);
                        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                        match route(&path) {
                            Reply::Raw(bytes) => {
                                let _ = socket.write_all(&bytes).await;
                                let _ = socket.shutdown().await;
                            }
                            Reply::Hang => {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                                drop(socket);
                            }
                        }
                    });
                }
            });
            Self { addr, hits }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    fn private() -> WebOptions {
        WebOptions {
            allow_private: true,
            ..WebOptions::default()
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_by_default() {
        let server = Server::start(|_| ok("text/plain", b"secret")).await;
        let err = web_fetch(&server.url("/"), &WebOptions::default())
            .await
            .unwrap_err();
        let ToolError::WebBlocked {
            address,
            kind,
            port,
            ..
        } = &err
        else {
            panic!("expected WebBlocked, got {err}");
        };
        assert_eq!(*address, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(*kind, "loopback");
        assert_eq!(*port, server.addr.port());
        let message = err.to_string();
        assert!(message.contains("allow_private = true"), "{message}");
        assert!(
            message.contains(&format!("allow = [\"127.0.0.1:{}\"]", server.addr.port())),
            "{message}"
        );
        assert_eq!(server.hits(), 0, "nothing may reach the server");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_by_the_resolver() {
        let server = Server::start(|_| ok("text/plain", b"secret")).await;
        let url = format!("http://localhost:{}/", server.addr.port());
        let err = web_fetch(&url, &WebOptions::default()).await.unwrap_err();
        let ToolError::WebBlocked { host, address, .. } = &err else {
            panic!("expected WebBlocked, got {err}");
        };
        assert_eq!(host, "localhost");
        assert!(address.is_loopback(), "{address}");
        assert_eq!(server.hits(), 0);

        // Listed by name and port, the same host is fetched.
        let opts = WebOptions {
            allow: vec![format!("localhost:{}", server.addr.port())],
            ..WebOptions::default()
        };
        let fetched = web_fetch(&url, &opts).await.unwrap();
        assert_eq!(fetched.text, "secret");
    }

    #[tokio::test]
    async fn loopback_is_fetched_with_allow_private() {
        let server = Server::start(|_| ok("text/plain; charset=utf-8", b"hello")).await;
        let fetched = web_fetch(&server.url("/x"), &private()).await.unwrap();
        assert_eq!(fetched.url, server.url("/x"));
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.content_type, "text/plain; charset=utf-8");
        assert_eq!(fetched.text, "hello");
        assert!(!fetched.truncated);
        let json = serde_json::to_value(&fetched).unwrap();
        assert_eq!(json["contentType"], "text/plain; charset=utf-8");
    }

    #[tokio::test]
    async fn a_listed_host_port_is_fetched() {
        let server = Server::start(|_| ok("application/json", br#"{"a":1}"#)).await;
        let opts = WebOptions {
            allow: vec![server.addr.to_string()],
            ..WebOptions::default()
        };
        let fetched = web_fetch(&server.url("/"), &opts).await.unwrap();
        assert_eq!(fetched.text, r#"{"a":1}"#);
    }

    #[tokio::test]
    async fn a_redirect_to_an_unlisted_port_is_refused() {
        let target = Server::start(|_| ok("text/plain", b"internal")).await;
        let next = target.url("/");
        let entry = Server::start(move |_| redirect(&next)).await;
        let opts = WebOptions {
            allow: vec![entry.addr.to_string()],
            ..WebOptions::default()
        };
        let err = web_fetch(&entry.url("/"), &opts).await.unwrap_err();
        let ToolError::WebBlocked { port, .. } = &err else {
            panic!("expected WebBlocked, got {err}");
        };
        assert_eq!(*port, target.addr.port());
        assert_eq!(entry.hits(), 1);
        assert_eq!(target.hits(), 0);
    }

    #[tokio::test]
    async fn relative_redirects_resolve_against_the_current_url() {
        let server = Server::start(|path| match path {
            "/docs/a" => redirect("b?x=1"),
            "/docs/b?x=1" => redirect("/final"),
            "/final" => ok("text/plain", b"arrived"),
            _ => response("404 Not Found", &[], b"no"),
        })
        .await;
        let fetched = web_fetch(&server.url("/docs/a"), &private()).await.unwrap();
        assert_eq!(fetched.url, server.url("/final"));
        assert_eq!(fetched.text, "arrived");
    }

    #[tokio::test]
    async fn a_redirect_to_another_scheme_is_refused() {
        let server = Server::start(|_| redirect("file:///etc/passwd")).await;
        let err = web_fetch(&server.url("/"), &private()).await.unwrap_err();
        assert!(matches!(err, ToolError::WebUrl { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_redirect_loop_is_capped() {
        let server = Server::start(|_| redirect("/again")).await;
        let opts = WebOptions {
            max_redirects: 3,
            ..private()
        };
        let err = web_fetch(&server.url("/"), &opts).await.unwrap_err();
        assert!(
            matches!(err, ToolError::WebRedirects { max: 3, .. }),
            "{err}"
        );
        assert_eq!(server.hits(), 4, "the first request and three redirects");
    }

    #[tokio::test]
    async fn the_body_is_cut_at_max_bytes() {
        let server = Server::start(|_| ok("text/plain", &[b'a'; 100_000])).await;
        let opts = WebOptions {
            max_bytes: 1000,
            ..private()
        };
        let fetched = web_fetch(&server.url("/"), &opts).await.unwrap();
        assert!(fetched.truncated);
        assert_eq!(fetched.text.len(), 1000);
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let server = Server::start(|_| Reply::Hang).await;
        let opts = WebOptions {
            timeout: Duration::from_millis(300),
            ..private()
        };
        let started = std::time::Instant::now();
        let err = web_fetch(&server.url("/"), &opts).await.unwrap_err();
        assert!(matches!(err, ToolError::WebTimeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn html_becomes_readable_text() {
        let page = br#"<!DOCTYPE html><html><head><title>T</title>
            <style>body { color: red }</style><script>alert("pwned")</script></head>
            <body><h1>Guide</h1><p>First paragraph.</p><script>var hidden = 1;</script>
            <p>See the <a href="https://example.com/docs">reference docs</a> for more.</p>
            </body></html>"#;
        let server = Server::start(move |path| match path {
            "/typed" => ok("text/html; charset=utf-8", page),
            _ => response("200 OK", &[], page),
        })
        .await;
        for path in ["/typed", "/sniffed"] {
            let fetched = web_fetch(&server.url(path), &private()).await.unwrap();
            let text = fetched.text;
            assert!(text.contains("Guide"), "{text}");
            assert!(text.contains("First paragraph."), "{text}");
            assert!(text.contains("reference docs"), "{text}");
            assert!(text.contains("https://example.com/docs"), "{text}");
            for dropped in ["alert", "pwned", "color: red", "hidden"] {
                assert!(!text.contains(dropped), "{dropped} in {text}");
            }
        }
    }

    #[tokio::test]
    async fn error_statuses_are_results() {
        let server = Server::start(|_| {
            response("404 Not Found", &[("Content-Type", "text/plain")], b"gone")
        })
        .await;
        let fetched = web_fetch(&server.url("/"), &private()).await.unwrap();
        assert_eq!(fetched.status, 404);
        assert_eq!(fetched.text, "gone");
    }

    #[tokio::test]
    async fn charsets_and_binaries() {
        let server = Server::start(|path| match path {
            "/latin1" => ok("text/plain; charset=ISO-8859-1", b"caf\xe9"),
            "/png" => ok("image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            _ => response("200 OK", &[], b"\0\x01\x02binary"),
        })
        .await;
        let latin1 = web_fetch(&server.url("/latin1"), &private()).await.unwrap();
        assert_eq!(latin1.text, "café");
        let png = web_fetch(&server.url("/png"), &private()).await.unwrap();
        assert_eq!(
            png.text,
            "[image/png, 16 bytes: not text, so web_fetch does not return its content]"
        );
        let unknown = web_fetch(&server.url("/blob"), &private()).await.unwrap();
        assert!(
            unknown.text.starts_with("[unknown type, 9 bytes"),
            "{}",
            unknown.text
        );
    }

    #[tokio::test]
    async fn only_plain_http_urls_are_fetched() {
        for url in [
            "file:///etc/passwd",
            "ftp://example.com/x",
            "javascript:alert(1)",
            "data:text/plain,hi",
            "http://user:secret@example.com/",
            "https://user@example.com/",
            "not a url",
        ] {
            let err = web_fetch(url, &private()).await.unwrap_err();
            assert!(matches!(err, ToolError::WebUrl { .. }), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn odd_spellings_of_loopback_are_refused() {
        for url in [
            "http://0x7f.1:9/",
            "http://2130706433:9/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]:9/",
            "http://[::ffff:7f00:1]:9/",
            "http://0.0.0.0:9/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let err = web_fetch(url, &WebOptions::default()).await.unwrap_err();
            assert!(matches!(err, ToolError::WebBlocked { .. }), "{url}: {err}");
        }
    }

    fn range(address: &str) -> Option<&'static str> {
        reserved_range(address.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
            "2001:0:0808:0808::f7f7:f7f7",
        ] {
            assert_eq!(range(address), None, "{address}");
        }
    }

    #[test]
    fn non_public_addresses_are_named() {
        for (address, kind) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "in \"this network\" (0.0.0.0/8)"),
            ("10.0.0.1", "private (RFC 1918)"),
            ("172.16.0.1", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            (
                "100.64.0.1",
                "shared carrier-grade NAT space (100.64.0.0/10)",
            ),
            (
                "100.127.255.255",
                "shared carrier-grade NAT space (100.64.0.0/10)",
            ),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("192.0.0.8", "reserved for IETF protocols (192.0.0.0/24)"),
            ("192.0.2.1", "reserved for documentation"),
            ("198.51.100.7", "reserved for documentation"),
            ("203.0.113.9", "reserved for documentation"),
            ("198.18.0.1", "reserved for benchmarking (198.18.0.0/15)"),
            (
                "198.19.255.255",
                "reserved for benchmarking (198.18.0.0/15)",
            ),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved (240.0.0.0/4)"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private (RFC 1918)"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:0.0.0.0", "unspecified"),
            ("::127.0.0.1", "IPv4-compatible IPv6 (deprecated, ::/96)"),
            ("::8.8.8.8", "IPv4-compatible IPv6 (deprecated, ::/96)"),
            ("64:ff9b::7f00:1", "NAT64 of a non-public IPv4 address"),
            ("64:ff9b::a9fe:a9fe", "NAT64 of a non-public IPv4 address"),
            ("64:ff9b:1::1", "local-use NAT64 (64:ff9b:1::/48)"),
            ("2002:7f00:1::", "6to4 of a non-public IPv4 address"),
            ("2002:c0a8:101::1", "6to4 of a non-public IPv4 address"),
            // Teredo: server 10.0.0.1; then client 127.0.0.1 stored inverted.
            ("2001:0:a00:1::1", "Teredo with a non-public IPv4 address"),
            (
                "2001:0:808:808::80ff:fffe",
                "Teredo with a non-public IPv4 address",
            ),
            ("2001:2::1", "reserved for benchmarking (2001:2::/48)"),
            ("2001:db8::1", "reserved for documentation (2001:db8::/32)"),
            ("3fff::1", "reserved for documentation (3fff::/20)"),
            ("3fff:fff::1", "reserved for documentation (3fff::/20)"),
            ("fc00::1", "unique-local (fc00::/7)"),
            ("fd12:3456::1", "unique-local (fc00::/7)"),
            ("fe80::1", "link-local (fe80::/10)"),
            ("febf::1", "link-local (fe80::/10)"),
            ("fec0::1", "site-local (deprecated, fec0::/10)"),
            ("ff02::1", "multicast"),
            ("ff05::1:3", "multicast"),
            ("100::1", "reserved (outside 2000::/3)"),
            ("4000::1", "reserved (outside 2000::/3)"),
        ] {
            assert_eq!(range(address), Some(kind), "{address}");
        }
        assert_eq!(range("3fff:1000::1"), None, "just past 3fff::/20");
    }

    #[test]
    fn listed_entries_match_host_and_port_only() {
        let allow = vec!["Docs.Local:8080".to_owned(), "[::1]:9000".to_owned()];
        assert!(is_listed(&allow, "docs.local", 8080));
        assert!(!is_listed(&allow, "docs.local", 8081));
        assert!(is_listed(&allow, "[::1]", 9000));
        assert!(!is_listed(&allow, "::1", 9000));
    }

    #[test]
    fn deep_html_is_returned_as_markup() {
        let deep = "<div>".repeat(100_000) + "x";
        let started = std::time::Instant::now();
        let text = render_html(&deep);
        assert!(
            text.starts_with("[HTML nested over 1000"),
            "{}",
            &text[..80]
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        let wide = "<div><p>one<br>two<li>three<img src=x></div>".repeat(5_000);
        assert!(!too_deep(&wide));
        let scripted = format!("<script>{}</script><p>ok", "<div>".repeat(5_000));
        assert!(!too_deep(&scripted));
        let commented = format!("<!-- {} --><p>ok", "<div>".repeat(5_000));
        assert!(!too_deep(&commented));
        assert!(too_deep(&"<div/>".repeat(1_001)));
        assert!(too_deep(&"<div></span>".repeat(1_001)));
        assert!(too_deep(&"<span><b>".repeat(600)));
    }

    #[test]
    fn sniffing_and_types() {
        assert_eq!(sniff(b"  <!doctype HTML><p>x"), Kind::Html);
        assert_eq!(sniff("\u{feff}<html>".as_bytes()), Kind::Html);
        assert_eq!(sniff(b"plain words"), Kind::Text);
        assert_eq!(sniff(b"\x89PNG\0"), Kind::Binary);
        assert_eq!(kind_of_type("application/ld+json"), Some(Kind::Text));
        assert_eq!(kind_of_type("application/pdf"), Some(Kind::Binary));
        assert_eq!(kind_of_type("application/octet-stream"), None);
        assert_eq!(essence(" Text/HTML ; charset=x"), "text/html");
    }
}
