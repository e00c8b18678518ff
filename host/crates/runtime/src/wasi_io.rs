//! The sandbox's replacements for the parts of WASI that wait.
//!
//! Deadlines are enforced by epoch interruption, which fires only while the
//! guest runs wasm: a host function that sleeps is out of its reach. In
//! wasmtime-wasi the waiting happens in `wasi:io/poll` (`poll`,
//! `pollable.block`), on pollables such as `monotonic-clock.subscribe-*`
//! (a real timer: `subscribe-duration(u64::MAX)` then `block` never
//! returns). Two replacements close that door:
//!
//! - the monotonic clock is virtual, like the wall clock: its time stands
//!   still, and every pollable it hands out is ready at once, so a guest's
//!   sleep returns immediately (a guest that waits for time to pass spins in
//!   wasm, where the deadline stops it);
//! - `poll` and `block` never wait: they look at each pollable once; if none
//!   is ready the guest waits for something that cannot happen in the
//!   sandbox (no network, no stdin), and the call traps with
//!   [`NeverReady`].
//!
//! This was chosen over running guests on wasmtime's async support with
//! epoch yields: that makes every host call and every caller (jobs, CLI,
//! conformance kit) async for a plugin that has nothing legitimate to wait
//! for. With nothing to wait on, the synchronous runtime's deadlines hold
//! whatever the guest calls. The streams a guest can reach (captured stdout
//! and stderr, an empty stdin) never wait either.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::sync::io::poll;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::sandbox::HostState;

/// The guest waited for something that is never ready in the sandbox.
#[derive(Debug, thiserror::Error)]
#[error("it waited on a WASI pollable that never becomes ready in the sandbox")]
pub(crate) struct NeverReady;

/// Replaces wasmtime-wasi's monotonic clock and poll interfaces in `linker`
/// (which already holds the rest of WASI p2).
pub(crate) fn shadow_blocking_interfaces(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    monotonic_clock::add_to_linker::<HostState, VirtualClock>(linker, |state| {
        SandboxIo(&mut state.table)
    })?;
    poll::add_to_linker::<HostState, VirtualClock>(linker, |state| SandboxIo(&mut state.table))?;
    linker.allow_shadowing(false);
    Ok(())
}

struct VirtualClock;

impl HasData for VirtualClock {
    type Data<'a> = SandboxIo<'a>;
}

/// The instance's resource table, seen through the non-waiting interfaces.
pub(crate) struct SandboxIo<'a>(&'a mut ResourceTable);

/// A pollable that is always ready.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

impl SandboxIo<'_> {
    fn ready_pollable(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let ready = self.0.push(Ready)?;
        subscribe(self.0, ready)
    }
}

impl monotonic_clock::Host for SandboxIo<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(0)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1_000)
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_pollable()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_pollable()
    }
}

/// Polls `future` once: its value if it is ready now, `None` if it would
/// wait. Runs inside wasmtime-wasi's tokio context, which its pollables
/// expect.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    wasmtime_wasi::runtime::in_tokio(async {
        let mut future = pin!(future);
        std::future::poll_fn(|cx| {
            Poll::Ready(match future.as_mut().poll(cx) {
                Poll::Ready(value) => Some(value),
                Poll::Pending => None,
            })
        })
        .await
    })
}

impl poll::Host for SandboxIo<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        use wasmtime_wasi_io::bindings::wasi::io::poll::Host as AsyncPoll;
        match poll_once(AsyncPoll::poll(self.0, pollables)) {
            Some(ready) => ready,
            None => Err(wasmtime::Error::new(NeverReady)),
        }
    }
}

impl poll::HostPollable for SandboxIo<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        poll::HostPollable::ready(self.0, pollable)
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        if poll::HostPollable::ready(self.0, pollable)? {
            Ok(())
        } else {
            Err(wasmtime::Error::new(NeverReady))
        }
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(self.0, pollable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pollable that is never ready: what a socket or a timer would be.
    struct Never;

    #[wasmtime_wasi::async_trait]
    impl Pollable for Never {
        async fn ready(&mut self) {
            std::future::pending::<()>().await
        }
    }

    fn never(table: &mut ResourceTable) -> Resource<DynPollable> {
        let never = table.push(Never).unwrap();
        subscribe(table, never).unwrap()
    }

    #[test]
    fn block_and_poll_on_a_never_ready_pollable_trap_instead_of_waiting() {
        use poll::{Host as _, HostPollable as _};
        let mut table = ResourceTable::new();
        let pollable = never(&mut table);
        let mut io = SandboxIo(&mut table);
        let error = io.block(pollable).unwrap_err();
        assert!(error.downcast_ref::<NeverReady>().is_some(), "{error:#}");

        let mut table = ResourceTable::new();
        let pollable = never(&mut table);
        let mut io = SandboxIo(&mut table);
        assert!(!io.ready(Resource::new_borrow(pollable.rep())).unwrap());
        let error = io
            .poll(vec![Resource::new_borrow(pollable.rep())])
            .unwrap_err();
        assert!(error.downcast_ref::<NeverReady>().is_some(), "{error:#}");
    }

    #[test]
    fn clock_pollables_are_ready_at_once_whatever_the_duration() {
        use monotonic_clock::Host as _;
        use poll::{Host as _, HostPollable as _};
        let mut table = ResourceTable::new();
        let mut io = SandboxIo(&mut table);
        let forever = io.subscribe_duration(u64::MAX).unwrap();
        let far = io.subscribe_instant(u64::MAX).unwrap();
        let ready = io
            .poll(vec![
                Resource::new_borrow(forever.rep()),
                Resource::new_borrow(far.rep()),
            ])
            .unwrap();
        assert_eq!(ready, vec![0, 1]);
        io.block(forever).unwrap();
        assert_eq!(io.now().unwrap(), 0, "the clock stands still");
    }
}
