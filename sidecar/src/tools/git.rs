//! `git`: a git subcommand in the workspace, for a run whose policy approved it, and the branch
//! a run works on.
//!
//! Why an allowlist and argv, not a shell: the approval a user gives for `git commit` should not
//! also approve `git -c core.pager='curl …' log` or `git push --force`. So git runs without a
//! shell, only the subcommands that work on the local checkout, and without the options that run
//! other programs, override configuration, force or discard work, or reach outside the workspace.
//! `writes` lets a policy approve reading subcommands more readily than writing ones.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::ToolError;
use super::bash::BashOutcome;
use super::process::{self, Limits};

/// The subcommands the git tool runs.
pub const GIT_SUBCOMMANDS: &[&str] = &[
    "status",
    "diff",
    "log",
    "show",
    "add",
    "commit",
    "branch",
    "checkout",
    "switch",
    "restore",
    "stash",
    "rev-parse",
    "ls-files",
    "blame",
];

/// Subcommands that only read the repository.
const READING: &[&str] = &[
    "status",
    "diff",
    "log",
    "show",
    "rev-parse",
    "ls-files",
    "blame",
];

/// Long options refused anywhere before `--`, with why; their unambiguous abbreviations too,
/// since git accepts those.
const REFUSED_LONG: &[(&str, &str)] = &[
    ("--config-env", CONFIGURES),
    ("--exec", RUNS),
    ("--exec-path", RUNS),
    ("--upload-pack", RUNS),
    ("--receive-pack", RUNS),
    ("--hard", DISCARDS),
    ("--force", DISCARDS),
    ("--force-with-lease", DISCARDS),
    (
        "--output",
        "it writes to any file, outside the workspace too",
    ),
    (
        "--no-index",
        "it compares any files, outside the workspace too",
    ),
];

/// Short options refused anywhere before `--`, alone or in a cluster (`-fd`, `-cfoo`).
const REFUSED_SHORT: &[(char, &str)] = &[('c', CONFIGURES), ('f', DISCARDS)];

const CONFIGURES: &str = "it overrides git configuration, which can run other programs";
const RUNS: &str = "it runs another program";
const DISCARDS: &str = "it forces the change, overwriting or discarding work";

/// The subcommand a vetted git command line runs, and whether it changes the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitCommand {
    pub subcommand: String,
    /// False for commands that only read (`status`, `log`, `branch -a`, `stash list`, …).
    pub writes: bool,
}

/// How git may run.
#[derive(Debug, Clone)]
pub struct GitOptions {
    /// After this long git's whole process group is killed.
    pub timeout: Duration,
    /// Cap on each of stdout and stderr.
    pub max_output_bytes: usize,
}

/// What [`ensure_branch`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum BranchSwitch {
    /// The branch was already checked out.
    Already,
    /// The branch was made from `from` (a branch name, or a short sha for a detached HEAD).
    Created { from: String },
    /// The existing branch was checked out, leaving `from`.
    Switched { from: String },
}

/// Checks a git command line (`args` without the leading `git`) against the allowlist and the
/// refused options.
pub fn check_git_args(args: &[String]) -> Result<GitCommand, ToolError> {
    let Some((subcommand, rest)) = args.split_first() else {
        return Err(ToolError::InvalidArgument {
            tool: "git",
            message: "give a subcommand and its arguments, such as [\"status\", \"--short\"]"
                .into(),
        });
    };
    if subcommand.starts_with('-') {
        return Err(ToolError::GitOption {
            option: subcommand.clone(),
            reason: "the git tool takes no options before the subcommand",
        });
    }
    if !GIT_SUBCOMMANDS.contains(&subcommand.as_str()) {
        return Err(ToolError::GitSubcommand {
            subcommand: subcommand.clone(),
        });
    }
    for arg in rest {
        if arg == "--" {
            break;
        }
        if let Some(reason) = refused(subcommand, arg) {
            return Err(ToolError::GitOption {
                option: arg.clone(),
                reason,
            });
        }
    }
    Ok(GitCommand {
        subcommand: subcommand.clone(),
        writes: writes(subcommand, rest),
    })
}

