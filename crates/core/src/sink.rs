//! What a plugin pushes during one call, for the ABIs that build results piece by
//! piece (native libraries, WebAssembly guests): values, lists opened and closed
//! around them, logs, an error message, and any misuse of the ABI.

use crate::codec::MAX_DEPTH;
use crate::Value;

/// The results of one call as a plugin pushes them. A misuse (invalid UTF-8, lists
/// nested too deep or unbalanced) does not stop the call; it fails it afterwards,
/// through [`CallSink::failure`].
#[derive(Debug, Default)]
pub struct CallSink {
    /// The values pushed at the top level, in order.
    pub values: Vec<Value>,
    /// The log messages.
    pub logs: Vec<String>,
    /// The error message the plugin set, if any.
    pub error: Option<String>,
    /// Open lists, innermost last.
    stack: Vec<Vec<Value>>,
    misuse: Option<String>,
}

impl CallSink {
    /// Empties the sink for the next call.
    pub fn reset(&mut self) {
        self.values.clear();
        self.stack.clear();
        self.logs.clear();
        self.error = None;
        self.misuse = None;
    }

    /// Appends a value to the innermost open list, or to the top level.
    pub fn push(&mut self, v: Value) {
        match self.stack.last_mut() {
            Some(list) => list.push(v),
            None => self.values.push(v),
        }
    }

    /// Opens a list: the following values go into it until [`CallSink::end_list`].
    /// Lists nested more than [`MAX_DEPTH`] deep are a misuse (and take no memory).
    pub fn begin_list(&mut self) {
        if self.stack.len() >= MAX_DEPTH {
            self.misuse.get_or_insert_with(|| {
                format!("begin_list: lists nested more than {MAX_DEPTH} deep")
            });
        } else {
            self.stack.push(Vec::new())
        }
    }

    /// Closes the innermost open list and pushes it.
    pub fn end_list(&mut self) {
        match self.stack.pop() {
            Some(list) => self.push(Value::List(list)),
            None => {
                self.misuse
                    .get_or_insert_with(|| "end_list without begin_list".into());
            }
        }
    }

    /// Records a misuse of the ABI (the latest one is reported).
    pub fn misuse(&mut self, message: String) {
        self.misuse = Some(message);
    }

    /// The error a call that returned `status` (0 for success) ended with: the
    /// plugin's error message, or a non-zero status without one. The message is taken.
    pub fn status_error(&mut self, status: i32) -> Option<String> {
        if status == 0 && self.error.is_none() {
            return None;
        }
        Some(match self.error.take() {
            Some(e) => e,
            None => format!("returned status {status} without an error message"),
        })
    }

    /// The failure a call that returned `status` ended with, if any: its
    /// [`status_error`](CallSink::status_error), a misuse, or lists left open. The
    /// message is taken; the logs stay.
    #[inline]
    pub fn failure(&mut self, status: i32) -> Option<String> {
        // A clean call (nearly every one) answers here, without a call.
        if status == 0 && self.error.is_none() && self.misuse.is_none() && self.stack.is_empty() {
            return None;
        }
        self.failure_of(status)
    }

    fn failure_of(&mut self, status: i32) -> Option<String> {
        if let Some(e) = self.status_error(status) {
            return Some(e);
        }
        if let Some(m) = self.misuse.take() {
            return Some(m);
        }
        if !self.stack.is_empty() {
            return Some(format!(
                "{} list(s) begun but not ended (missing end_list)",
                self.stack.len()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_nest_and_misuses_fail_the_call() {
        let mut s = CallSink::default();
        s.push(Value::Int(1));
        s.begin_list();
        s.push(Value::Int(2));
        s.begin_list();
        s.end_list();
        s.end_list();
        assert_eq!(s.failure(0), None);
        assert_eq!(
            s.values,
            [
                Value::Int(1),
                Value::List(vec![Value::Int(2), Value::List(vec![])])
            ]
        );
        s.reset();
        for _ in 0..1000 {
            s.begin_list();
        }
        assert_eq!(s.stack.len(), MAX_DEPTH);
        for _ in 0..1000 {
            s.end_list();
        }
        // The first misuse of the lists is the one reported.
        assert_eq!(
            s.failure(0).unwrap(),
            "begin_list: lists nested more than 64 deep"
        );
        s.reset();
        s.begin_list();
        assert_eq!(
            s.failure(0).unwrap(),
            "1 list(s) begun but not ended (missing end_list)"
        );
        s.reset();
        s.error = Some("boom".into());
        s.misuse("push_str: bad".into());
        assert_eq!(s.failure(0).unwrap(), "boom");
        assert_eq!(s.failure(0).unwrap(), "push_str: bad");
        assert_eq!(
            s.status_error(3).unwrap(),
            "returned status 3 without an error message"
        );
    }
}
