//! The live status of a run on stderr: on a terminal, a bar with the counts, the rate
//! and ETA, and below it the entities running longest and the last failure; not on a
//! terminal, a plain line every few seconds (`--progress plain`); or nothing
//! (`--progress none`).

use polyplug_engine::runner::Progress;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the status shows: counts, what each worker is computing, the last failure.
pub struct Status {
    started: Instant,
    total: Mutex<Option<u64>>,
    done: AtomicU64,
    failed: AtomicU64,
    /// Per busy worker: its batch's first entity, the batch's size, since when.
    running: Mutex<HashMap<usize, (String, usize, Instant)>>,
    last_failure: Mutex<Option<(String, String)>>,
}

impl Status {
    fn new() -> Status {
        Status {
            started: Instant::now(),
            total: Mutex::new(None),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            running: Mutex::new(HashMap::new()),
            last_failure: Mutex::new(None),
        }
    }

    /// The counts, the rate and the time left: `1234/10000 done, 3 failed, 57/s, 2:34 left`.
    fn counts(&self) -> String {
        let done = self.done.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let total = *self.total.lock().unwrap_or_else(|e| e.into_inner());
        let mut line = match total {
            Some(t) => format!("{done}/{t} done"),
            None => format!("{done} done"),
        };
        if failed > 0 {
            line.push_str(&format!(" ({failed} failed)"));
        }
        line.push_str(&format!(", {rate:.1}/s"));
        if let Some(t) = total.filter(|_| rate > 0.0) {
            let left = t.saturating_sub(done) as f64 / rate;
            line.push_str(&format!(", {} left", clock(left)));
        }
        line
    }

    /// The entities running longest and the last failure.
    fn details(&self) -> String {
        let mut parts = Vec::new();
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if !running.is_empty() {
            let mut slow: Vec<_> = running.values().collect();
            slow.sort_by_key(|(_, _, since)| *since);
            let shown: Vec<String> = slow
                .iter()
                .take(3)
                .map(|(id, n, since)| {
                    let more = if *n > 1 {
                        format!(" and {} more", n - 1)
                    } else {
                        String::new()
                    };
                    format!("{id}{more} ({})", clock(since.elapsed().as_secs_f64()))
                })
                .collect();
            parts.push(format!("running: {}", shown.join(", ")));
        }
        drop(running);
        if let Some((id, why)) = &*self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) {
            let why: String = why.chars().take(100).collect();
            parts.push(format!("last failure: {id}: {why}"));
        }
        parts.join("; ")
    }

    fn working(&self, worker: usize, first: &str, n: usize) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(worker, (first.to_string(), n, Instant::now()));
    }

    fn idle(&self, worker: usize) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(&worker);
    }
}

/// `m:ss`, or `h:mm:ss`.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", (s / 60) % 60, s % 60),
    }
}

/// The status on a terminal: an indicatif bar, and the details on the line below.
pub struct Bar {
    bar: indicatif::ProgressBar,
    status: Status,
}

impl Bar {
    /// A bar, drawn once the run says how many entities it has.
    pub fn new() -> Bar {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Bar {
            bar,
            status: Status::new(),
        }
    }

    fn refresh(&self) {
        self.bar.set_message(self.status.details());
    }
}

impl Progress for Bar {
    fn start(&self, total: Option<u64>) {
        *self.status.total.lock().unwrap_or_else(|e| e.into_inner()) = total;
        let template = match total {
            Some(n) => {
                self.bar.set_length(n);
                "{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {prefix}\n{wide_msg}"
            }
            None => "{spinner} {pos} [{elapsed_precise}, {per_sec}] {prefix}\n{wide_msg}",
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            self.bar.set_style(style);
        }
    }

    fn advance(&self, n: u64) {
        self.status.done.fetch_add(n, Ordering::Relaxed);
        self.bar.inc(n);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn working(&self, worker: usize, first: &str, n: usize) {
        self.status.working(worker, first, n);
        self.refresh();
    }

    fn idle(&self, worker: usize) {
        self.status.idle(worker);
        self.refresh();
    }

    fn failure(&self, entity: &str, message: &str) {
        let failed = self.status.failed.fetch_add(1, Ordering::Relaxed) + 1;
        *self
            .status
            .last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((entity.to_string(), message.to_string()));
        self.bar.set_prefix(format!("{failed} failed"));
        self.refresh();
    }
}

/// The status when stderr is not a terminal: `polyplug: progress: …` every `every`.
pub struct Plain {
    status: Arc<Status>,
    finished: Arc<(Mutex<bool>, Condvar)>,
    started: AtomicBool,
    every: Duration,
}

impl Plain {
    /// A line every `every`, from the start of the run to its end.
    pub fn new(every: Duration) -> Plain {
        Plain {
            status: Arc::new(Status::new()),
            finished: Arc::new((Mutex::new(false), Condvar::new())),
            started: AtomicBool::new(false),
            every,
        }
    }
}

impl Progress for Plain {
    fn start(&self, total: Option<u64>) {
        *self.status.total.lock().unwrap_or_else(|e| e.into_inner()) = total;
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let (status, finished, every) = (self.status.clone(), self.finished.clone(), self.every);
        let _ = std::thread::Builder::new()
            .name("polyplug-progress".into())
            .spawn(move || {
                let (lock, cv) = &*finished;
                let mut done = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let (guard, timeout) = cv
                        .wait_timeout(done, every)
                        .unwrap_or_else(|e| e.into_inner());
                    done = guard;
                    if *done {
                        return;
                    }
                    if timeout.timed_out() {
                        let details = status.details();
                        let mut line = format!("progress: {}", status.counts());
                        if !details.is_empty() {
                            line.push_str("; ");
                            line.push_str(&details);
                        }
                        crate::error(line);
                    }
                }
            });
    }

    fn advance(&self, n: u64) {
        self.status.done.fetch_add(n, Ordering::Relaxed);
    }

    fn finish(&self) {
        let (lock, cv) = &*self.finished;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    fn working(&self, worker: usize, first: &str, n: usize) {
        self.status.working(worker, first, n);
    }

    fn idle(&self, worker: usize) {
        self.status.idle(worker);
    }

    fn failure(&self, entity: &str, message: &str) {
        self.status.failed.fetch_add(1, Ordering::Relaxed);
        *self
            .status
            .last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((entity.to_string(), message.to_string()));
    }
}
