//! cli

/// Entry point of the `odw` binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
