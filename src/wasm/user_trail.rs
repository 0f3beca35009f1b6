//! The `UserTrail` JS class: a thin shell over [`crate::UserTrail`].

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::analytics::JsAnalytics;
use super::error::js;
use super::experiments::JsExperiments;
use super::open_options::Held;
use super::prefs::JsPrefs;
use super::privacy::JsPrivacy;
use super::sessions::JsSessions;
use super::tracking::JsTracking;
use crate::error::Error;
use crate::UserTrail;

/// An engine and what it holds: the lease on its OPFS file, or its Durable
/// Object's registration, is released only after the engine has closed.
pub(crate) struct Open {
    // Fields drop in order: the engine closes before what it holds goes.
    pub(crate) trail: UserTrail,
    held: Held,
}

/// The engine shared by `UserTrail` and the objects it hands out
/// (`trail.sessions`); `None` once closed. Each call holds the engine (an
/// `Rc`) for as long as it runs, across the awaits of a shared store, so
/// calls may interleave; none of them holds an SQLite transaction across an
/// await.
#[derive(Clone)]
pub(crate) struct Handle(Rc<RefCell<Option<Rc<Open>>>>);

impl Handle {
    /// The open engine, or `CLOSED`.
    fn get(&self) -> crate::Result<Rc<Open>> {
        self.0.borrow().clone().ok_or(Error::Closed)
    }

    /// `CLOSED` after `close()`, for a call that needs no engine state
    /// (a merge of partials) but keeps the engine's contract.
    pub(crate) fn open(&self) -> crate::Result<()> {
        self.get().map(|_| ())
    }

    /// Runs an engine call as a Promise: `f` gets the engine and returns the
    /// future of the call's JS result. `CLOSED` after `close()`.
    pub(crate) fn run<F, Fut>(&self, f: F) -> Promise
    where
        F: FnOnce(Rc<Open>) -> Fut + 'static,
        Fut: std::future::Future<Output = crate::Result<JsValue>> + 'static,
    {
        self.start(f, true)
    }

    /// [`Handle::run`] for a call that runs a caller's callback
    /// (`onProgress`): its work starts on a later microtask, as every
    /// call's did before calls were polled at once, so the callback never
    /// runs before the method has returned its Promise.
    pub(crate) fn run_later<F, Fut>(&self, f: F) -> Promise
    where
        F: FnOnce(Rc<Open>) -> Fut + 'static,
        Fut: std::future::Future<Output = crate::Result<JsValue>> + 'static,
    {
        self.start(f, false)
    }

    /// [`Handle::run`] and [`Handle::run_later`]: polled at once when
    /// `at_once` (see [`settle`]).
    fn start<F, Fut>(&self, f: F, at_once: bool) -> Promise
    where
        F: FnOnce(Rc<Open>) -> Fut + 'static,
        Fut: std::future::Future<Output = crate::Result<JsValue>> + 'static,
    {
        match self.get() {
            // Boxed, so that the Promise's machinery is built once for every
            // method instead of once per method (a quarter of a megabyte of
            // wasm).
            Ok(open) => {
                // Read before the call starts: an erasure can run in `f`
                // itself, before its future is first polled.
                let before = open.held.durable.as_ref().map_or(0, |r| r.generation());
                settle(open.clone(), before, Box::pin(f(open)), at_once)
            }
            Err(e) => Promise::reject(&JsValue::from(e)),
        }
    }

    /// [`Handle::run`] for a call that does not wait: its answer, as a
    /// resolved (or rejected) Promise.
    pub(crate) fn now<F>(&self, f: F) -> Promise
    where
        F: FnOnce(&UserTrail) -> crate::Result<JsValue> + 'static,
    {
        self.run(move |open| async move { f(&open.trail) })
    }

    /// A synchronous read (a getter): its answer, or the error thrown.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&UserTrail) -> crate::Result<T>,
    ) -> Result<T, JsValue> {
        let open = self.get().map_err(JsValue::from)?;
        js(f(&open.trail))
    }
}

/// A call's future, boxed.
type Call = std::pin::Pin<Box<dyn std::future::Future<Output = crate::Result<JsValue>>>>;