/// Why `arg` is refused, if it is.
fn refused(subcommand: &str, arg: &str) -> Option<&'static str> {
    if let Some(long) = arg.strip_prefix("--") {
        let name = format!("--{}", long.split_once('=').map_or(long, |(name, _)| name));
        return REFUSED_LONG
            .iter()
            .find(|(refused, _)| {
                *refused == name || (name.len() > 2 && refused.starts_with(name.as_str()))
            })
            .map(|(_, reason)| *reason);
    }
    let cluster = arg.strip_prefix('-')?;
    // In `-mfix` or `-n5`, what follows the value-taking letter is its value, not options.
    let valued = valued_short_options(subcommand);
    for letter in cluster.chars() {
        if let Some((_, reason)) = REFUSED_SHORT.iter().find(|(refused, _)| *refused == letter) {
            return Some(reason);
        }
        if valued.contains(letter) {
            return None;
        }
    }
    None
}

/// The short options of `subcommand` whose value may be attached (`-mmessage`, `-n5`).
fn valued_short_options(subcommand: &str) -> &'static str {
    match subcommand {
        "commit" => "mFCtSu",
        "log" | "show" | "diff" => "nSGLUOlMCB",
        "blame" => "LSCM",
        "checkout" => "bB",
        "switch" => "C",
        "branch" | "status" => "u",
        "stash" => "m",
        "restore" => "s",
        "ls-files" => "xX",
        _ => "",
    }
}

fn writes(subcommand: &str, rest: &[String]) -> bool {
    match subcommand {
        _ if READING.contains(&subcommand) => false,
        "branch" => !branch_only_lists(rest),
        "stash" => !matches!(rest.first().map(String::as_str), Some("list" | "show")),
        _ => true,
    }
}

/// `git branch` with nothing but listing options; with `--list`, other words are patterns.
fn branch_only_lists(rest: &[String]) -> bool {
    const LISTING: &[&str] = &[
        "-a",
        "--all",
        "-r",
        "--remotes",
        "--list",
        "-l",
        "-v",
        "-vv",
        "--verbose",
        "--show-current",
    ];
    let patterns = rest.iter().any(|arg| arg == "--list" || arg == "-l");
    rest.iter()
        .all(|arg| LISTING.contains(&arg.as_str()) || (patterns && !arg.starts_with('-')))
}

/// Variables that would point git at another repository, index or configuration than the
/// workspace's (set, for one, when odw runs inside a git hook).
const REPOSITORY_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
];

/// Runs `git --no-pager ARGS` in `root` after [`check_git_args`], never prompting, paging or
/// opening an editor. A non-zero exit is an outcome, not an error.
pub async fn run_git(
    root: &Path,
    args: &[String],
    opts: &GitOptions,
    cancel: &CancellationToken,
) -> Result<BashOutcome, ToolError> {
    check_git_args(args)?;
    git(root, args, opts, cancel).await
}

/// Runs git with any arguments: for commands the tools compose themselves.
async fn git<S: AsRef<std::ffi::OsStr>>(
    root: &Path,
    args: &[S],
    opts: &GitOptions,
    cancel: &CancellationToken,
) -> Result<BashOutcome, ToolError> {
    let scrub: Vec<String> = REPOSITORY_VARS
        .iter()
        .map(|name| name.to_string())
        .collect();
    let mut command = process::command("git", root, &scrub)?;
    command
        .arg("--no-pager")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_EDITOR", "true")
        .env("GIT_PAGER", "cat");
    let limits = Limits {
        timeout: opts.timeout,
        max_output_bytes: opts.max_output_bytes,
    };
    process::run("git", command, &limits, cancel, &|_, _| {}).await
}

