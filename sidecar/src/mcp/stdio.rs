//! rmcp reads and writes async streams; the private ends of stdio (see `lsp::stdio`) are plain
//! blocking files. Two threads pump bytes between them and in-memory pipes, so a blocked read
//! of stdin never holds a runtime thread, and every message is flushed as soon as it is written.

use crate::lsp::stdio::Stdio;
use std::io::{self, Read, Write};
use std::thread::JoinHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const PIPE: usize = 1 << 16;

/// The stream rmcp reads the client's messages from, the one it writes to, and the thread that
/// writes them out (it ends once the server's side is dropped and everything is flushed).
pub fn bridge(io: Stdio) -> io::Result<(DuplexStream, DuplexStream, JoinHandle<()>)> {
    let Stdio {
        mut input,
        mut output,
    } = io;
    let handle = tokio::runtime::Handle::current();
    let (server_in, mut feed) = tokio::io::duplex(PIPE);
    let (server_out, mut drain) = tokio::io::duplex(PIPE);
    let reader = handle.clone();
    std::thread::Builder::new()
        .name("odw-mcp-stdin".into())
        .spawn(move || {
            let mut buf = vec![0u8; PIPE];
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if reader.block_on(feed.write_all(&buf[..n])).is_err() {
                            break;
                        }
                    }
                }
            }
            // Dropping `feed` is the end of input for the server.
        })?;
    let writer = std::thread::Builder::new()
        .name("odw-mcp-stdout".into())
        .spawn(move || {
            let mut buf = vec![0u8; PIPE];
            loop {
                match handle.block_on(drain.read(&mut buf)) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if output
                            .write_all(&buf[..n])
                            .and_then(|_| output.flush())
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        })?;
    Ok((server_in, server_out, writer))
}
