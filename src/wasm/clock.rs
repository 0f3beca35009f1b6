//! Clocks from the host: `Date.now()`, or a function the host passes.

use std::cell::Cell;

use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::kernel::clock::Clock;

/// The host's wall clock, `Date.now()`.
pub(crate) struct DateClock;

impl Clock for DateClock {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }
}

/// A host function `() => ms`, for tests and simulations.
pub(crate) struct FnClock {
    f: js_sys::Function,
    last: Cell<i64>,
}

impl FnClock {
    /// Wraps `f`, which must return a finite, non-negative number when
    /// called now.
    pub(crate) fn new(f: js_sys::Function) -> crate::Result<Self> {
        let first = read(&f).ok_or_else(|| {
            Error::invalid("clock", "must return a finite, non-negative number of ms")
        })?;
        Ok(Self {
            f,
            last: Cell::new(first),
        })
    }
}

fn read(f: &js_sys::Function) -> Option<i64> {
    let v = f.call0(&JsValue::UNDEFINED).ok()?.as_f64()?;
    (v.is_finite() && v >= 0.0).then_some(v as i64)
}

impl Clock for FnClock {
    /// The function's reading; if it throws or returns something that is not
    /// a time, the last good reading (time never becomes garbage).
    fn now_ms(&self) -> i64 {
        match read(&self.f) {
            Some(v) => {
                self.last.set(v);
                v
            }
            None => self.last.get(),
        }
    }
}
