//! The blocked-command guard of `run_bash`.
//!
//! A guard against the obvious (`sudo`, `mkfs`, `git push` when listed), not a sandbox: a command
//! can always hide what it runs (`eval`, a script file, `$VAR`). What it looks at is bash's own
//! structure — simple commands split on the control operators and substitutions, quotes removed —
//! so that quoting or chaining does not slip past it and a word inside a string does not trip it.

/// The first blocked entry some simple command of `command` starts with, and that command.
pub(super) fn find_blocked<'a>(command: &str, blocked: &'a [String]) -> Option<(&'a str, String)> {
    let entries: Vec<(&str, Vec<&str>)> = blocked
        .iter()
        .map(|entry| (entry.as_str(), entry.split_whitespace().collect::<Vec<_>>()))
        .filter(|(_, words)| !words.is_empty())
        .collect();
    for words in simple_commands(command) {
        let mut rest = significant(&words);
        loop {
            for (entry, entry_words) in &entries {
                if starts_with(rest, entry_words) {
                    return Some((entry, words.join(" ")));
                }
            }
            match strip_wrapper(rest) {
                Some(inner) => rest = significant(inner),
                None => break,
            }
        }
    }
    None
}

/// Whether `words` starts with `entry`, the first word compared without its directory.
fn starts_with(words: &[String], entry: &[&str]) -> bool {
    words.len() >= entry.len()
        && words
            .iter()
            .zip(entry)
            .enumerate()
            .all(|(i, (word, want))| {
                if i == 0 {
                    basename(word) == basename(want)
                } else {
                    word == want
                }
            })
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// `words` from the first one that names what runs: leading assignments (`FOO=1`), reserved
/// words (`if`, `{`, `!`) and redirections (`2>/dev/null`, `> out`) dropped.
fn significant(mut words: &[String]) -> &[String] {
    while let Some((first, rest)) = words.split_first() {
        if is_assignment(first) || RESERVED.contains(&first.as_str()) {
            words = rest;
        } else if let Some(operator_only) = redirection(first) {
            // `> out` spends the next word too; `>out` does not.
            words = if operator_only && !rest.is_empty() {
                &rest[1..]
            } else {
                rest
            };
        } else {
            break;
        }
    }
    words
}

/// Words that can start a simple command without being what it runs.
const RESERVED: &[&str] = &[
    "!", "{", "}", "if", "then", "elif", "else", "fi", "do", "done", "while", "until", "time",
];

fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// For a redirection word, whether it is the operator alone (its target is the next word).
fn redirection(word: &str) -> Option<bool> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix('&').unwrap_or(rest);
    let operator = rest.trim_start_matches(['<', '>', '&', '|']);
    if operator.len() == rest.len() {
        return None;
    }
    Some(operator.is_empty())
}

/// The command a wrapper (`sudo`, `env`, `nohup`, `exec`, `command`) runs, if `words` is one.
fn strip_wrapper(words: &[String]) -> Option<&[String]> {
    let (first, mut rest) = words.split_first()?;
    // Options of each wrapper that take the next word as their value.
    let valued: &[&str] = match basename(first) {
        "sudo" => &[
            "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R",
        ],
        "env" => &["-u", "-C", "-S", "--unset", "--chdir", "--split-string"],
        "nohup" | "exec" | "command" => &["-a"],
        _ => return None,
    };
    while let Some((word, after)) = rest.split_first() {
        if word == "--" {
            rest = after;
            break;
        }
        if !word.starts_with('-') {
            break;
        }
        rest = if valued.contains(&word.as_str()) && !after.is_empty() {
            &after[1..]
        } else {
            after
        };
    }
    Some(rest)
}

