//! Queries on the read connection. They see committed data only: call `Journal::flush` first
//! to read your own queued writes.

use super::error::JournalError;
use super::owner::Owner;
use super::types::{
    CachedCall, CallKey, CallRow, CallStatus, Checkpoint, NondetValue, RunRow, Trace,
    parse_error_code, to_i64, to_u64,
};
use odw_protocol::{Budget, EventKind, RunEvent, RunId, RunState, Usage};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The columns `run_from_row` expects, in order. Usage is the run's across all its
/// executions: the totals an execution wrote when it ended, or, for a run whose process died
/// before that (or a resume that counted only its own calls), what its recorded calls add up
/// to, whichever is larger.
const RUN_COLUMNS: &str = "run_id, script_path, script_text, dialect, args, cwd, config, \
     model_map, budget_tokens, budget_usd, dry_run, state, error, result, owner, heartbeat_ms, \
     created_ms, started_ms, finished_ms, \
     max(agents, (SELECT count(*) FROM calls c WHERE c.run_id = runs.run_id \
         AND c.status != 'running')), \
     max(requests, (SELECT coalesce(sum(attempts), 0) FROM calls c WHERE c.run_id = runs.run_id)), \
     max(tokens_in, (SELECT coalesce(sum(tokens_in), 0) FROM calls c WHERE c.run_id = runs.run_id) \
         + (SELECT coalesce(sum(s.tokens_in), 0) FROM steps s JOIN calls c USING (run_id, identity, occurrence) \
            WHERE s.run_id = runs.run_id AND c.status = 'running')), \
     max(tokens_out, (SELECT coalesce(sum(tokens_out), 0) FROM calls c \
         WHERE c.run_id = runs.run_id) \
         + (SELECT coalesce(sum(s.tokens_out), 0) FROM steps s JOIN calls c USING (run_id, identity, occurrence) \
            WHERE s.run_id = runs.run_id AND c.status = 'running')), \
     max(cost_usd, (SELECT coalesce(sum(cost_usd), 0.0) FROM calls c WHERE c.run_id = runs.run_id) \
         + (SELECT coalesce(sum(s.cost_usd), 0.0) FROM steps s JOIN calls c USING (run_id, identity, occurrence) \
            WHERE s.run_id = runs.run_id AND c.status = 'running')), \
     cached, failed, cancelled";

/// Columns as read, before JSON and enums are decoded (decoding needs the path for errors,
/// which a rusqlite row closure cannot return).
struct RawRun {
    run_id: String,
    script_path: String,
    script_text: String,
    dialect: String,
    args: String,
    cwd: String,
    config: String,
    model_map: String,
    budget_tokens: Option<i64>,
    budget_usd: Option<f64>,
    dry_run: bool,
    state: String,
    error: Option<String>,
    result: Option<String>,
    owner: Option<String>,
    heartbeat_ms: i64,
    created_ms: i64,
    started_ms: i64,
    finished_ms: Option<i64>,
    usage: [i64; 4],
    cost_usd: f64,
    cached: i64,
    failed: i64,
    cancelled: i64,
}

fn raw_run(r: &Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        run_id: r.get(0)?,
        script_path: r.get(1)?,
        script_text: r.get(2)?,
        dialect: r.get(3)?,
        args: r.get(4)?,
        cwd: r.get(5)?,
        config: r.get(6)?,
        model_map: r.get(7)?,
        budget_tokens: r.get(8)?,
        budget_usd: r.get(9)?,
        dry_run: r.get(10)?,
        state: r.get(11)?,
        error: r.get(12)?,
        result: r.get(13)?,
        owner: r.get(14)?,
        heartbeat_ms: r.get(15)?,
        created_ms: r.get(16)?,
        started_ms: r.get(17)?,
        finished_ms: r.get(18)?,
        usage: [r.get(19)?, r.get(20)?, r.get(21)?, r.get(22)?],
        cost_usd: r.get(23)?,
        cached: r.get(24)?,
        failed: r.get(25)?,
        cancelled: r.get(26)?,
    })
}

fn json(path: &Path, what: &'static str, text: &str) -> Result<Value, JournalError> {
    crate::json::parse(text).map_err(|e| JournalError::bad_data(path, what, e))
}

