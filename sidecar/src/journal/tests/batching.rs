//! Group commit under load, concurrent readers, async flush and shutdown.

use super::*;

#[test]
fn ten_thousand_calls_batch_and_load_in_one_query() {
    const N: u32 = 10_000;
    let (_dir, j) = temp_journal();
    let id = RunId::from("r-big");
    j.create_run(&new_run("r-big", Owner::current())).unwrap();

    let started = Instant::now();
    let mut seq = 0;
    let mut usage = Usage::default();
    for i in 0..N {
        let identity = format!("{:064x}", u64::from(i) * 7919);
        j.call_started(CallStart {
            run_id: id.clone(),
            call_seq: u64::from(i) + 1,
            identity: identity.as_str().into(),
            occurrence: i % 3,
            label: format!("item {i}").into(),
            phase: Some("map".into()),
            model: "claude-haiku-4-5".into(),
            started_ms: now_ms(),
        });
        seq += 1;
        j.append_event(&event(
            "r-big",
            seq,
            EventKind::AgentStarted {
                call: u64::from(i) + 1,
                attempt: 1,
            },
        ));
        j.call_finished(succeeded(
            "r-big",
            &identity,
            i % 3,
            json!({"item": i, "verdict": "ok"}),
        ));
        seq += 1;
        j.append_event(&event(
            "r-big",
            seq,
            EventKind::AgentFinished {
                call: u64::from(i) + 1,
                label: format!("item {i}").into(),
                tokens_in: 100,
                tokens_out: 20,
                cost_usd: 0.001,
                duration_ms: 3,
            },
        ));
        usage.agents += 1;
        usage.tokens_in += 100;
        j.update_usage(&id, &usage);
    }
    let queued = started.elapsed();
    j.flush().unwrap();
    let committed = started.elapsed();

    let load = Instant::now();
    let finished = j.load_finished_calls(&id).unwrap();
    let loaded = load.elapsed();
    eprintln!(
        "journal batching: {N} calls (start + end + 2 events + usage each) queued in {queued:?}, \
         committed after {committed:?}; load_finished_calls of {} rows took {loaded:?}",
        finished.len()
    );
    assert_eq!(finished.len(), N as usize);
    let key = (format!("{:064x}", 42u64 * 7919).into(), 0);
    assert_eq!(finished[&key].result, json!({"item": 42, "verdict": "ok"}));
    assert_eq!(j.last_event_seq(&id).unwrap(), u64::from(N) * 2);
    // The run's usage is never below what its recorded calls add up to.
    let loaded = j.load_run(&id).unwrap().unwrap().usage;
    assert_eq!(
        (loaded.agents, loaded.tokens_in),
        (usage.agents, usage.tokens_in)
    );
    assert_eq!(
        (loaded.requests, loaded.tokens_out),
        (u64::from(N), u64::from(N) * 20)
    );
    assert!((loaded.cost_usd - 10.0).abs() < 1e-6, "{loaded:?}");
    assert_eq!(j.integrity_check().unwrap(), "ok");
}

