//! The README's globals table, generated from the primitives table; a test keeps the README's
//! copy equal to it.

use super::PRIMITIVES;

/// The markdown table of the workflow globals that "Writing a workflow" shows.
pub fn readme_table() -> String {
    let mut out = String::from("| global | what it does | under `--dry-run` |\n|---|---|---|\n");
    for p in PRIMITIVES {
        let usage: Vec<String> = p
            .signature
            .split(['\n'])
            .flat_map(|line| line.split(" / "))
            .map(|alt| format!("`{}`", alt.trim()))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            usage.join(" / "),
            p.summary,
            p.dry_run
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README shows the table as generated; on drift this prints the table to paste.
    #[test]
    fn the_readme_shows_the_generated_table() {
        let readme = include_str!("../../../README.md");
        let table = readme_table();
        assert!(
            readme.contains(&table),
            "README.md's globals table differs from the primitives table; replace it with:\n\n{table}"
        );
    }
}
