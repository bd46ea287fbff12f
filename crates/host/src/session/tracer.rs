//! The tracer: opens, numbers and closes every trace event of one request, in one
//! place (a step-through mode needs one check here, not one per hostcall).

use crate::platform::Platform;
use crate::profile::Recorder;
use crate::trace::{EventKind, TraceEvent};
use std::borrow::Cow;

/// The trace of one request.
#[derive(Debug)]
pub struct Tracer {
    events: Vec<TraceEvent>,
    /// Record hostcall events (lifecycle, log and work events are always recorded).
    hostcalls: bool,
    next_seq: u64,
    started_ns: u64,
    fuel_at_last_event: u64,
    /// Time spent paused (step-through), left out of every event's time.
    paused_ns: u64,
    /// When the current pause began.
    paused_at: Option<u64>,
    /// What the profile needs beyond the events (on when hostcalls are traced).
    recorder: Recorder,
    /// Events recorded so far (all of them, also those already taken).
    recorded: usize,
    /// Events left out past [`MAX_TRACE_EVENTS`].
    dropped: usize,
}

/// Events one execution's trace keeps.
pub use crate::limits::MAX_TRACE_EVENTS;

impl Tracer {
    /// A tracer whose clock starts now.
    pub fn new(platform: &Platform) -> Self {
        Tracer {
            events: Vec::new(),
            hostcalls: true,
            next_seq: 0,
            started_ns: platform.clock.monotonic_ns(),
            fuel_at_last_event: 0,
            paused_ns: 0,
            paused_at: None,
            recorder: Recorder::new(true, platform.clock.unix_ns()),
            recorded: 0,
            dropped: 0,
        }
    }

    /// Events left out because the trace reached [`MAX_TRACE_EVENTS`].
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The note of the event that says the trace was cut, if it was.
    pub fn dropped_note(&self) -> Option<String> {
        (self.dropped > 0).then(|| {
            format!(
                "the trace keeps at most {MAX_TRACE_EVENTS} events per execution: {} later events were not recorded",
                self.dropped
            )
        })
    }

    /// Count an event in; false (and counted as dropped) when the trace is full.
    fn admit(&mut self, kind: EventKind) -> bool {
        if self.recorded >= MAX_TRACE_EVENTS && kind != EventKind::Lifecycle {
            self.dropped += 1;
            return false;
        }
        self.recorded += 1;
        true
    }

    /// Record hostcall events or not.
    pub fn set_hostcalls(&mut self, on: bool) {
        self.hostcalls = on;
        self.recorder.set_on(on);
    }

    /// What the profile collects beyond the events ([`crate::profile`]).
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The profile's collector, to record into.
    pub fn recorder_mut(&mut self) -> &mut Recorder {
        &mut self.recorder
    }

    /// The guest was suspended to wait for outside work (for the profile's time split).
    pub fn wait_begin(&mut self, platform: &Platform) {
        if self.recorder.is_on() {
            let now = self.elapsed_us(platform);
            self.recorder.wait_begin(now);
        }
    }

    /// The suspended guest goes on.
    pub fn wait_end(&mut self, platform: &Platform) {
        if self.recorder.is_on() {
            let now = self.elapsed_us(platform);
            self.recorder.wait_end(now);
        }
    }

    /// Microseconds since the execution started, time paused excluded.
    pub fn elapsed_us(&self, platform: &Platform) -> f64 {
        let now = self
            .paused_at
            .unwrap_or_else(|| platform.clock.monotonic_ns());
        now.saturating_sub(self.started_ns)
            .saturating_sub(self.paused_ns) as f64
            / 1000.0
    }

    /// The guest paused (step-through): the trace's clock stops until [`Tracer::unpause`].
    pub fn pause(&mut self, platform: &Platform) {
        if self.paused_at.is_none() {
            self.paused_at = Some(platform.clock.monotonic_ns());
        }
    }

    /// The guest goes on: the time paused is left out of every later event's time.
    pub fn unpause(&mut self, platform: &Platform) {
        if let Some(at) = self.paused_at.take() {
            self.paused_ns += platform.clock.monotonic_ns().saturating_sub(at);
        }
    }

    /// Nanoseconds spent paused so far.
    pub fn paused_ns(&self) -> u64 {
        self.paused_ns
    }

    /// Open the event of a hostcall: numbered, timed, with the fuel used since the
    /// previous hostcall (`consumed` is the total so far).
    pub fn open_hostcall(
        &mut self,
        platform: &Platform,
        module: &'static str,
        name: &'static str,
        consumed: u64,
    ) -> TraceEvent {
        let mut ev = TraceEvent::new(self.take_seq(), EventKind::Hostcall, module, name);
        ev.start_us = self.elapsed_us(platform);
        ev.fuel = consumed.saturating_sub(self.fuel_at_last_event);
        self.fuel_at_last_event = consumed;
        ev
    }

    /// Close a hostcall event: its duration, then recorded (if hostcalls are traced).
    /// An event closed late (a call that was suspended) goes back to its place in
    /// sequence order.
    pub fn close_hostcall(&mut self, platform: &Platform, mut ev: TraceEvent) {
        ev.dur_us = self.elapsed_us(platform) - ev.start_us;
        if !self.hostcalls || !self.admit(ev.kind) {
            return;
        }
        let at = self.events.partition_point(|e| e.seq < ev.seq);
        self.events.insert(at, ev);
    }

    /// Close a hostcall event that ended the execution (an exit or a trap): always
    /// recorded.
    pub fn close_final(&mut self, platform: &Platform, mut ev: TraceEvent) {
        ev.dur_us = self.elapsed_us(platform) - ev.start_us;
        self.recorded += 1;
        self.events.push(ev);
    }

    /// A new (unnumbered) event of `kind` at the current time.
    pub fn event(
        &self,
        platform: &Platform,
        kind: EventKind,
        module: &'static str,
        name: impl Into<Cow<'static, str>>,
    ) -> TraceEvent {
        let mut ev = TraceEvent::new(0, kind, module, name);
        ev.start_us = self.elapsed_us(platform);
        ev
    }

    /// Record a non-hostcall event (a log line, finished work, a lifecycle step):
    /// numbered now, timed now unless it has a start already.
    pub fn push(&mut self, platform: &Platform, mut ev: TraceEvent) {
        if !self.admit(ev.kind) {
            return;
        }
        ev.seq = self.take_seq();
        if ev.start_us == 0.0 {
            ev.start_us = self.elapsed_us(platform);
        }
        self.events.push(ev);
    }

    /// The events recorded since the last call.
    pub fn take(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.events)
    }

    fn take_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }
}
