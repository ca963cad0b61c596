//! Logs go to stderr, quiet by default; `ODW_LOG=debug` (or any tracing filter) turns them up.

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ODW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Editors file a server's stderr in their logs: colour codes only for a terminal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
