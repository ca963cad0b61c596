//! Owners, claims and interrupted runs.

use super::*;

#[test]
fn dead_owners_make_runs_interrupted_and_live_ones_stay() {
    let (_dir, j) = temp_journal();
    let dead = Owner::new(dead_pid(), &hostname_of(&Owner::current()), 12345);
    j.create_run(&new_run("r-dead", dead.clone())).unwrap();
    j.create_run(&new_run("r-live", Owner::current())).unwrap();
    j.create_run(&new_run("r-done", dead.clone())).unwrap();
    j.set_state(
        &RunId::from("r-done"),
        RunState::Succeeded,
        None,
        Some(&json!(1)),
    );
    j.flush().unwrap();

    let marked = j.mark_interrupted_runs().unwrap();
    assert_eq!(marked, vec![RunId::from("r-dead")]);
    let row = j.load_run(&RunId::from("r-dead")).unwrap().unwrap();
    assert_eq!(row.state, RunState::Interrupted);
    assert!(row.error.unwrap().contains("odw resume r-dead"));
    assert_eq!(row.finished_ms, Some(row.heartbeat_ms));
    let live = j.load_run(&RunId::from("r-live")).unwrap().unwrap();
    assert_eq!(live.state, RunState::Running);
    // A second sweep finds nothing new.
    assert!(j.mark_interrupted_runs().unwrap().is_empty());
}

/// The host part of an owner string, so fakes look like this machine's processes.
fn hostname_of(owner: &Owner) -> String {
    let s = owner.as_str();
    let at = s.find('@').unwrap();
    let colon = s.rfind(':').unwrap();
    s[at + 1..colon].to_string()
}

#[test]
fn claims_respect_live_owners_and_succeeded_runs() {
    let (_dir, j) = temp_journal();
    let host = hostname_of(&Owner::current());
    let someone_else = Owner::new(dead_pid(), &host, 1);

    // Our own live process holds r-live: another owner is refused, we may re-claim.
    j.create_run(&new_run("r-live", Owner::current())).unwrap();
    let err = j
        .claim_run(&RunId::from("r-live"), &someone_else)
        .unwrap_err();
    match &err {
        JournalError::LiveElsewhere { owner, .. } => assert_eq!(owner, Owner::current().as_str()),
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("odw resume r-live"), "{err}");
    j.claim_run(&RunId::from("r-live"), &Owner::current())
        .unwrap();

    // A dead owner's run can be taken over and reset for a resume with a bigger budget.
    j.create_run(&new_run("r-crashed", someone_else.clone()))
        .unwrap();
    j.set_state(
        &RunId::from("r-crashed"),
        RunState::Interrupted,
        Some("died"),
        None,
    );
    let bigger = Budget {
        tokens: None,
        usd: Some(10.0),
    };
    j.reset_run_for_resume(&RunId::from("r-crashed"), &Owner::current(), Some(&bigger))
        .unwrap();
    let row = j.load_run(&RunId::from("r-crashed")).unwrap().unwrap();
    assert_eq!(row.state, RunState::Running);
    assert_eq!(row.owner, Some(Owner::current()));
    assert_eq!(row.budget, bigger);
    assert_eq!((row.error, row.finished_ms), (None, None));

    // A stale heartbeat frees even a live owner's running run.
    let stale = now_ms() - HEARTBEAT_STALE_MS - 1;
    Connection::open(j.path())
        .unwrap()
        .execute(
            "UPDATE runs SET heartbeat_ms = ?1 WHERE run_id = 'r-live'",
            [stale as i64],
        )
        .unwrap();
    j.claim_run(&RunId::from("r-live"), &someone_else).unwrap();
    // The old owner's heartbeats no longer count.
    j.heartbeat(&RunId::from("r-live"), &Owner::current());
    j.flush().unwrap();
    let row = j.load_run(&RunId::from("r-live")).unwrap().unwrap();
    assert_eq!(row.owner, Some(someone_else));

    j.set_state(
        &RunId::from("r-crashed"),
        RunState::Succeeded,
        None,
        Some(&json!("done")),
    );
    let err = j
        .reset_run_for_resume(&RunId::from("r-crashed"), &Owner::current(), None)
        .unwrap_err();
    assert!(matches!(err, JournalError::AlreadySucceeded(_)), "{err}");
    assert!(err.to_string().contains("odw show r-crashed"), "{err}");

    let err = j
        .claim_run(&RunId::from("r-missing"), &Owner::current())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "run r-missing not found: list runs with `odw runs`"
    );
}

#[test]
fn lock_errors_name_the_live_process_running_a_run() {
    let (_dir, j) = temp_journal();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = owner::process_start_time(pid).unwrap_or(0);
    let holder = Owner::new(pid, &hostname_of(&Owner::current()), start);
    j.create_run(&new_run("r-held", holder)).unwrap();

    let conn = Connection::open(j.path()).unwrap();
    let locked = JournalError::Locked {
        path: j.path().to_path_buf(),
        holder: None,
    };
    let err = schema::with_holder(&conn, locked);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        matches!(err, JournalError::Locked { holder: Some(p), .. } if p == pid),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("another odw process (pid {pid})")),
        "{err}"
    );
}
