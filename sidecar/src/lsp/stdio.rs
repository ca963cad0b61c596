//! stdout belongs to JSON-RPC. At start-up the server keeps private handles on the real stdin and
//! stdout and points file descriptor 1 at stderr (and 0 at /dev/null), so a stray `println!` from
//! any dependency (rquickjs prints some job errors that way) lands on stderr, and a child process
//! spawned by a tool can neither write into nor read from the JSON-RPC channel.

use std::io::{self, Read, Write};

/// The private ends of the JSON-RPC channel.
pub struct Stdio {
    /// The client's messages (the real stdin).
    pub input: Box<dyn Read + Send>,
    /// Where JSON-RPC goes (the real stdout).
    pub output: Box<dyn Write + Send>,
}

/// What a stdio server (`odw lsp`, `odw mcp`) starts with: the private channel and the
/// runtime. `stray_print_var` is a test seam: when that variable is set, a stray `println!`
/// runs after the redirection, and the end-to-end tests check it reaches stderr only. On
/// failure the error is printed and the exit status returned.
pub fn start_server(
    stray_print_var: &str,
) -> Result<(Stdio, tokio::runtime::Runtime), std::process::ExitCode> {
    let fail = |what: &str, e: io::Error| {
        eprintln!("odw: error: cannot {what}: {e}");
        std::process::ExitCode::from(2)
    };
    let stdio = take().map_err(|e| fail("take over stdio", e))?;
    if std::env::var_os(stray_print_var).is_some() {
        println!("a stray print that must land on stderr");
    }
    let runtime = crate::runtime::build().map_err(|e| fail("start the runtime", e))?;
    Ok((stdio, runtime))
}

/// Takes the process's stdin and stdout for JSON-RPC and redirects fds 0 and 1.
#[cfg(unix)]
pub fn take() -> io::Result<Stdio> {
    use std::fs::File;
    use std::os::fd::FromRawFd;

    // Flush anything std already buffered for the old stdout before fd 1 moves.
    let _ = io::stdout().flush();
    // SAFETY: plain fd calls; each new descriptor is owned by exactly one `File` below.
    unsafe {
        // CLOEXEC: children spawned by tools must not inherit the channel.
        let out = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if out < 0 {
            return Err(io::Error::last_os_error());
        }
        let output = File::from_raw_fd(out);
        if libc::dup2(2, 1) < 0 {
            return Err(io::Error::last_os_error());
        }
        let inp = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
        if inp < 0 {
            return Err(io::Error::last_os_error());
        }
        let input = File::from_raw_fd(inp);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::close(null);
        }
        Ok(Stdio {
            input: Box::new(input),
            output: Box::new(output),
        })
    }
}

/// Without fd juggling the server still works; only the stray-print guard is missing.
#[cfg(not(unix))]
pub fn take() -> io::Result<Stdio> {
    Ok(Stdio {
        input: Box::new(io::stdin()),
        output: Box::new(io::stdout()),
    })
}
