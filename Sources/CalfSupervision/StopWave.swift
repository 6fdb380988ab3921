import CalfControl
import CalfRuntime
import CalfDurable

/// Children stopped together, OTP's way: each monitored, then sent an exit
/// signal `shutdown` (or killed, for `brutalKill`); the wave is over when
/// every one is down, and whatever is still alive when its time is up is
/// killed. A supervisor stops its static children one wave each, in
/// reverse start order; its dynamic children in one wave under one timer
/// (OTP's `terminate_dynamic_children`), however many there are.
///
/// The members must already be unlinked from the supervisor (so no exit
/// signal comes back from them) and must not be durable (a durable child is
/// detached, not stopped: its journal keeps it).
///
/// Thread ownership: the watcher's scheduler thread (a value inside the
/// watcher's state).
package struct StopWave {
    /// One child to stop: its process and its shutdown spec.
    package typealias Member = (cell: ProcessCell, shutdown: ChildShutdown)

    /// The members not yet down, by the monitor that will say so.
    package private(set) var awaiting: [MonitorRef: Member] = [:]
    /// The timer that kills what is left, when one is armed.
    package var killTimer: TimerRef?

    /// Every member is down.
    package var isDone: Bool { awaiting.isEmpty }

    /// Starts stopping `members` for `watcher`, which gets their down
    /// signals, with `source` as the sender of the `shutdown` signals.
    /// Returns the wave and how long to wait before killing what is left
    /// (nil: nothing to wait for, or a member with shutdown `infinity`).
    ///
    /// A member that ended at once, on this thread, is not waited for: its
    /// down signal is already queued and its monitor goes into `stale`,
    /// for the watcher to drop when it arrives.
    package static func begin(_ members: [Member], from source: Pid, watcher: ProcessCell, stale: inout Set<MonitorRef>) -> (wave: StopWave, killAfter: Duration?) {
        let scheduler = watcher.scheduler
        var wave = StopWave()
        var limit: Duration?
        var waitsForever = false
        for member in members {
            let (cell, shutdown) = member
            let ref = scheduler.monitor(watcher: watcher, target: cell)
            switch shutdown {
            case .brutalKill:
                scheduler.kill(cell)
            case .timeout(let time):
                scheduler.sendExitSignal(from: source, reason: .shutdown, to: cell)
                limit = max(limit ?? time, time)
            case .infinity:
                scheduler.sendExitSignal(from: source, reason: .shutdown, to: cell)
                waitsForever = true
            }
            if cell.scheduler === scheduler, cell.status == .dead {
                stale.insert(ref)
            } else {
                wave.awaiting[ref] = member
            }
        }
        guard !wave.isDone, !waitsForever else { return (wave, nil) }
        return (wave, limit)
    }

    /// A down signal came: true when it was one of the wave's members.
    package mutating func down(_ ref: MonitorRef) -> Bool {
        awaiting.removeValue(forKey: ref) != nil
    }

    /// The wave's time is up: kills every member still alive (their down
    /// signals end the wave).
    package func killRemaining(on scheduler: Scheduler) {
        for member in awaiting.values { scheduler.kill(member.cell) }
    }
}