#[test]
fn reads_run_concurrently_with_writes() {
    let (_dir, j) = temp_journal();
    let id = RunId::from("r-conc");
    j.create_run(&new_run("r-conc", Owner::current())).unwrap();

    let writer = {
        let j = j.clone();
        std::thread::spawn(move || {
            for seq in 1..=3_000u64 {
                j.append_event(&event(
                    "r-conc",
                    seq,
                    EventKind::Log {
                        level: "info".into(),
                        message: format!("line {seq}"),
                    },
                ));
                if seq % 500 == 0 {
                    j.flush().unwrap();
                }
            }
            j.flush().unwrap();
        })
    };
    // A second handle on the same file, as `odw show` in another process would have.
    let other = Journal::open(j.path()).unwrap();
    let mut last = 0;
    let mut reads = 0;
    // Bounded: a writer that died (or a read that stops advancing) fails the test, not hangs it.
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    while !writer.is_finished() || last < 3_000 {
        assert!(Instant::now() < deadline, "reads stuck at seq {last}");
        let writer_done = writer.is_finished();
        for journal in [&j, &other] {
            let seen = journal.last_event_seq(&id).unwrap();
            assert!(seen >= last, "events went backwards: {seen} < {last}");
            let events = journal.load_events(&id, 0).unwrap();
            assert!(events.len() as u64 >= seen);
            last = seen;
            reads += 1;
            assert!(
                !writer_done || last >= 3_000,
                "the writer stopped at seq {last} of 3000"
            );
        }
    }
    writer.join().unwrap();
    eprintln!("{reads} reads while writing 3000 events");
    assert_eq!(j.load_events(&id, 0).unwrap().len(), 3_000);
    assert_eq!(j.integrity_check().unwrap(), "ok");
}

#[tokio::test]
async fn flush_async_waits_without_blocking_the_runtime() {
    let (_dir, j) = temp_journal();
    let id = RunId::from("r-async");
    let setup = j.clone();
    tokio::task::spawn_blocking(move || setup.create_run(&new_run("r-async", Owner::current())))
        .await
        .unwrap()
        .unwrap();
    for seq in 1..=100 {
        j.append_event(&event(
            "r-async",
            seq,
            EventKind::PhaseStarted { phase: "p".into() },
        ));
    }
    j.flush_async().await.unwrap();
    assert_eq!(j.last_event_seq(&id).unwrap(), 100);
}

#[test]
fn dropping_the_last_handle_commits_queued_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odw.db");
    let j = Journal::open(&path).unwrap();
    j.create_run(&new_run("r-drop", Owner::current())).unwrap();
    for seq in 1..=50 {
        j.append_event(&event(
            "r-drop",
            seq,
            EventKind::PhaseStarted { phase: "p".into() },
        ));
    }
    drop(j);
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.last_event_seq(&RunId::from("r-drop")).unwrap(), 50);
}

#[test]
fn journal_is_shareable_across_threads() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Journal>();
}

#[test]
fn background_checkpoints_keep_the_wal_short_and_lose_nothing() {
    let (dir, j) = temp_journal();
    let id = RunId::from("r-ckpt");
    j.create_run(&new_run("r-ckpt", Owner::current())).unwrap();
    let wal = dir.path().join(".odw/odw.db-wal");
    let label = "x".repeat(400);
    let (rounds, per_round) = (8, checkpoint::EVERY_WRITES as u64 + 1);
    let mut seq = 0;
    for _ in 0..rounds {
        let before = j.checkpoints().0;
        for _ in 0..per_round {
            seq += 1;
            j.append_event(&event(
                "r-ckpt",
                seq,
                EventKind::AgentQueued {
                    call: seq,
                    label: label.as_str().into(),
                    model: "m".into(),
                    phase: None,
                },
            ));
        }
        j.flush().unwrap();
        // The round's writes are enough for a checkpoint; it runs on its own thread.
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while j.checkpoints().0 == before {
            assert!(Instant::now() < deadline, "no background checkpoint came");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    // Each round's first commit copies what the checkpoint left and the next one starts the
    // WAL over, so the file holds about one round of frames, not all eight.
    let written = seq * 450;
    let wal_len = std::fs::metadata(&wal).unwrap().len();
    assert!(
        wal_len < written / 3,
        "WAL is {wal_len} bytes after {written} bytes of events: it was never restarted"
    );
    drop(j);
    assert!(
        !wal.exists(),
        "the last connection to close removes the WAL"
    );
    let j = Journal::open(&dir.path().join(".odw/odw.db")).unwrap();
    let events = j.load_events(&id, 0).unwrap();
    assert_eq!(events.len() as u64, seq);
    assert!(events.iter().zip(1..).all(|(e, s)| e.seq == s));
}