impl RawRun {
    fn decode(self, path: &Path) -> Result<RunRow, JournalError> {
        let state = RunState::parse(&self.state)
            .ok_or_else(|| JournalError::bad_data(path, "run state", &self.state))?;
        let [agents, requests, tokens_in, tokens_out] = self.usage.map(to_u64);
        Ok(RunRow {
            run_id: RunId::from(self.run_id),
            script_path: PathBuf::from(self.script_path),
            script_text: self.script_text,
            dialect: self.dialect,
            args: json(path, "run args", &self.args)?,
            cwd: PathBuf::from(self.cwd),
            config: json(path, "config snapshot", &self.config)?,
            model_map: json(path, "model map", &self.model_map)?,
            budget: Budget {
                tokens: self.budget_tokens.map(to_u64),
                usd: self.budget_usd,
            },
            dry_run: self.dry_run,
            state,
            error: self.error,
            result: self
                .result
                .map(|r| json(path, "run result", &r))
                .transpose()?,
            owner: self.owner.map(Owner::from_string),
            heartbeat_ms: to_u64(self.heartbeat_ms),
            created_ms: to_u64(self.created_ms),
            started_ms: to_u64(self.started_ms),
            finished_ms: self.finished_ms.map(to_u64),
            usage: Usage {
                agents,
                requests,
                tokens_in,
                tokens_out,
                cost_usd: self.cost_usd,
                cached: to_u64(self.cached),
                failed: to_u64(self.failed),
                cancelled: to_u64(self.cancelled),
            },
        })
    }
}

/// A run's recorded state alone, or `None` when the id is unknown: cheap, unlike
/// [`load_run`], whose usage sums every call of the run.
pub(super) fn load_state(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
) -> Result<Option<RunState>, JournalError> {
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM runs WHERE run_id = ?1")
        .and_then(|mut st| st.query_row([&run_id.0], |r| r.get(0)).optional())
        .map_err(|e| JournalError::sqlite(path, e))?;
    state
        .map(|s| RunState::parse(&s).ok_or_else(|| JournalError::bad_data(path, "run state", &s)))
        .transpose()
}

/// One run, or `None` when the id is unknown.
pub(super) fn load_run(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
) -> Result<Option<RunRow>, JournalError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1");
    let raw = conn
        .prepare_cached(&sql)
        .and_then(|mut st| st.query_row([&run_id.0], raw_run).optional())
        .map_err(|e| JournalError::sqlite(path, e))?;
    raw.map(|r| r.decode(path)).transpose()
}

/// The newest `limit` runs, newest first.
pub(super) fn list_runs(
    conn: &Connection,
    path: &Path,
    limit: usize,
) -> Result<Vec<RunRow>, JournalError> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY created_ms DESC, run_id DESC LIMIT ?1");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let raws = conn
        .prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_map([limit], raw_run)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| JournalError::sqlite(path, e))?;
    raws.into_iter().map(|r| r.decode(path)).collect()
}

fn cached_call(
    path: &Path,
    result: &str,
    row: (i64, i64, f64),
) -> Result<CachedCall, JournalError> {
    Ok(CachedCall {
        result: json(path, "call result", result)?,
        tokens_in: to_u64(row.0),
        tokens_out: to_u64(row.1),
        cost_usd: row.2,
    })
}

/// The result of one succeeded call, if there is one.
pub(super) fn finished_call(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
    identity: &str,
    occurrence: u32,
) -> Result<Option<CachedCall>, JournalError> {
    let row = conn
        .prepare_cached(
            "SELECT result, tokens_in, tokens_out, cost_usd FROM calls \
             WHERE run_id = ?1 AND identity = ?2 AND occurrence = ?3 AND status = 'succeeded' \
             ORDER BY rowid LIMIT 1",
        )
        .and_then(|mut st| {
            st.query_row(params![run_id.0, identity, occurrence], |r| {
                Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })
            .optional()
        })
        .map_err(|e| JournalError::sqlite(path, e))?;
    row.map(|(result, usage)| cached_call(path, &result, usage))
        .transpose()
}

/// Every succeeded call of a run in one query, keyed by identity and occurrence. A call has
/// one row (the writer sees to it); should two processes ever have recorded one twice, the
/// first success is its result.
pub(super) fn load_finished_calls(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
) -> Result<HashMap<CallKey, CachedCall>, JournalError> {
    let mut st = conn
        .prepare_cached(
            "SELECT identity, occurrence, result, tokens_in, tokens_out, cost_usd FROM calls \
             WHERE run_id = ?1 AND status = 'succeeded' ORDER BY rowid",
        )
        .map_err(|e| JournalError::sqlite(path, e))?;
    let mut rows = st
        .query([&run_id.0])
        .map_err(|e| JournalError::sqlite(path, e))?;
    let mut out = HashMap::new();
    // Decoding row by row avoids holding every result twice (as text and as JSON).
    while let Some(r) = rows.next().map_err(|e| JournalError::sqlite(path, e))? {
        let read = || -> rusqlite::Result<_> {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                (r.get(3)?, r.get(4)?, r.get(5)?),
            ))
        };
        let (identity, occurrence, usage) = read().map_err(|e| JournalError::sqlite(path, e))?;
        let result = r
            .get_ref(2)
            .and_then(|v| v.as_str().map_err(Into::into))
            .map_err(|e| JournalError::sqlite(path, e))?;
        if let std::collections::hash_map::Entry::Vacant(slot) =
            out.entry((identity.into(), occurrence))
        {
            slot.insert(cached_call(path, result, usage)?);
        }
    }
    Ok(out)
}