/// Makes `branch` the checked-out branch of the repository at `root`: nothing if it already is,
/// else switches to it, creating it from the current HEAD if it does not exist.
pub async fn ensure_branch(
    root: &Path,
    branch: &str,
    opts: &GitOptions,
) -> Result<BranchSwitch, ToolError> {
    if branch.is_empty() || branch.starts_with('-') {
        return Err(ToolError::InvalidArgument {
            tool: "git",
            message: format!("{branch:?} is not a branch name"),
        });
    }
    let never = &CancellationToken::new();
    let run = |args: Vec<String>| async move {
        let outcome = git(root, &args, opts, never).await?;
        Ok::<_, ToolError>((args.join(" "), outcome))
    };
    let words = |list: &[&str]| list.iter().map(|w| w.to_string()).collect::<Vec<_>>();

    let (_, inside) = run(words(&["rev-parse", "--is-inside-work-tree"])).await?;
    if inside.exit_code != Some(0) || inside.stdout.trim() != "true" {
        return Err(ToolError::NotARepository {
            path: root.display().to_string(),
        });
    }
    let (command, symbolic) = run(words(&["symbolic-ref", "--quiet", "--short", "HEAD"])).await?;
    let from = match symbolic.exit_code {
        Some(0) => symbolic.stdout.trim().to_owned(),
        // Exit 1 is a detached HEAD, named by its commit.
        Some(1) => {
            let (command, sha) = run(words(&["rev-parse", "--short", "HEAD"])).await?;
            succeeded(&command, &sha)?;
            sha.stdout.trim().to_owned()
        }
        _ => return Err(failure(&command, &symbolic)),
    };
    if from == branch {
        return Ok(BranchSwitch::Already);
    }
    let (_, exists) = run(words(&[
        "show-ref",
        "--verify",
        "--quiet",
        &format!("refs/heads/{branch}"),
    ]))
    .await?;
    let exists = exists.exit_code == Some(0);
    let switch = if exists {
        words(&["switch", branch])
    } else {
        words(&["switch", "-c", branch])
    };
    let (command, switched) = run(switch).await?;
    succeeded(&command, &switched)?;
    Ok(if exists {
        BranchSwitch::Switched { from }
    } else {
        BranchSwitch::Created { from }
    })
}

fn succeeded(command: &str, outcome: &BashOutcome) -> Result<(), ToolError> {
    if outcome.exit_code == Some(0) {
        Ok(())
    } else {
        Err(failure(command, outcome))
    }
}