/// The Promise of an engine call: its answer, after the erasure overwrite a
/// Durable Object's storage needs.
///
/// Most calls never wait (SQLite is synchronous): the call is polled once
/// at once, and a ready answer is handed back as a settled Promise, which
/// spares the executor's queue and its microtask (a fifth of a session
/// validate). A call that waits (Redis, a Durable Object's commit) goes on
/// in the executor as before. A call made while another is being polled
/// (from a callback the engine runs, such as `onProgress`) is not polled at
/// once but queued, as every call was before, so that it never runs inside
/// another call's transaction.
fn settle(open: Rc<Open>, before: u64, call: Call, at_once: bool) -> Promise {
    let mut call = Box::pin(Running(Box::pin(async move {
        let answer = call.await;
        if let Some(registration) = &open.held.durable {
            let answer = answer.map_err(|e| registration.explain(e));
            // A Durable Object's storage keeps old pages beside the live
            // ones: after an erasure they are overwritten before the call
            // returns.
            registration.scrub(before).await.map_err(JsValue::from)?;
            return answer.map_err(JsValue::from);
        }
        answer.map_err(JsValue::from)
    })));
    // A panic aborts the instance (`panic = "abort"`), so the count is never
    // left raised by one.
    if at_once && POLLING.get() == 0 {
        let waker = std::task::Waker::noop();
        match call
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Ready(Ok(value)) => return Promise::resolve(&value),
            std::task::Poll::Ready(Err(e)) => return Promise::reject(&e),
            // Its leaf futures (JS Promises) take the executor's waker at
            // its first poll.
            std::task::Poll::Pending => {}
        }
    }
    wasm_bindgen_futures::future_to_promise(call)
}

thread_local! {
    /// How many engine calls are being polled now (more than one when a
    /// callback the engine runs calls it again).
    static POLLING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// An engine call's future, counted in [`POLLING`] while it is polled.
struct Running(std::pin::Pin<Box<dyn std::future::Future<Output = Result<JsValue, JsValue>>>>);

impl std::future::Future for Running {
    type Output = Result<JsValue, JsValue>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        /// Uncounts the poll however it ends.
        struct Counted;
        impl Drop for Counted {
            fn drop(&mut self) {
                POLLING.set(POLLING.get() - 1);
            }
        }
        POLLING.set(POLLING.get() + 1);
        let _counted = Counted;
        self.0.as_mut().poll(cx)
    }
}

/// A Promise from a body that reads its arguments first: an argument it
/// refuses rejects the Promise (`INVALID_INPUT`), as every other failure
/// does, so callers handle one convention.
///
/// A call made while another call reads its arguments (from a getter, a
/// `toJSON` or a Proxy trap of those arguments) runs inside it, on the
/// same stack; past [`MAX_NESTED`] such calls, one is refused instead of
/// run (`INVALID_INPUT` on `arguments`): a `toJSON` that calls `merge`
/// with itself again would otherwise recurse until wasm's stack overflows
/// and the module traps, which leaves every engine of the instance
/// unusable.
pub(crate) fn promise(body: impl FnOnce() -> crate::Result<Promise>) -> Promise {
    /// Uncounts the call however it ends.
    struct Nested;
    impl Drop for Nested {
        fn drop(&mut self) {
            NESTED.set(NESTED.get() - 1);
        }
    }
    if NESTED.get() >= MAX_NESTED {
        return Promise::reject(&JsValue::from(Error::invalid(
            "arguments",
            format!(
                "could not be read: reading them called the engine again, {MAX_NESTED} calls deep (a getter or toJSON that calls it)"
            ),
        )));
    }
    NESTED.set(NESTED.get() + 1);
    let _nested = Nested;
    body().unwrap_or_else(|e| Promise::reject(&JsValue::from(e)))
}

/// The most calls [`promise`] runs one inside another (each made while
/// the one outside it read its arguments).
const MAX_NESTED: u32 = 16;

