//! `odw check FILE… [--json]`.

use crate::check;
use crate::config::{Config, Env};
use odw_protocol::Severity;
use odw_protocol::check::FileDiagnostics;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn main(files: &[PathBuf], json: bool) -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let config = Config::load(&cwd, &Env::from_process()).unwrap_or_default();
    let mut errors = 0usize;
    let mut warnings = 0usize;
    for path in files {
        let shown = path.display().to_string();
        let source = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("odw: error: cannot read {shown}: {e}");
                errors += 1;
                continue;
            }
        };
        let report = check::check(&source, &check::options_for(&config));
        errors += report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        warnings += report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count();
        if json {
            let out = FileDiagnostics {
                path: shown,
                dialect: report.dialect.map(|d| d.as_str().to_string()),
                diagnostics: report.diagnostics,
            };
            println!("{}", serde_json::to_string(&out).unwrap_or_default());
        } else if !report.diagnostics.is_empty() {
            print!(
                "{}",
                check::render_human(&shown, &source, &report.diagnostics)
            );
        }
    }
    if !json {
        if errors + warnings == 0 {
            eprintln!("odw: {} file(s) checked, no problems", files.len());
        } else {
            eprintln!(
                "odw: {} file(s) checked: {errors} error(s), {warnings} warning(s)",
                files.len()
            );
        }
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