fn failure(command: &str, outcome: &BashOutcome) -> ToolError {
    let said = [outcome.stderr.trim(), outcome.stdout.trim()]
        .into_iter()
        .find(|text| !text.is_empty());
    let message = match (outcome.timed_out, outcome.exit_code, said) {
        (true, _, _) => "timed out".to_owned(),
        (_, _, Some(said)) => said.to_owned(),
        (_, Some(code), None) => format!("exit status {code}"),
        (_, None, None) => format!("killed by signal {}", outcome.signal.unwrap_or(0)),
    };
    ToolError::GitFailed {
        command: command.into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::process::Command;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn check(line: &str) -> Result<GitCommand, ToolError> {
        check_git_args(&args(line))
    }

    fn writes_for(line: &str) -> bool {
        check(line)
            .unwrap_or_else(|err| panic!("{line}: {err}"))
            .writes
    }

    fn options() -> GitOptions {
        GitOptions {
            timeout: Duration::from_secs(30),
            max_output_bytes: 1 << 20,
        }
    }

    /// Git set up for tests alone: identity from the environment, no user or system config.
    fn setup_git(dir: &Path, line: &[&str]) -> String {
        let output = Command::new("git")
            .args(line)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .output()
            .unwrap();
        assert!(output.status.success(), "git {line:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// A repository on `main` with one commit.
    fn repository() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        setup_git(dir.path(), &["init", "--quiet", "-b", "main"]);
        // The tool's own git commands read only the repository's config, so identity goes there.
        setup_git(dir.path(), &["config", "user.name", "Test"]);
        setup_git(dir.path(), &["config", "user.email", "test@example.com"]);
        fs::write(dir.path().join("a.txt"), "one\n").unwrap();
        setup_git(dir.path(), &["add", "a.txt"]);
        setup_git(dir.path(), &["commit", "--quiet", "-m", "first"]);
        dir
    }

    fn current_branch(dir: &Path) -> String {
        setup_git(dir, &["branch", "--show-current"])
    }

    #[test]
    fn allows_the_listed_subcommands_only() {
        for subcommand in GIT_SUBCOMMANDS {
            assert_eq!(check(subcommand).unwrap().subcommand, *subcommand);
        }
        for line in [
            "push",
            "pull origin",
            "reset --soft HEAD",
            "clean -n",
            "config user.name x",
            "remote add x y",
            "fetch",
        ] {
            let err = check(line).unwrap_err();
            assert!(
                matches!(err, ToolError::GitSubcommand { .. }),
                "{line}: {err}"
            );
        }
        assert_eq!(
            check("push").unwrap_err().to_string(),
            "git push is not allowed: the git tool runs status, diff, log, show, add, commit, branch, checkout, switch, restore, stash, rev-parse, ls-files, blame; use run_bash for anything else"
        );
        for line in [
            "-c core.pager=evil log",
            "-C /etc status",
            "--git-dir=/x status",
            "--no-pager log",
        ] {
            let err = check(line).unwrap_err();
            assert!(matches!(err, ToolError::GitOption { .. }), "{line}: {err}");
        }
        let err = check_git_args(&[]).unwrap_err();
        assert!(
            matches!(err, ToolError::InvalidArgument { tool: "git", .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_dangerous_options_in_every_spelling() {
        for line in [
            "checkout --force main",
            "checkout --force=yes main",
            "checkout --forc main",
            "checkout -f main",
            "add -f ignored.txt",
            "add -vf ignored.txt",
            "switch -fd main",
            "switch -c feature",
            "log -cfoo",
            "commit --exec=x",
            "branch --exec-path",
            "log --upload-pack=evil",
            "show --receive-pack evil",
            "stash --config-env=core.pager=X",
            "checkout --hard",
            "checkout --ha",
            "branch --force-with-lease",
            "diff --output=/etc/passwd",
            "log --output /tmp/x",
            "diff --no-index /etc/passwd a.txt",
            "commit -am fix -f",
        ] {
            let err = check(line).unwrap_err();
            assert!(matches!(err, ToolError::GitOption { .. }), "{line}: {err}");
        }
        assert_eq!(
            check("checkout -f main").unwrap_err().to_string(),
            "git option -f is not allowed: it forces the change, overwriting or discarding work"
        );
    }

    #[test]
    fn leaves_values_separators_and_paths_alone() {
        for line in [
            "commit -m fix",
            "commit -mfix",
            "commit -am fix-flaky-tests",
            "commit -Cabcdef0",
            "log -n5 --format=%H --follow a.txt",
            "log -Sfoo --grep=force",
            "diff -U3 --cached --stat",
            "checkout -bfeature",
            "checkout -- -f --force",
            "add -- -c",
            "diff - a.txt",
            "switch --create feature",
            "restore -sHEAD~1 a.txt",
            "status -uno --short",
            "blame -Lf,+3 a.txt",
        ] {
            assert!(check(line).is_ok(), "{line}: {}", check(line).unwrap_err());
        }
    }

    #[test]
    fn tells_reads_from_writes() {
        for line in [
            "status",
            "diff --cached",
            "log --oneline",
            "show HEAD",
            "rev-parse HEAD",
            "ls-files",
            "blame a.txt",
            "branch",
            "branch -a",
            "branch -r -v",
            "branch --list feat*",
            "branch --show-current",
            "stash list",
            "stash show -p",
        ] {
            assert!(!writes_for(line), "{line} reads");
        }
        for line in [
            "add a.txt",
            "commit -m x",
            "branch feature",
            "branch -d old",
            "branch -v feature",
            "checkout main",
            "switch main",
            "restore a.txt",
            "stash",
            "stash push",
            "stash pop",
            "stash drop",
        ] {
            assert!(writes_for(line), "{line} writes");
        }
    }

    #[tokio::test]
    async fn runs_git_in_the_root_without_prompting() {
        let repo = repository();
        fs::write(repo.path().join("a.txt"), "two\n").unwrap();
        let cancel = CancellationToken::new();
        let status = run_git(repo.path(), &args("status --short"), &options(), &cancel)
            .await
            .unwrap();
        assert_eq!(status.exit_code, Some(0));
        assert_eq!(status.stdout, " M a.txt\n");
        let added = run_git(repo.path(), &args("add a.txt"), &options(), &cancel)
            .await
            .unwrap();
        assert_eq!(added.exit_code, Some(0), "{added:?}");
        // No -m: the editor is `true`, so the message is empty and git aborts instead of waiting.
        let commit = run_git(repo.path(), &args("commit"), &options(), &cancel)
            .await
            .unwrap();
        assert_eq!(commit.exit_code, Some(1), "{commit:?}");
        assert!(commit.stderr.contains("empty commit message"), "{commit:?}");
        let commit = run_git(
            repo.path(),
            &args("commit --quiet -m second"),
            &options(),
            &cancel,
        )
        .await
        .unwrap();
        assert_eq!(commit.exit_code, Some(0), "{commit:?}");
        // A long log goes straight through, not into a pager.
        let log = run_git(repo.path(), &args("log --format=%s"), &options(), &cancel)
            .await
            .unwrap();
        assert_eq!(log.stdout, "second\nfirst\n");
        let missing = run_git(repo.path(), &args("show nope"), &options(), &cancel)
            .await
            .unwrap();
        assert_eq!(missing.exit_code, Some(128));
        assert!(missing.stderr.contains("nope"), "{missing:?}");
    }

    #[tokio::test]
    async fn refused_arguments_never_run() {
        let repo = repository();
        let err = run_git(
            repo.path(),
            &args("checkout -f HEAD~0"),
            &options(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::GitOption { .. }), "{err}");
    }

    /// A pre-commit hook that starts a background `sleep` and waits: git, the hook and the
    /// sleep are all in the group that cancellation and timeouts kill.
    fn hanging_hook(repo: &Path) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let pid_file = repo.join("hook.pid");
        let hook = repo.join(".git/hooks/pre-commit");
        fs::write(
            &hook,
            format!(
                "#!/bin/sh\nsleep 1000 &\necho $! > {}\nwait\n",
                pid_file.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
        pid_file
    }

    async fn hook_pid(pid_file: &Path) -> i32 {
        for _ in 0..250 {
            if let Ok(text) = fs::read_to_string(pid_file)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the hook never started");
    }

    async fn wait_gone(pid: i32) -> bool {
        for _ in 0..100 {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat"));
            let gone = stat.map_or(true, |stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
            });
            if gone {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn cancelling_kills_git_and_what_it_started() {
        let repo = repository();
        let pid_file = hanging_hook(repo.path());
        let cancel = CancellationToken::new();
        let commit = args("commit --allow-empty -m hung");
        let opts = options();
        let (outcome, pid) = tokio::join!(run_git(repo.path(), &commit, &opts, &cancel), async {
            let pid = hook_pid(&pid_file).await;
            cancel.cancel();
            pid
        });
        let outcome = outcome.unwrap();
        assert!(outcome.cancelled, "{outcome:?}");
        assert_eq!(outcome.signal, Some(libc::SIGKILL));
        assert!(wait_gone(pid).await, "the hook's sleep {pid} survived");
    }

    #[tokio::test]
    async fn a_timeout_kills_git_and_what_it_started() {
        let repo = repository();
        let pid_file = hanging_hook(repo.path());
        let opts = GitOptions {
            timeout: Duration::from_millis(1500),
            ..options()
        };
        let commit = args("commit --allow-empty -m hung");
        let outcome = run_git(repo.path(), &commit, &opts, &CancellationToken::new())
            .await
            .unwrap();
        assert!(outcome.timed_out, "{outcome:?}");
        let pid = hook_pid(&pid_file).await;
        assert!(wait_gone(pid).await, "the hook's sleep {pid} survived");
    }

    #[tokio::test]
    async fn ensure_branch_creates_switches_or_does_nothing() {
        let repo = repository();
        let root = repo.path();
        assert_eq!(
            ensure_branch(root, "main", &options()).await.unwrap(),
            BranchSwitch::Already
        );
        assert_eq!(
            ensure_branch(root, "odw/run-1", &options()).await.unwrap(),
            BranchSwitch::Created {
                from: "main".into()
            }
        );
        assert_eq!(current_branch(root), "odw/run-1");
        assert_eq!(
            ensure_branch(root, "odw/run-1", &options()).await.unwrap(),
            BranchSwitch::Already
        );
        assert_eq!(
            ensure_branch(root, "main", &options()).await.unwrap(),
            BranchSwitch::Switched {
                from: "odw/run-1".into()
            }
        );
        assert_eq!(current_branch(root), "main");
    }

    #[tokio::test]
    async fn ensure_branch_from_a_detached_head_names_the_commit() {
        let repo = repository();
        let sha = setup_git(repo.path(), &["rev-parse", "--short", "HEAD"]);
        setup_git(repo.path(), &["switch", "--quiet", "--detach", "HEAD"]);
        assert_eq!(
            ensure_branch(repo.path(), "feature", &options())
                .await
                .unwrap(),
            BranchSwitch::Created { from: sha }
        );
        assert_eq!(current_branch(repo.path()), "feature");
    }

    #[tokio::test]
    async fn ensure_branch_on_a_repository_without_commits() {
        let dir = tempfile::tempdir().unwrap();
        setup_git(dir.path(), &["init", "--quiet", "-b", "main"]);
        assert_eq!(
            ensure_branch(dir.path(), "main", &options()).await.unwrap(),
            BranchSwitch::Already
        );
        assert_eq!(
            ensure_branch(dir.path(), "feature", &options())
                .await
                .unwrap(),
            BranchSwitch::Created {
                from: "main".into()
            }
        );
    }

    #[tokio::test]
    async fn ensure_branch_errors_say_what_is_wrong() {
        let plain = tempfile::tempdir().unwrap();
        let err = ensure_branch(plain.path(), "feature", &options())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::NotARepository { .. }), "{err}");
        assert!(err.to_string().ends_with(
            "is not inside a git work tree; run `git init` there, or use a workspace that is one"
        ));

        let repo = repository();
        for bad in ["", "-f", "--force"] {
            let err = ensure_branch(repo.path(), bad, &options())
                .await
                .unwrap_err();
            assert!(
                matches!(err, ToolError::InvalidArgument { .. }),
                "{bad}: {err}"
            );
        }
        let err = ensure_branch(repo.path(), "bad..name", &options())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::GitFailed { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("`git switch -c bad..name` failed: "),
            "{err}"
        );

        // Uncommitted changes that the switch would overwrite stop it, with git's reason.
        setup_git(repo.path(), &["switch", "--quiet", "-c", "other"]);
        fs::write(repo.path().join("a.txt"), "other\n").unwrap();
        setup_git(repo.path(), &["commit", "--quiet", "-am", "other"]);
        setup_git(repo.path(), &["switch", "--quiet", "main"]);
        fs::write(repo.path().join("a.txt"), "local edit\n").unwrap();
        let err = ensure_branch(repo.path(), "other", &options())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::GitFailed { .. }), "{err}");
        assert!(err.to_string().contains("would be overwritten"), "{err}");
        assert_eq!(current_branch(repo.path()), "main");
    }
}
