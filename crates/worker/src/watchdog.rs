//! The watchdog of a worker process: it kills the worker (its whole process group)
//! when a batch overruns its deadline (`--timeout`).

use std::process::Child;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Kills a worker whose batch overran its deadline (`--timeout`).
///
/// The host moves the deadline with every chunk it sends and every answer it gets,
/// thousands of times a second on a fast plugin; waking the watchdog's thread each
/// time cost a context switch per move. So the thread is woken only when it would
/// otherwise look too late: while armed it looks at least every [`LOOK`], and a
/// deadline earlier than its next look, or one set while it sleeps unarmed, wakes it.
pub(crate) struct Watchdog {
    state: Mutex<DogState>,
    cv: Condvar,
}

/// How often an armed watchdog looks at its deadline, at the longest.
const LOOK: Duration = Duration::from_millis(10);

#[derive(Default)]
struct DogState {
    deadline: Option<Instant>,
    fired: bool,
    quit: bool,
    /// When the thread looks next; `None` while it sleeps until armed.
    looks_at: Option<Instant>,
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
                    None => {
                        s.looks_at = None;
                        s = d.cv.wait(s).unwrap_or_else(|e| e.into_inner());
                    }
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
                            let look = at.min(now + LOOK);
                            s.looks_at = Some(look);
                            s =
                                d.cv.wait_timeout(s, look - now)
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
        if s.looks_at.is_none_or(|look| deadline < look) {
            self.cv.notify_all();
        }
    }

    /// Nothing in flight: no deadline, and a kill already done still reported. The
    /// thread finds out at its next look.
    pub(crate) fn pause(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deadline = None;
    }

    /// Disarms; returns whether the watchdog killed the worker.
    pub(crate) fn disarm(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deadline = None;
        std::mem::take(&mut s.fired)
    }

    pub(crate) fn quit(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.quit = true;
        self.cv.notify_all();
    }
}