thread_local! {
    /// Calls of [`promise`] running, one inside another.
    static NESTED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// An open usertrail engine.
#[wasm_bindgen(js_name = UserTrail)]
pub struct JsUserTrail(Handle, Parts);

/// The objects `trail.sessions`, `trail.tracking`, … hand out, each made at
/// its first read and the same object after: a server reads
/// `trail.sessions` on every request, and a new wrapper each time (with its
/// finalizer registration) cost a few percent of a `validate`.
#[derive(Default)]
struct Parts([RefCell<Option<JsValue>>; 7]);

impl Parts {
    /// Part `i`, made by `make` at its first read, with `free()` and
    /// `Symbol.dispose` made harmless: freed, the one object would fail
    /// every later call on the engine.
    fn get<T: Into<JsValue>>(&self, i: usize, make: impl FnOnce() -> T) -> JsValue {
        self.0[i]
            .borrow_mut()
            .get_or_insert_with(|| super::output::kept(make().into()))
            .clone()
    }
}

impl JsUserTrail {
    /// Runs `f` on the core engine, for Rust callers and tests; `None` once
    /// closed.
    pub fn with_core<T>(&self, f: impl FnOnce(&UserTrail) -> T) -> Option<T> {
        self.0.get().ok().map(|o| f(&o.trail))
    }

    /// `trail.sessions`, as a Rust value (a new handle on the same engine).
    pub fn sessions(&self) -> JsSessions {
        JsSessions::new(self.0.clone())
    }

    /// `trail.prefs`, as a Rust value (a new handle on the same engine).
    pub fn prefs(&self) -> JsPrefs {
        JsPrefs::new(self.0.clone())
    }

    /// `trail.tracking`, as a Rust value (a new handle on the same engine).
    pub fn tracking(&self) -> JsTracking {
        JsTracking::new(self.0.clone())
    }

    /// `trail.pipeline`, as a Rust value (a new handle on the same engine).
    pub fn pipeline(&self) -> super::pipeline::JsPipeline {
        super::pipeline::JsPipeline::new(self.0.clone())
    }

    /// `trail.analytics`, as a Rust value (a new handle on the same engine).
    pub fn analytics(&self) -> JsAnalytics {
        JsAnalytics::new(self.0.clone())
    }

    /// `trail.privacy`, as a Rust value (a new handle on the same engine).
    pub fn privacy(&self) -> JsPrivacy {
        JsPrivacy::new(self.0.clone())
    }

    /// `trail.experiments`, as a Rust value (a new handle on the same engine).
    pub fn experiments(&self) -> JsExperiments {
        JsExperiments::new(self.0.clone())
    }
}

#[wasm_bindgen(js_class = UserTrail)]
impl JsUserTrail {
    /// Opens an engine, creating and migrating its database as needed.
    ///
    /// ```javascript
    /// import { UserTrail } from 'usertrail';
    ///
    /// const trail = await UserTrail.open({ storage: 'memory' });
    /// const bytes = await trail.export();          // Uint8Array, an SQLite file
    /// const copy = await UserTrail.open({ storage: { bytes } });
    /// // In a dedicated worker: await UserTrail.open({ storage: 'opfs' })
    /// ```
    ///
    /// Throws `UserTrailError` with `code` `INVALID_INPUT` for bad options,
    /// `NOT_A_DATABASE` or `CORRUPT` for bad bytes, `SCHEMA_TOO_NEW` for a
    /// database from a newer usertrail, `BUSY` when another tab holds the
    /// OPFS pool, and `UNSUPPORTED` for OPFS outside a dedicated worker.
    pub async fn open(
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: Option<JsValue>,
    ) -> Result<JsUserTrail, JsValue> {
        let parsed = super::open_options::parse(&options.unwrap_or(JsValue::UNDEFINED))?;
        let open = async {
            let (options, held) = parsed.resolve().await?;
            let trail = match (UserTrail::open(options), &held.durable) {
                (Ok(trail), _) => trail,
                (Err(e), Some(registration)) => return Err(registration.explain(e)),
                (Err(e), None) => return Err(e),
            };
            Ok(Open { trail, held })
        };
        let open = js(open.await)?;
        Ok(Self(
            Handle(Rc::new(RefCell::new(Some(Rc::new(open))))),
            Parts::default(),
        ))
    }

    /// The usertrail version, which is the npm package's version.
    #[wasm_bindgen(getter)]
    pub fn version(&self) -> String {
        crate::VERSION.into()
    }

    /// The schema version of the open database.
    #[wasm_bindgen(getter, js_name = schemaVersion)]
    pub fn schema_version(&self) -> Result<u32, JsValue> {
        self.0.read(|t| Ok(t.schema_version()))
    }

    /// When the database was created, in ms since the epoch.
    #[wasm_bindgen(getter, js_name = createdAt)]
    pub fn created_at(&self) -> Result<f64, JsValue> {
        self.0.read(|t| t.created_at().map(|ms| ms as f64))
    }

    /// Whether `close()` has been called.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.0 .0.borrow().is_none()
    }

    /// Sessions: create, validate, rotate, destroy, list, and their state.
    /// See the `Sessions` class.
    #[wasm_bindgen(getter = sessions, unchecked_return_type = "Sessions")]
    pub fn sessions_part(&self) -> JsValue {
        self.1.get(0, || self.sessions())
    }

    /// User preferences: definitions, values, history. See the `Prefs` class.
    #[wasm_bindgen(getter = prefs, unchecked_return_type = "Prefs")]
    pub fn prefs_part(&self) -> JsValue {
        self.1.get(1, || self.prefs())
    }

    /// Activity tracking: events, schemas, history, identity, the outbox.
    /// See the `Tracking` class.
    #[wasm_bindgen(getter = tracking, unchecked_return_type = "Tracking")]
    pub fn tracking_part(&self) -> JsValue {
        self.1.get(2, || self.tracking())
    }

    /// The analytics pipeline (with a shared store): collect, consume,
    /// identify and erase across partitions, and merge partial answers.
    /// See the `Pipeline` class.
    #[wasm_bindgen(getter = pipeline, unchecked_return_type = "Pipeline")]
    pub fn pipeline_part(&self) -> JsValue {
        self.1.get(3, || self.pipeline())
    }

    /// Analytics computed on the device: summaries, active users, pages,
    /// journeys, funnels, retention, cohorts. See the `Analytics` class.
    #[wasm_bindgen(getter = analytics, unchecked_return_type = "Analytics")]
    pub fn analytics_part(&self) -> JsValue {
        self.1.get(4, || self.analytics())
    }

    /// Privacy and compliance: consent, export, erasure, anonymisation,
    /// rectification, retention, the audit log. See the `Privacy` class.
    #[wasm_bindgen(getter = privacy, unchecked_return_type = "Privacy")]
    pub fn privacy_part(&self) -> JsValue {
        self.1.get(5, || self.privacy())
    }

    /// A/B experiments: define, assign, results. See the `Experiments` class.
    #[wasm_bindgen(getter = experiments, unchecked_return_type = "Experiments")]
    pub fn experiments_part(&self) -> JsValue {
        self.1.get(6, || self.experiments())
    }

    /// The whole database as SQLite bytes, which any sqlite3 tool opens and
    /// `UserTrail.open({ storage: { bytes } })` imports.
    ///
    /// ```javascript
    /// const bytes = await trail.export();
    /// await Deno.writeFile('backup.sqlite', bytes); // or fs.writeFileSync
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn export(&self) -> Promise {
        self.0
            .now(|t| Ok(js_sys::Uint8Array::from(&t.export()?[..]).into()))
    }

    /// What this engine holds, for operators: versions, the database's size
    /// and rows per table, the events' time span, the retention policy and
    /// when it runs next.
    ///
    /// ```javascript
    /// const { schemaVersion, bytes, tables } = await trail.info();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<EngineInfo>")]
    pub fn info(&self) -> Promise {
        self.0
            .now(|t| super::input::js_out(super::input::to_js(&t.info()?)))
    }

    /// Closes the engine and releases its storage. Calling it again does
    /// nothing; any other call afterwards, here or on `trail.sessions`,
    /// rejects with `CLOSED`. A call still running finishes first; the
    /// database is released when the last one has. An engine that stored
    /// events first writes the day rows of the whole days before today
    /// that have none (docs/ANALYTICS.md), so that the next process's
    /// first summary reads a row per day: once after an ingest of 1M
    /// events over 90 days, 0.1–0.4 s.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let taken = self.0 .0.borrow_mut().take();
        let closed = match taken.map(Rc::try_unwrap) {
            Some(Ok(open)) => open.trail.close(),
            // In use by a call still running: the last one to finish drops
            // it, which closes the database.
            Some(Err(_)) | None => Ok(()),
        };
        match closed {
            Ok(()) => Promise::resolve(&JsValue::UNDEFINED),
            Err(e) => Promise::reject(&JsValue::from(e)),
        }
    }
}
