//! The `tracing` feature: a span per run and per pool job, with the command
//! line (secrets redacted), pid, status and duration, read by a small
//! subscriber written here that keeps every span's fields.

#![cfg(feature = "tracing")]

mod support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use procession::{Pool, Retry};
use support::pt_cmd;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span as the subscriber saw it.
#[derive(Clone, Debug, Default)]
struct Seen {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
    /// References to it still held.
    refs: u64,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Collector {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, Seen>>,
}

thread_local! {
    /// The spans this thread is in, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let parent = if attrs.is_contextual() {
            ENTERED.with(|e| e.borrow().last().copied())
        } else {
            attrs.parent().map(Id::into_u64)
        };
        let mut seen = Seen {
            name: attrs.metadata().name(),
            parent,
            refs: 1,
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        self.spans.lock().unwrap().insert(id, seen);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, _: &Id) {
        ENTERED.with(|e| e.borrow_mut().pop());
    }

    fn clone_span(&self, id: &Id) -> Id {
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            seen.refs += 1;
        }
        id.clone()
    }

    fn try_close(&self, id: Id) -> bool {
        let mut spans = self.spans.lock().unwrap();
        match spans.get_mut(&id.into_u64()) {
            Some(seen) => {
                seen.refs -= 1;
                seen.refs == 0
            }
            None => false,
        }
    }
}

/// The process's subscriber (spans open on the pool's threads too).
fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let collector: &'static Collector = Box::leak(Box::default());
        tracing::subscriber::set_global_default(Forward(collector))
            .expect("no other subscriber in this test binary");
        collector
    })
}

/// The subscriber, by reference.
struct Forward(&'static Collector);

impl Subscriber for Forward {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &Attributes<'_>) -> Id {
        self.0.new_span(a)
    }
    fn record(&self, s: &Id, v: &Record<'_>) {
        self.0.record(s, v)
    }
    fn record_follows_from(&self, s: &Id, f: &Id) {
        self.0.record_follows_from(s, f)
    }
    fn event(&self, e: &Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, s: &Id) {
        self.0.enter(s)
    }
    fn exit(&self, s: &Id) {
        self.0.exit(s)
    }
    fn clone_span(&self, s: &Id) -> Id {
        self.0.clone_span(s)
    }
    fn try_close(&self, s: Id) -> bool {
        self.0.try_close(s)
    }
}

/// The spans named `name` whose command mentions `marker`, by id.
fn spans(name: &str, marker: &str) -> Vec<(u64, Seen)> {
    let spans = collector().spans.lock().unwrap();
    let mut found: Vec<(u64, Seen)> = spans
        .iter()
        .filter(|(_, s)| s.name == name && s.field("command").is_some_and(|c| c.contains(marker)))
        .map(|(id, s)| (*id, s.clone()))
        .collect();
    found.sort_by_key(|(id, _)| *id);
    found
}

#[test]
fn a_run_has_a_span_with_its_command_pid_status_and_duration() {
    collector();
    let ok = pt_cmd(&["echo", "run-ok"])
        .arg_secret("hunter2")
        .stdout_capture()
        .run()
        .unwrap();
    let failed = pt_cmd(&["fail", "3", "run-failed"]).stderr_null().run();

    let runs = spans("run", "run-ok");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run = &runs[0].1;
    let command = run.field("command").unwrap();
    assert!(command.ends_with("echo run-ok '***'"), "{run:#?}");
    assert!(!command.contains("hunter2"), "{run:#?}");
    let pid = ok.stages[0].pid.to_string();
    assert_eq!(run.field("pid"), Some(pid.as_str()), "{run:#?}");
    assert_eq!(run.field("status"), Some("exited with code 0"), "{run:#?}");
    assert_eq!(run.field("code"), Some("0"), "{run:#?}");
    let elapsed: f64 = run.field("elapsed_ms").unwrap().parse().unwrap();
    assert!(elapsed > 0.0, "{run:#?}");
    assert_eq!(run.refs, 0, "the span is closed: {run:#?}");

    let error = failed.unwrap_err().to_string();
    let runs = spans("run", "run-failed");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run = &runs[0].1;
    assert_eq!(run.field("code"), Some("3"), "{run:#?}");
    assert_eq!(run.field("error"), Some(error.as_str()), "{run:#?}");
    assert_eq!(run.refs, 0, "the span is closed: {run:#?}");
}

#[test]
fn a_pool_job_has_a_span_with_its_runs_as_children() {
    collector();
    let caller = tracing::info_span!("caller");
    let pool = Pool::builder().jobs(2).retry(Retry::attempts(2)).build();
    let done: Vec<_> = caller.in_scope(|| {
        pool.map([
            pt_cmd(&["echo", "job-ok"]).stdout_null(),
            pt_cmd(&["fail", "4", "job-failed"]).stderr_null(),
        ])
        .collect()
    });
    drop(pool);

    let caller_id = caller.id().unwrap().into_u64();
    let jobs = spans("pool_job", "job-ok");
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let (id, job) = &jobs[0];
    assert_eq!(job.parent, Some(caller_id), "{job:#?}");
    assert_eq!(job.field("seq"), Some("1"), "{job:#?}");
    assert_eq!(job.field("attempts"), Some("1"), "{job:#?}");
    assert_eq!(job.field("status"), Some("exited with code 0"), "{job:#?}");
    let slot = done[0].slot().to_string();
    assert_eq!(job.field("slot"), Some(slot.as_str()), "{job:#?}");
    let pid = done[0].output().unwrap().stages[0].pid.to_string();
    assert_eq!(job.field("pid"), Some(pid.as_str()), "{job:#?}");
    assert!(job.field("elapsed_ms").is_some(), "{job:#?}");
    assert_eq!(job.refs, 0, "the span is closed: {job:#?}");
    let runs = spans("run", "job-ok");
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].1.parent, Some(*id), "{runs:#?}");

    // A retried job: one span, a run span per attempt under it.
    let jobs = spans("pool_job", "job-failed");
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let (id, job) = &jobs[0];
    assert_eq!(job.field("seq"), Some("2"), "{job:#?}");
    assert_eq!(job.field("attempts"), Some("2"), "{job:#?}");
    assert_eq!(job.field("code"), Some("4"), "{job:#?}");
    assert!(job.field("error").is_some(), "{job:#?}");
    assert_eq!(job.refs, 0, "the span is closed: {job:#?}");
    let runs = spans("run", "job-failed");
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(runs.iter().all(|(_, r)| r.parent == Some(*id)), "{runs:#?}");
}
