//! Engines that behave like separate processes (native only): each lives
//! on its own thread, takes calls through a channel, and between calls
//! follows the shared store's rights log on its own, every 20 ms, as the
//! package's timer does in a real process.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use usertrail::UserTrail;

type Job = Box<dyn FnOnce(&UserTrail) + Send>;

/// An engine on its own thread.
pub struct Proc {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Proc {
    /// Opens an engine with `open` on a new thread; with `follow`, it
    /// follows the rights log between calls.
    pub fn spawn(open: impl FnOnce() -> UserTrail + Send + 'static, follow: bool) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let trail = open();
            // As the package does at open: catch up, and register as a place.
            if follow && trail.shared().is_some() {
                usertrail::block_on(trail.privacy().follow()).expect("the first follow");
            }
            let _ = ready_tx.send(());
            loop {
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(job) => job(&trail),
                    Err(RecvTimeoutError::Timeout) => {
                        if follow && trail.shared().is_some() {
                            if let Err(e) = usertrail::block_on(trail.privacy().follow()) {
                                eprintln!("follow failed: {e}");
                            }
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        });
        ready_rx.recv().expect("the engine opened");
        Self {
            jobs: Some(tx),
            thread: Some(thread),
        }
    }

    /// Runs `f` on the engine and returns what it returns.
    pub fn run<R: Send + 'static>(&self, f: impl FnOnce(&UserTrail) -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |t| {
            let _ = tx.send(f(t));
        });
        self.jobs
            .as_ref()
            .expect("running")
            .send(job)
            .expect("the engine's thread is alive");
        rx.recv()
            .expect("the call returned (a panic on the engine's thread?)")
    }

    /// Closes the engine (drops it on its thread) and waits for the thread.
    pub fn stop(mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
