//! The live apply display on a terminal: one overall bar (done/total, failed,
//! elapsed, ETA) and under it the longest-running actions, as many as fit
//! the terminal's height (at most [`MAX_SHOWN`]), each with its elapsed
//! time and the latest phase its provider named ("health 2/3"). Finished
//! actions scroll above it as plain lines.
//!
//! Invariant: the display never takes more lines than the terminal has, so
//! the plan just confirmed stays on the screen above it; the count is
//! always shown.

use crate::apply::ActionKind;
use std::collections::BTreeMap;
use std::time::Instant;

/// The most running actions listed under the bar.
pub(super) const MAX_SHOWN: usize = 8;

/// Lines kept free besides the listed actions: the bar, the "… more" line
/// and a line for the shell prompt and the last finished line.
const RESERVED_LINES: usize = 4;

/// The live display.
pub(super) struct Live {
    multi: indicatif::MultiProgress,
    bar: indicatif::ProgressBar,
    /// One line per listed action, then possibly the "… more" line.
    slots: Vec<indicatif::ProgressBar>,
    running: BTreeMap<String, (Instant, ActionKind)>,
    /// The latest phase of each running action that named one.
    phases: BTreeMap<String, String>,
    failed: usize,
}

impl Live {
    /// Starts the display on stderr for `total` actions.
    pub(super) fn start(total: usize, colour: bool) -> Live {
        let multi = indicatif::MultiProgress::with_draw_target(
            indicatif::ProgressDrawTarget::stderr_with_hz(10),
        );
        let bar = multi.add(indicatif::ProgressBar::new(total as u64));
        let template = if colour {
            "{bar:30.green/dim} {pos}/{len} actions{msg}  {elapsed} elapsed, ETA {eta}"
        } else {
            "{bar:30} {pos}/{len} actions{msg}  {elapsed} elapsed, ETA {eta}"
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        Live {
            multi,
            bar,
            slots: Vec::new(),
            running: BTreeMap::new(),
            phases: BTreeMap::new(),
            failed: 0,
        }
    }

    /// An action started.
    pub(super) fn started(&mut self, name: String, action: ActionKind) {
        self.running.insert(name, (Instant::now(), action));
        self.redraw();
    }

    /// An action ended (or was skipped: `name` was never started).
    pub(super) fn finished(&mut self, name: &str, failed: bool) {
        self.running.remove(name);
        self.phases.remove(name);
        if failed {
            self.failed += 1;
            self.bar.set_message(format!(", {} failed", self.failed));
        }
        self.bar.inc(1);
        self.redraw();
    }

    /// A running action named its phase: shown next to it.
    pub(super) fn phase(&mut self, name: &str, phase: &str) {
        if self.running.contains_key(name) {
            self.phases.insert(name.to_owned(), phase.to_owned());
            self.redraw();
        }
    }

    /// A line above the display.
    pub(super) fn println(&self, text: &str) {
        let _ = self.multi.println(text);
    }

    /// Refreshes the elapsed times.
    pub(super) fn tick(&mut self) {
        self.redraw();
        self.bar.tick();
    }

    /// Removes the display.
    pub(super) fn finish(self) {
        for slot in &self.slots {
            slot.finish_and_clear();
        }
        self.bar.finish_and_clear();
        let _ = self.multi.clear();
    }

    /// Lists the longest-running actions under the bar, as many as fit.
    fn redraw(&mut self) {
        let rows = console::Term::stderr()
            .size_checked()
            .map_or(24, |(rows, _)| usize::from(rows));
        let room = rows.saturating_sub(RESERVED_LINES).min(MAX_SHOWN);
        let lines = shown_lines(&self.running, &self.phases, room, Instant::now());
        while self.slots.len() > lines.len() {
            if let Some(slot) = self.slots.pop() {
                slot.finish_and_clear();
                self.multi.remove(&slot);
            }
        }
        while self.slots.len() < lines.len() {
            let slot = self.multi.add(indicatif::ProgressBar::new_spinner());
            if let Ok(style) = indicatif::ProgressStyle::with_template("  {msg}") {
                slot.set_style(style);
            }
            self.slots.push(slot);
        }
        for (slot, line) in self.slots.iter().zip(lines) {
            slot.set_message(line);
        }
    }
}

/// The lines under the bar: the `room - 1` longest-running actions (all of
/// them when they fit in `room`) and, when some are left out, how many.
pub(super) fn shown_lines(
    running: &BTreeMap<String, (Instant, ActionKind)>,
    phases: &BTreeMap<String, String>,
    room: usize,
    now: Instant,
) -> Vec<String> {
    if room == 0 {
        return Vec::new();
    }
    let mut longest: Vec<(&String, &(Instant, ActionKind))> = running.iter().collect();
    longest.sort_by_key(|(name, (started, _))| (*started, *name));
    let listed = if longest.len() <= room {
        longest.len()
    } else {
        room - 1
    };
    let mut lines: Vec<String> = longest
        .iter()
        .take(listed)
        .map(|(name, (started, action))| {
            let seconds = now.saturating_duration_since(*started).as_secs();
            match phases.get(*name) {
                Some(phase) => format!("{name}: {}… {seconds}s — {phase}", action.as_str()),
                None => format!("{name}: {}… {seconds}s", action.as_str()),
            }
        })
        .collect();
    if longest.len() > listed {
        lines.push(format!("… and {} more running", longest.len() - listed));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_longest_running_actions_fit_the_room_and_the_rest_are_counted() {
        let start = Instant::now();
        let running: BTreeMap<String, (Instant, ActionKind)> = (0..64u64)
            .map(|i| {
                (
                    format!("null_resource.r{i:02}"),
                    (start + Duration::from_secs(i), ActionKind::Creating),
                )
            })
            .collect();
        let now = start + Duration::from_secs(100);
        let phases = BTreeMap::from([(
            String::from("null_resource.r01"),
            String::from("health 2/3"),
        )]);
        let lines = shown_lines(&running, &phases, 5, now);
        assert_eq!(
            lines,
            [
                "null_resource.r00: creating… 100s",
                "null_resource.r01: creating… 99s — health 2/3",
                "null_resource.r02: creating… 98s",
                "null_resource.r03: creating… 97s",
                "… and 60 more running",
            ]
        );
        assert_eq!(shown_lines(&running, &phases, 0, now), Vec::<String>::new());
        let few: BTreeMap<_, _> = running.into_iter().take(3).collect();
        assert_eq!(shown_lines(&few, &phases, 5, now).len(), 3);
    }
}