/// The simple commands of a bash command line, each as its words with quotes removed.
///
/// Control operators (`;`, `&&`, `||`, `|`, `&`, newline), subshells and groups (`(`, `)`),
/// command substitutions (`$(…)`, backticks, also inside double quotes) and process
/// substitutions (`<(…)`) separate them. Expansions are not performed: `$CMD` stays a word.
pub(super) fn simple_commands(line: &str) -> Vec<Vec<String>> {
    /// What ends the command being read.
    #[derive(PartialEq)]
    enum Close {
        End,
        Paren,
        Backtick,
    }
    struct Frame {
        close: Close,
        words: Vec<String>,
        word: String,
        /// A word is under way even if empty (`''`).
        in_word: bool,
        double: bool,
    }
    impl Frame {
        fn new(close: Close) -> Self {
            Self {
                close,
                words: Vec::new(),
                word: String::new(),
                in_word: false,
                double: false,
            }
        }
        fn end_word(&mut self) {
            if self.in_word {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        }
        fn end_command(&mut self, out: &mut Vec<Vec<String>>) {
            self.end_word();
            if !self.words.is_empty() {
                out.push(std::mem::take(&mut self.words));
            }
        }
        fn push(&mut self, c: char) {
            self.word.push(c);
            self.in_word = true;
        }
    }

    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut stack = vec![Frame::new(Close::End)];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let frame = stack
            .last_mut()
            .expect("the outermost frame is never popped");
        i += 1;
        if frame.double {
            match c {
                '"' => frame.double = false,
                '\\' => {
                    if let Some(n) = next {
                        i += 1;
                        if !matches!(n, '$' | '`' | '"' | '\\' | '\n') {
                            frame.push('\\');
                        }
                        if n != '\n' {
                            frame.push(n);
                        }
                    }
                }
                '$' if next == Some('(') => {
                    i += 1;
                    stack.push(Frame::new(Close::Paren));
                }
                '`' => stack.push(Frame::new(Close::Backtick)),
                _ => frame.push(c),
            }
            continue;
        }
        match c {
            '\'' => {
                frame.in_word = true;
                match chars[i..].iter().position(|&q| q == '\'') {
                    Some(len) => {
                        frame.word.extend(&chars[i..i + len]);
                        i += len + 1;
                    }
                    None => {
                        frame.word.extend(&chars[i..]);
                        i = chars.len();
                    }
                }
            }
            '"' => {
                frame.in_word = true;
                frame.double = true;
            }
            '\\' => {
                if let Some(n) = next {
                    i += 1;
                    if n != '\n' {
                        frame.push(n);
                    }
                }
            }
            '#' if !frame.in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ' ' | '\t' => frame.end_word(),
            '\n' | ';' | '&' | '|' => frame.end_command(&mut out),
            '$' | '<' | '>' if next == Some('(') => {
                // A substitution inside a word: the word goes on after it.
                i += 1;
                stack.push(Frame::new(Close::Paren));
            }
            '(' => {
                frame.end_command(&mut out);
                stack.push(Frame::new(Close::Paren));
            }
            ')' => {
                frame.end_command(&mut out);
                if frame.close == Close::Paren {
                    stack.pop();
                }
            }
            '`' => {
                if frame.close == Close::Backtick {
                    frame.end_command(&mut out);
                    stack.pop();
                } else {
                    stack.push(Frame::new(Close::Backtick));
                }
            }
            _ => frame.push(c),
        }
    }
    while let Some(mut frame) = stack.pop() {
        frame.end_command(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::bash::DEFAULT_BLOCKED;

    fn commands(line: &str) -> Vec<Vec<String>> {
        simple_commands(line)
    }

    fn words(list: &[&[&str]]) -> Vec<Vec<String>> {
        list.iter()
            .map(|words| words.iter().map(|w| w.to_string()).collect())
            .collect()
    }

    fn blocked(command: &str, entries: &[&str]) -> Option<String> {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        find_blocked(command, &entries).map(|(entry, _)| entry.to_owned())
    }

    fn default_blocked(command: &str) -> Option<String> {
        blocked(command, DEFAULT_BLOCKED)
    }

    /// Whether `pid` has exited (a zombie waiting for its reaper counts: it runs nothing).
    #[test]
    fn splits_into_simple_commands() {
        assert_eq!(
            commands("a b; c && d || e | f & g\nh"),
            words(&[&["a", "b"], &["c"], &["d"], &["e"], &["f"], &["g"], &["h"]])
        );
        assert_eq!(
            commands("echo $(sudo id) `dd if=x` (su root) <(doas ls)"),
            words(&[
                &["sudo", "id"],
                &["dd", "if=x"],
                &["echo"],
                &["su", "root"],
                &["doas", "ls"]
            ])
        );
        assert_eq!(
            commands(r#"echo "a; sudo b" 'c && d' e\;f"#),
            words(&[&["echo", "a; sudo b", "c && d", "e;f"]])
        );
        assert_eq!(
            commands(r#"echo "x $(sudo id) y" z"#),
            words(&[&["sudo", "id"], &["echo", "x  y", "z"]])
        );
        assert_eq!(
            commands("echo hi # && sudo x\nls ''"),
            words(&[&["echo", "hi"], &["ls", ""]])
        );
        assert_eq!(commands("s\\\nudo x"), words(&[&["sudo", "x"]]));
    }

    #[test]
    fn blocks_the_default_entries_wherever_they_run() {
        for command in [
            "sudo rm -rf /",
            "/usr/bin/sudo ls",
            "ls; sudo ls",
            "true && su -",
            "false || doas sh",
            "echo x | sudo tee /etc/x",
            "sleep 1 & shutdown now",
            "echo $(sudo cat /etc/shadow)",
            "echo `sudo id`",
            "(reboot)",
            "{ halt; }",
            "if true; then poweroff; fi",
            "FOO=1 BAR=2 mkfs /dev/sda",
            "2>/dev/null dd if=/dev/zero of=x",
            "> out dd if=x",
            "'sudo' ls",
            "s\"ud\"o ls",
            "env FOO=1 sudo ls",
            "nohup sudo ls",
            "exec -a name sudo ls",
            "command sudo ls",
            "env -u HOME /sbin/reboot",
            "echo \"$(sudo id)\"",
        ] {
            assert!(
                default_blocked(command).is_some(),
                "{command} was not blocked"
            );
        }
        assert_eq!(
            default_blocked("sudo -u root dd if=x").as_deref(),
            Some("sudo")
        );
    }

    #[test]
    fn leaves_look_alikes_alone() {
        for command in [
            "echo sudo",
            "echo 'a; sudo ls'",
            "ls sudo/",
            "sudoku --solve",
            "cargo add dd",
            "grep -r su .",
            "git commit -m 'reboot the thing'",
            "ddrescue a b",
            "# sudo ls",
            "FOO=sudo ls",
        ] {
            assert_eq!(default_blocked(command), None, "{command} was blocked");
        }
    }

    #[test]
    fn multi_word_entries_match_word_by_word() {
        let entries = ["git push", "rm -rf"];
        assert_eq!(
            blocked("git push origin main", &entries).as_deref(),
            Some("git push")
        );
        assert_eq!(
            blocked("cd x && /usr/bin/git push", &entries).as_deref(),
            Some("git push")
        );
        assert_eq!(
            blocked("env GIT_DIR=x git push", &entries).as_deref(),
            Some("git push")
        );
        assert_eq!(blocked("git pull", &entries), None);
        assert_eq!(blocked("git log --grep push", &entries), None);
        assert_eq!(blocked("rm -r -f x", &entries), None);
        assert_eq!(blocked("rm -rf x", &entries).as_deref(), Some("rm -rf"));
        assert_eq!(blocked("sudo ls", &[]), None);
        assert_eq!(blocked("ls", &["", "  "]), None);
    }
}
