//! Events on their way to the writer: serialized once, by the thread that emits them, straight
//! into the JSON of their run's next `event_chunks` row.
//!
//! An event used to travel as a queued write of its own (its payload in a new string, its run
//! id cloned) that the writer then copied into the chunk and a runtime thread freed: about
//! seven allocations per agent in a 10,000-agent fan-out, and as many copies. Now each run has
//! one buffer in the writer's queue; the writer takes the buffers with the batch they belong
//! to and gives them back emptied, so in a steady run an event allocates nothing.

use super::types::to_i64;
use odw_protocol::{RunEvent, RunId};
use rusqlite::{Connection, params};
use serde::Deserialize;
use std::cell::RefCell;
use std::io::Write as _;

/// One run's events of one batch.
pub(crate) struct RunEvents {
    pub(crate) run_id: RunId,
    first: u64,
    last: u64,
    /// `[` and then `[seq,time_ms,"kind",payload]` items separated by commas: the chunk
    /// without its closing bracket, which the writer adds to insert it as it is. Empty when
    /// the buffer is spare.
    json: Vec<u8>,
    /// Events refused (a seq not above the previous one), as messages for the next flush.
    refused: Vec<String>,
    count: usize,
}

impl RunEvents {
    /// The events in the chunk.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    fn is_empty(&self) -> bool {
        self.json.is_empty() && self.refused.is_empty()
    }
}

/// The buffers of the queue: the runs with events waiting, and emptied ones to reuse.
#[derive(Default)]
pub(crate) struct EventBuffers {
    runs: Vec<RunEvents>,
    spare: Vec<RunEvents>,
    /// Events waiting, for the writer's batch-size rule.
    pub(crate) count: usize,
}

impl EventBuffers {
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Adds `item` (one serialized event, see [`serialize`]) to its run's chunk; an event
    /// whose seq is not above the last one queued for its run is refused.
    pub(crate) fn push(&mut self, event: &RunEvent, item: &[u8]) {
        let run = match self.runs.iter().position(|r| r.run_id == event.run_id) {
            Some(i) => &mut self.runs[i],
            None => {
                // A spare buffer of the same run keeps its id: no clone.
                let buffer = match self.spare.iter().position(|r| r.run_id == event.run_id) {
                    Some(i) => self.spare.swap_remove(i),
                    None => match self.spare.pop() {
                        Some(mut spare) => {
                            spare.run_id.clone_from(&event.run_id);
                            spare
                        }
                        None => RunEvents {
                            run_id: event.run_id.clone(),
                            first: 0,
                            last: 0,
                            json: Vec::with_capacity(4096),
                            refused: Vec::new(),
                            count: 0,
                        },
                    },
                };
                self.runs.push(buffer);
                self.runs.last_mut().expect("just pushed")
            }
        };
        if !run.json.is_empty() && event.seq <= run.last {
            run.refused.push(format!(
                "event {} ({}) of run {}: seq {} is already recorded",
                event.seq,
                event.kind.name(),
                event.run_id,
                event.seq
            ));
            return;
        }
        if run.json.is_empty() {
            run.first = event.seq;
            run.json.push(b'[');
        } else {
            run.json.push(b',');
        }
        run.json.extend_from_slice(item);
        run.last = event.seq;
        run.count += 1;
        self.count += 1;
    }

    /// Takes every run's events, for the writer.
    pub(crate) fn take(&mut self, into: &mut Vec<RunEvents>) {
        self.count = 0;
        std::mem::swap(&mut self.runs, into);
    }

    /// Keeps the writer's emptied buffers for the next events.
    pub(crate) fn give_back(&mut self, spent: &mut Vec<RunEvents>) {
        for mut run in spent.drain(..) {
            run.json.clear();
            run.refused.clear();
            run.count = 0;
            // A buffer a burst made huge is not worth keeping.
            if run.json.capacity() <= 1 << 20 {
                self.spare.push(run);
            }
        }
    }
}

