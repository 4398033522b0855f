//! Process lifecycle under systemd: `sd_notify` messages (READY, WATCHDOG,
//! STOPPING, STATUS), the watchdog task, and SIGTERM/SIGINT handling.
//!
//! - READY=1 is sent by the daemon once the store is open and both listeners
//!   are bound ([`notify_ready`]).
//! - The watchdog ([`watchdog`]) sends WATCHDOG=1 every half period, but only
//!   after every actor answered a ping: a hung actor stops the pings and
//!   systemd restarts the service.
//! - The first SIGTERM/SIGINT starts a graceful shutdown ([`handle_signals`]):
//!   `/readyz` turns 503, STOPPING=1, both servers stop accepting and finish
//!   their in-flight requests; the daemon then flushes the store and exits 0.
//!   A second signal exits at once with 128 + the signal number.
//!
//! Without `NOTIFY_SOCKET` (not under systemd) every notification is a no-op.

use actix_web::dev::ServerHandle;
use sd_notify::NotifyState;
use slog::{crit, debug, info, warn};
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Lifecycle phase, for `/readyz` and `/v1/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Starting = 0,
    Ready = 1,
    ShuttingDown = 2,
}

#[derive(Clone, Default)]
pub struct Lifecycle(Arc<AtomicU8>);

impl Lifecycle {
    pub fn set(&self, p: Phase) {
        self.0.store(p as u8, Ordering::SeqCst);
    }
    pub fn get(&self) -> Phase {
        match self.0.load(Ordering::SeqCst) {
            1 => Phase::Ready,
            2 => Phase::ShuttingDown,
            _ => Phase::Starting,
        }
    }
}

/// Send `states` to the service manager, if there is one. Failures are
/// logged, never fatal: the daemon works the same without systemd.
pub fn notify(log: &slog::Logger, states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        warn!(log, "notify-failed"; "error" => %e);
    }
}

/// READY=1 plus a status line.
pub fn notify_ready(log: &slog::Logger, status: &str) {
    notify(log, &[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The watchdog period systemd asks for, per `sd_watchdog_enabled(3)`:
/// `WATCHDOG_USEC` is set and positive, and `WATCHDOG_PID`, when set, names
/// this process. (`sd_notify::watchdog_enabled` 0.4 also requires
/// `WATCHDOG_PID` to be present, which `sd_watchdog_enabled` does not.)
pub fn watchdog_period() -> Option<Duration> {
    watchdog_period_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn watchdog_period_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != me {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// Ping the service manager every `period / 2` while `probe` (are all actors
/// alive?) says yes; skip the ping, with a warning, when it says no. Ends
/// when the daemon starts shutting down (systemd stops enforcing the
/// watchdog once the service is deactivating).
pub async fn watchdog<P, F>(
    period: Duration,
    lifecycle: Lifecycle,
    log: slog::Logger,
    mut probe: P,
    mut ping: impl FnMut(),
) where
    P: FnMut(Duration) -> F,
    F: Future<Output = bool>,
{
    let every = (period / 2).max(Duration::from_millis(1));
    // Each actor gets a quarter of the interval to answer.
    let timeout = (every / 4).max(Duration::from_millis(1));
    info!(log, "watchdog-enabled"; "period_ms" => period.as_millis() as u64,
          "ping_every_ms" => every.as_millis() as u64);
    let mut alive_before = true;
    loop {
        tokio::time::sleep(every).await;
        if lifecycle.get() == Phase::ShuttingDown {
            return;
        }
        let alive = probe(timeout).await;
        if lifecycle.get() == Phase::ShuttingDown {
            return;
        }
        if alive {
            ping();
            if !alive_before {
                info!(log, "watchdog-resumed");
            }
        } else {
            warn!(log, "watchdog-withheld"; "reason" => "an actor did not answer a ping");
        }
        alive_before = alive;
    }
}

/// SIGTERM and SIGINT, installed before the listeners start so that no
/// signal is lost during start-up (tokio keeps it until it is read).
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal: its name and number.
    pub async fn next(&mut self) -> (&'static str, i32) {
        tokio::select! {
            _ = self.term.recv() => ("SIGTERM", libc::SIGTERM),
            _ = self.int.recv() => ("SIGINT", libc::SIGINT),
        }
    }
}

/// Wait for signals: the first starts the graceful shutdown of `servers`,
/// the second exits the process at once with 128 + signal number.
pub async fn handle_signals(
    mut signals: Signals,
    servers: Vec<ServerHandle>,
    lifecycle: Lifecycle,
    shutdown_timeout_secs: u64,
    log: slog::Logger,
) {
    let (name, _) = signals.next().await;
    lifecycle.set(Phase::ShuttingDown);
    info!(log, "shutdown-started"; "signal" => name,
          "timeout_secs" => shutdown_timeout_secs);
    notify(
        &log,
        &[
            NotifyState::Stopping,
            NotifyState::Status("shutting down: finishing in-flight requests"),
        ],
    );
    for server in servers {
        // Stop accepting now; in-flight requests finish (up to the timeout).
        actix_web::rt::spawn(async move { server.stop(true).await });
    }
    let (name, number) = signals.next().await;
    crit!(log, "shutdown-forced"; "signal" => name, "exit_code" => 128 + number);
    // Give the async log drain a moment to write the record, then go.
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::process::exit(128 + number);
}

/// Test-only: with the `slow-shutdown` failpoint armed, the shutdown waits
/// this long after the listeners closed (so a test can send a second signal
/// while it is still going on).
pub async fn failpoint_slow_shutdown(log: &slog::Logger) {
    if crate::failpoint::hit("slow-shutdown") {
        debug!(log, "failpoint-slow-shutdown");
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    fn run_watchdog(alive: Arc<AtomicBool>, pings: Arc<AtomicUsize>, lc: Lifecycle) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async move {
            let p = pings.clone();
            let task = tokio::spawn(watchdog(
                Duration::from_secs(10),
                lc.clone(),
                crate::logging::discard(),
                move |_| {
                    let a = alive.load(Ordering::SeqCst);
                    async move { a }
                },
                move || {
                    p.fetch_add(1, Ordering::SeqCst);
                },
            ));
            // Paused clock: 4 half-periods of 5 s pass instantly.
            tokio::time::sleep(Duration::from_millis(20_500)).await;
            lc.set(Phase::ShuttingDown);
            tokio::time::sleep(Duration::from_secs(20)).await;
            assert!(task.is_finished(), "the watchdog ends with the shutdown");
        });
    }

    #[test]
    fn watchdog_pings_while_actors_answer() {
        let pings = Arc::new(AtomicUsize::new(0));
        run_watchdog(
            Arc::new(AtomicBool::new(true)),
            pings.clone(),
            Lifecycle::default(),
        );
        assert_eq!(pings.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_hung_actor_stops_the_pings() {
        let pings = Arc::new(AtomicUsize::new(0));
        run_watchdog(
            Arc::new(AtomicBool::new(false)),
            pings.clone(),
            Lifecycle::default(),
        );
        assert_eq!(pings.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn watchdog_period_follows_sd_watchdog_enabled() {
        let two = Some(Duration::from_secs(2));
        assert_eq!(watchdog_period_from(Some("2000000"), None, 7), two);
        assert_eq!(watchdog_period_from(Some("2000000"), Some("7"), 7), two);
        assert_eq!(
            watchdog_period_from(Some("2000000"), Some("1"), 7),
            None,
            "meant for another process"
        );
        assert_eq!(watchdog_period_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_period_from(Some("soon"), None, 7), None);
        assert_eq!(watchdog_period_from(None, Some("7"), 7), None);
    }
}