/// Every call of a run in call order, for display. There is no index on `call_seq`: sorting
/// one run's calls here is cheaper than maintaining an index on every insert.
pub(super) fn load_calls(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
) -> Result<Vec<CallRow>, JournalError> {
    type Raw = (CallRow, String, Option<String>, Option<String>);
    let raws: Vec<Raw> = conn
        .prepare_cached(
            "SELECT call_seq, identity, occurrence, label, phase, model, status, result, \
             error_code, error, tokens_in, tokens_out, cost_usd, attempts, started_ms, \
             finished_ms FROM calls WHERE run_id = ?1 ORDER BY rowid",
        )
        .and_then(|mut st| {
            st.query_map([&run_id.0], |r| {
                let row = CallRow {
                    call_seq: to_u64(r.get(0)?),
                    identity: r.get(1)?,
                    occurrence: r.get(2)?,
                    label: r.get(3)?,
                    phase: r.get(4)?,
                    model: r.get(5)?,
                    status: CallStatus::Running,
                    result: None,
                    error_code: None,
                    error: r.get(9)?,
                    tokens_in: to_u64(r.get(10)?),
                    tokens_out: to_u64(r.get(11)?),
                    cost_usd: r.get(12)?,
                    attempts: r.get(13)?,
                    started_ms: r.get::<_, Option<i64>>(14)?.map(to_u64),
                    finished_ms: r.get::<_, Option<i64>>(15)?.map(to_u64),
                };
                Ok((row, r.get(6)?, r.get(7)?, r.get(8)?))
            })?
            .collect()
        })
        .map_err(|e| JournalError::sqlite(path, e))?;
    let mut rows: Vec<CallRow> = Vec::with_capacity(raws.len());
    // One row per call: should a call have two (two processes wrote it), its first success
    // or else its latest row.
    let mut at: HashMap<CallKey, usize> = HashMap::new();
    for (mut row, status, result, code) in raws {
        row.status = CallStatus::parse(&status)
            .ok_or_else(|| JournalError::bad_data(path, "call status", &status))?;
        row.result = result.map(|r| json(path, "call result", &r)).transpose()?;
        row.error_code = code.as_deref().and_then(parse_error_code);
        match at.entry((row.identity.as_str().into(), row.occurrence)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(rows.len());
                rows.push(row);
            }
            std::collections::hash_map::Entry::Occupied(slot) => {
                let kept = &mut rows[*slot.get()];
                if kept.status != CallStatus::Succeeded {
                    *kept = row;
                }
            }
        }
    }
    rows.sort_by(|a, b| {
        (a.call_seq, &a.identity, a.occurrence).cmp(&(b.call_seq, &b.identity, b.occurrence))
    });
    Ok(rows)
}

/// The run's events with `seq > after_seq`, in order. Events this build cannot decode (from a
/// newer odw) are skipped with a warning rather than hiding the rest.
pub(super) fn load_events(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
    after_seq: u64,
) -> Result<Vec<RunEvent>, JournalError> {
    let chunks: Vec<String> = conn
        .prepare_cached(
            // The chunks after `after_seq`, and the one it falls in: index seeks only.
            "SELECT events FROM event_chunks WHERE run_id = ?1 AND first_seq >= \
             COALESCE((SELECT first_seq FROM event_chunks WHERE run_id = ?1 AND first_seq <= ?2 \
             ORDER BY first_seq DESC LIMIT 1), 0) ORDER BY first_seq",
        )
        .and_then(|mut st| {
            st.query_map(params![run_id.0, to_i64(after_seq)], |r| r.get(0))?
                .collect()
        })
        .map_err(|e| JournalError::sqlite(path, e))?;
    let mut events = Vec::new();
    for chunk in chunks {
        // Each event is `[seq, time_ms, kind, payload]`; written by `events::write`.
        let rows: Vec<(u64, u64, String, Value)> = serde_json::from_str(&chunk)
            .map_err(|e| JournalError::bad_data(path, "event chunk", e))?;
        for (seq, time_ms, _kind, payload) in rows {
            if seq <= after_seq {
                continue;
            }
            match EventKind::deserialize(payload) {
                Ok(kind) => events.push(RunEvent {
                    run_id: run_id.clone(),
                    seq,
                    time_ms,
                    kind,
                }),
                Err(e) => {
                    tracing::warn!(run = %run_id, seq, "skipping an unreadable journal event: {e}");
                }
            }
        }
    }
    Ok(events)
}

