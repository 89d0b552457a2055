//! Signals for the commands that write state and call providers (`apply`,
//! `destroy`, `rollback`, `refresh`, `import`): Ctrl-C (SIGINT), a closed
//! terminal (SIGHUP) and a CI cancel or `kill` (SIGTERM) all ask the command
//! to stop gracefully. It starts nothing new, lets the provider calls in
//! flight finish, saves state, releases the lock and exits with 128 + the
//! signal's number (130, 129, 143).
//!
//! Two things end the process at once, with that exit code: a second signal,
//! and the grace period (`--grace`) running out while calls are still in
//! flight. The journal then still holds every action that finished, and the
//! next command takes over the lock of the process that is gone and folds
//! the journal in.
//!
//! Terminology: the *first signal* is the one that asked for the graceful
//! stop; it decides the exit code of a graceful stop.
//!
//! Invariant: the handler thread never waits on a lock the command holds
//! for long: it writes with `eprintln!` to stderr, which [`super::main`] does
//! not keep locked (stdout it does), so a second signal exits even while the
//! command is busy.

use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// A signal that asks a command to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signal {
    /// SIGHUP: the terminal was closed.
    Hangup,
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: `kill`, a CI cancel, a container stop.
    Terminate,
}

impl Signal {
    /// Its number on Linux and the BSDs.
    fn number(self) -> i32 {
        match self {
            Signal::Hangup => 1,
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }

    fn from_number(number: i32) -> Option<Signal> {
        [Signal::Hangup, Signal::Interrupt, Signal::Terminate]
            .into_iter()
            .find(|signal| signal.number() == number)
    }

    /// The exit code of a process it ended: 128 + its number.
    pub(super) fn exit_code(self) -> u8 {
        match self {
            Signal::Hangup => 129,
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    /// Its name, as `kill -l` spells it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Signal::Hangup => "SIGHUP",
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// How many signals arrived.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// The number of the first signal (0 while none came).
static FIRST: AtomicI32 = AtomicI32::new(0);
/// The grace period in milliseconds.
static GRACE_MILLIS: AtomicU64 = AtomicU64::new(30_000);

/// The first signal, once one arrived.
pub(super) fn first() -> Option<Signal> {
    Signal::from_number(FIRST.load(Ordering::SeqCst))
}

/// How many signals arrived so far.
pub(super) fn received() -> usize {
    RECEIVED.load(Ordering::SeqCst)
}

/// Catches SIGINT, SIGTERM and SIGHUP from now on (once per process; a later
/// call only sets the grace period): the first asks for a graceful stop,
/// the second exits at once, and so does the end of `grace` after the first.
pub(super) fn install(grace: Duration) {
    GRACE_MILLIS.store(
        u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
        Ordering::SeqCst,
    );
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // The handlers are registered on the thread that waits for them,
        // and the command goes on only once they are, so a signal that
        // comes early is not lost. Should the thread not start, nothing is
        // registered and signals keep their default effect (the process
        // ends at once), which is what the command did before.
        let (registered, wait) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("infra-signals".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build();
                let Ok(runtime) = runtime else {
                    let _ = registered.send(());
                    return;
                };
                runtime.block_on(async {
                    let signals = Signals::new();
                    let _ = registered.send(());
                    if let Some(mut signals) = signals {
                        watch(&mut signals).await;
                    }
                });
            });
        if spawned.is_ok() {
            let _ = wait.recv();
        }
    });
}

/// Waits for signals and acts on them; see the module documentation.
async fn watch(signals: &mut Signals) {
    let Some(signal) = signals.next().await else {
        return;
    };
    FIRST.store(signal.number(), Ordering::SeqCst);
    RECEIVED.fetch_add(1, Ordering::SeqCst);
    let grace = Duration::from_millis(GRACE_MILLIS.load(Ordering::SeqCst));
    eprintln!(
        "\n{}: stopping: starting nothing new, letting the provider calls in flight finish \
         (at most {}), then saving state; a second signal exits at once",
        signal.name(),
        show(grace)
    );
    tokio::select! {
        again = signals.next() => {
            let Some(again) = again else {
                // No more signals can come; the grace period still holds.
                tokio::time::sleep(grace).await;
                grace_over(signal, grace);
            };
            RECEIVED.fetch_add(1, Ordering::SeqCst);
            eprintln!(
                "\n{}: exiting now; the journal keeps every finished action and the next command \
                 recovers it",
                again.name()
            );
            std::process::exit(i32::from(again.exit_code()));
        }
        () = tokio::time::sleep(grace) => grace_over(signal, grace),
    }
}

/// The grace period ran out with work still in flight: exit at once.
fn grace_over(signal: Signal, grace: Duration) -> ! {
    eprintln!(
        "\n{}: the grace period ({}) ran out with provider calls still in flight; exiting now; \
         the journal keeps every finished action and the next command recovers it",
        signal.name(),
        show(grace)
    );
    std::process::exit(i32::from(signal.exit_code()))
}

/// A duration as the user writes it (`30s`, `1500ms`).
fn show(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The three signal streams.
struct Signals {
    #[cfg(unix)]
    streams: [(Signal, tokio::signal::unix::Signal); 3],
}

impl Signals {
    #[cfg(unix)]
    fn new() -> Option<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Signals {
            streams: [
                (Signal::Interrupt, signal(SignalKind::interrupt()).ok()?),
                (Signal::Terminate, signal(SignalKind::terminate()).ok()?),
                (Signal::Hangup, signal(SignalKind::hangup()).ok()?),
            ],
        })
    }

    #[cfg(not(unix))]
    fn new() -> Option<Signals> {
        Some(Signals {})
    }

    /// The next signal; `None` when none can come any more.
    #[cfg(unix)]
    async fn next(&mut self) -> Option<Signal> {
        let [(a, first), (b, second), (c, third)] = &mut self.streams;
        tokio::select! {
            got = first.recv() => got.map(|()| *a),
            got = second.recv() => got.map(|()| *b),
            got = third.recv() => got.map(|()| *c),
        }
    }

    /// The next Ctrl-C (the one signal other systems have).
    #[cfg(not(unix))]
    async fn next(&mut self) -> Option<Signal> {
        tokio::signal::ctrl_c()
            .await
            .ok()
            .map(|()| Signal::Interrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::Signal;

    #[test]
    fn each_signal_exits_with_128_and_its_number() {
        for signal in [Signal::Hangup, Signal::Interrupt, Signal::Terminate] {
            assert_eq!(i32::from(signal.exit_code()), 128 + signal.number());
            assert_eq!(Signal::from_number(signal.number()), Some(signal));
        }
    }
}