/// Serializes `event` as one chunk item, `[seq,time_ms,"kind",payload]`, into a buffer this
/// thread reuses, and hands it to `f`.
pub(crate) fn serialize<T>(
    event: &RunEvent,
    f: impl FnOnce(&[u8]) -> T,
) -> Result<T, serde_json::Error> {
    thread_local! {
        static ITEM: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    ITEM.with(|item| {
        let mut item = item.borrow_mut();
        item.clear();
        // Integers by `itoa` rather than `write!`: the formatting machinery cost more than the
        // rest of the prefix. `kind` is an event name from the protocol crate, a plain
        // identifier: no escaping.
        let mut n = itoa::Buffer::new();
        item.push(b'[');
        item.extend_from_slice(n.format(event.seq).as_bytes());
        item.push(b',');
        item.extend_from_slice(n.format(event.time_ms).as_bytes());
        item.extend_from_slice(b",\"");
        item.extend_from_slice(event.kind.name().as_bytes());
        item.extend_from_slice(b"\",");
        serde_json::to_writer(&mut *item, &event.kind)?;
        item.push(b']');
        let out = f(&item);
        if item.capacity() > 1 << 16 {
            *item = Vec::new();
        }
        Ok(out)
    })
}

/// Inserts each run's chunk; a failed insert loses that run's events of this batch and says
/// which. Events at or below the seq the journal already has for their run are refused one by
/// one (each event is recorded exactly once, in order).
pub(crate) fn write(conn: &Connection, runs: &mut [RunEvents], failed: &mut Vec<String>) {
    let mut kept = Vec::new();
    for run in runs.iter_mut().filter(|r| !r.is_empty()) {
        failed.append(&mut run.refused);
        if run.json.is_empty() {
            continue;
        }
        let (run_id, mut first, last) = (&run.run_id, run.first, run.last);
        let recorded = match super::read::last_seq(conn, run_id) {
            Ok(seq) => seq,
            Err(e) => {
                failed.push(format!("events {first} to {last} of run {run_id}: {e}"));
                continue;
            }
        };
        let chunk = if first > recorded {
            // The buffer is the chunk once closed; it is cleared when given back.
            run.json.push(b']');
            &run.json
        } else {
            // Practically never: another writer recorded some of these seqs. Keep the rest.
            kept.clear();
            kept.push(b'[');
            match keep_above(&run.json[1..], recorded, run_id, &mut kept, failed) {
                Some(seq) => first = seq,
                None => continue,
            }
            kept.push(b']');
            &kept
        };
        let inserted = conn
            .prepare_cached(
                "INSERT INTO event_chunks (run_id, first_seq, last_seq, events) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut st| {
                // serde_json wrote it (and `keep_above` re-wrote it): it is UTF-8 JSON text.
                let text = rusqlite::types::ValueRef::Text(chunk);
                st.execute(params![
                    run_id.0,
                    to_i64(first),
                    to_i64(last),
                    rusqlite::types::ToSqlOutput::Borrowed(text)
                ])
            });
        if let Err(e) = inserted {
            failed.push(match first == last {
                true => format!("event {first} of run {run_id}: {e}"),
                false => format!("events {first} to {last} of run {run_id}: {e}"),
            });
        }
    }
}

/// Copies the items of `json` whose seq is above `recorded` into `chunk`, refusing the others;
/// the first seq kept, or `None` when none is.
fn keep_above(
    json: &[u8],
    recorded: u64,
    run_id: &RunId,
    chunk: &mut Vec<u8>,
    failed: &mut Vec<String>,
) -> Option<u64> {
    #[derive(Deserialize)]
    struct Item(u64, u64, String, serde_json::Value);
    let mut array = Vec::with_capacity(json.len() + 2);
    array.push(b'[');
    array.extend_from_slice(json);
    array.push(b']');
    let items: Vec<Item> = match serde_json::from_slice(&array) {
        Ok(items) => items,
        Err(e) => {
            failed.push(format!("events of run {run_id}: unreadable chunk: {e}"));
            return None;
        }
    };
    let mut first = None;
    for Item(seq, time_ms, kind, payload) in items {
        if seq <= recorded {
            failed.push(format!(
                "event {seq} ({kind}) of run {run_id}: seq {seq} is already recorded"
            ));
            continue;
        }
        if first.is_some() {
            chunk.push(b',');
        }
        let _ = write!(chunk, "[{seq},{time_ms},\"{kind}\",{payload}]");
        first.get_or_insert(seq);
    }
    first
}