/// The highest event seq of a run: its chunks are in seq order, so the last chunk by the
/// `(run_id, first_seq)` index ends with it (`MAX(last_seq)` would read every chunk).
const LAST_SEQ: &str = "SELECT COALESCE((SELECT last_seq FROM event_chunks \
     WHERE run_id = ?1 ORDER BY first_seq DESC LIMIT 1), 0)";

/// The highest event seq of a run, 0 when it has none: a resume continues after it.
pub(super) fn last_event_seq(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
) -> Result<u64, JournalError> {
    last_seq(conn, run_id).map_err(|e| JournalError::sqlite(path, e))
}

/// [`last_event_seq`] with SQLite's error, for the writer.
pub(super) fn last_seq(conn: &Connection, run_id: &RunId) -> rusqlite::Result<u64> {
    conn.prepare_cached(LAST_SEQ)?
        .query_row([&run_id.0], |r| r.get::<_, i64>(0))
        .map(to_u64)
}

/// The run's checkpoints in seq order.
pub(super) fn load_checkpoints(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
) -> Result<Vec<Checkpoint>, JournalError> {
    let rows: Vec<(i64, String, String, i64)> = conn
        .prepare_cached(
            "SELECT seq, name, data, time_ms FROM checkpoints WHERE run_id = ?1 ORDER BY seq",
        )
        .and_then(|mut st| {
            st.query_map([&run_id.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })
        .map_err(|e| JournalError::sqlite(path, e))?;
    rows.into_iter()
        .map(|(seq, name, data, time_ms)| {
            Ok(Checkpoint {
                run_id: run_id.clone(),
                seq: to_u64(seq),
                name,
                data: json(path, "checkpoint data", &data)?,
                time_ms: to_u64(time_ms),
            })
        })
        .collect()
}

/// The run's recorded nondeterministic values in seq order, as `(kind, value)`.
pub(super) fn load_nondeterminism(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
) -> Result<Vec<(String, NondetValue)>, JournalError> {
    let mut st = conn
        .prepare_cached("SELECT kind, value FROM nondeterminism WHERE run_id = ?1 ORDER BY seq")
        .map_err(|e| JournalError::sqlite(path, e))?;
    let rows = st
        .query_map([&run_id.0], |r| {
            let value = match r.get_ref(1)? {
                ValueRef::Real(f) => NondetValue::Number(f),
                // Whole numbers may come back as integers (e.g. written by another tool).
                ValueRef::Integer(i) => NondetValue::Number(i as f64),
                other => NondetValue::Text(String::from_utf8_lossy(other.as_bytes()?).into()),
            };
            Ok((r.get::<_, String>(0)?, value))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| JournalError::sqlite(path, e))?;
    Ok(rows)
}

/// `PRAGMA integrity_check`: `"ok"` when the database is sound, otherwise the problems found.
pub(super) fn integrity_check(conn: &Connection, path: &Path) -> Result<String, JournalError> {
    let lines: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| JournalError::sqlite(path, e))?;
    Ok(lines.join("\n"))
}

/// Every recorded tool-loop step of a run, by call.
pub(super) fn load_traces(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
) -> Result<HashMap<CallKey, Trace>, JournalError> {
    let sql = |e| JournalError::sqlite(path, e);
    let mut st = conn
        .prepare_cached(
            "SELECT identity, occurrence, turn, idx, output FROM steps WHERE run_id = ?1",
        )
        .map_err(sql)?;
    let rows = st
        .query_map([&run_id.0], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(sql)?;
    let mut out: HashMap<CallKey, Trace> = HashMap::new();
    for row in rows {
        let (identity, occurrence, turn, idx, output) = row.map_err(sql)?;
        let output = output
            .map(|text| json(path, "step output", &text))
            .transpose()?;
        let trace = out.entry((identity.into(), occurrence)).or_default();
        match (u32::try_from(idx), output) {
            (Ok(i), output) => {
                trace.tools.insert((turn, i), output);
            }
            (Err(_), Some(reply)) => {
                trace.replies.insert(turn, reply);
            }
            (Err(_), None) => {}
        }
    }
    Ok(out)
}
