//! The watchdog of a worker process: it kills the worker (its whole process group)
//! when a batch overruns its deadline (`--timeout`).

use std::process::Child;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Kills a worker whose batch overran its deadline (`--timeout`).
pub(crate) struct Watchdog {
    state: Mutex<DogState>,
    cv: Condvar,
}

#[derive(Default)]
struct DogState {
    deadline: Option<Instant>,
    fired: bool,
    quit: bool,
}

impl Watchdog {
    pub(crate) fn start(child: Arc<Mutex<Child>>) -> Arc<Watchdog> {
        let dog = Arc::new(Watchdog {
            state: Mutex::new(DogState::default()),
            cv: Condvar::new(),
        });
        let d = dog.clone();
        std::thread::spawn(move || {
            let mut s = d.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if s.quit {
                    return;
                }
                match s.deadline {
                    None => s = d.cv.wait(s).unwrap_or_else(|e| e.into_inner()),
                    Some(at) => {
                        let now = Instant::now();
                        if now >= at {
                            // Killed while the lock is held: `disarm` cannot return
                            // before this, so the host never reaps a worker and then
                            // kills another process.
                            crate::host::kill_group(
                                &mut child.lock().unwrap_or_else(|e| e.into_inner()),
                            );
                            s.fired = true;
                            s.deadline = None;
                        } else {
                            s =
                                d.cv.wait_timeout(s, at - now)
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0;
                        }
                    }
                }
            }
        });
        dog
    }

    pub(crate) fn arm(&self, deadline: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deadline = Some(deadline);
        self.cv.notify_all();
    }

    /// Nothing in flight: no deadline, and a kill already done still reported.
    pub(crate) fn pause(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deadline = None;
        self.cv.notify_all();
    }

    /// Disarms; returns whether the watchdog killed the worker.
    pub(crate) fn disarm(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deadline = None;
        self.cv.notify_all();
        std::mem::take(&mut s.fired)
    }

    pub(crate) fn quit(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.quit = true;
        self.cv.notify_all();
    }
}
