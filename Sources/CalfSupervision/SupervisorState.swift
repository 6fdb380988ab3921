import CalfControl
import CalfRuntime
import CalfDurable

/// A supervisor's record of one child (or one dynamic child of a
/// `simpleOneForOne` supervisor).
///
/// Thread ownership: the supervisor's scheduler thread, as its state.
package final class ChildRecord {
    /// Unique within the supervisor; names the record in timer messages.
    package let key: UInt64
    package let spec: ChildSpec
    /// The start arguments of a dynamic child.
    package let arguments: (any Sendable)?
    package let isDynamic: Bool
    package var cell: ProcessCell?
    package var restarts = 0
    /// Crashes in a row that came sooner than the backoff's `resetAfter`.
    package var quickCrashes = 0
    /// When its process last started (monotonic).
    package var startedAt: UInt64 = 0
    /// Waiting for a backoff timer: the timer's generation, else nil.
    package var pendingRestart: UInt64?
    /// Why its last process ended.
    package var lastExit: String?
    /// The pid of its last process (a dynamic child waiting for its restart
    /// is still found by it: OTP's `{restarting, Pid}`).
    package var lastPid: Pid?

    package init(key: UInt64, spec: ChildSpec, arguments: (any Sendable)?, isDynamic: Bool) {
        self.key = key
        self.spec = spec
        self.arguments = arguments
        self.isDynamic = isDynamic
    }

    package var info: ChildInfo {
        ChildInfo(
            id: spec.id, pid: cell?.pid, kind: spec.kind,
            status: cell != nil ? .running : pendingRestart != nil ? .restarting : .stopped,
            behavior: spec.behavior, restarts: restarts, lastExit: lastExit)
    }
}

/// Work a supervisor must finish before it looks at its next message: OTP's
/// supervisor blocks in a selective receive while it stops a child; this is
/// the same as a list of steps, resumed by the down signals it waits for.
package final class SupervisorOperation {
    package enum Step {
        /// Stop these children together (one `StopWave`) by their shutdown
        /// specs and wait until all are gone.
        case terminate([ChildRecord])
        /// Start this child again (a restart of a group).
        case start(ChildRecord)
        /// Run this (reply, exit, clean up).
        case run((SupervisorState, inout Context<SupervisorMessage>) -> Void)
    }

    package var steps: [Step]
    package var next = 0
    /// The children being stopped, and the wave's number (its kill timer names it).
    package var wave: StopWave?
    package var waveNumber: UInt64 = 0

    package init(steps: [Step]) { self.steps = steps }
}

/// A supervisor's state.
///
/// Thread ownership: the supervisor's scheduler thread (a class so that the
/// children's records are not copied on every message).
package final class SupervisorState {
    package let spec: SupervisorSpec
    /// The process that started this supervisor (its exit stops it).
    package let parent: Pid?
    /// Supervisor ids from the root, joined by `/`.
    package let path: String
    /// A durable supervisor's record in the journal (nil: not durable).
    package var ledger: SupervisorLedger?
    /// Static children in start order.
    package var ordered: [ChildRecord] = []
    /// Running children by pid.
    package var byPid: [Pid: ChildRecord] = [:]
    /// Dynamic children waiting for a (backoff) restart, by key.
    package var waitingDynamic: [UInt64: ChildRecord] = [:]
    package var window: RestartWindow
    package var operation: SupervisorOperation?
    /// Messages and signals that came while an operation ran, in order.
    package var deferred: [Deferred] = []
    /// Monitors of children that were seen dead at once: their down signals are dropped.
    package var staleMonitors: Set<MonitorRef> = []
    package var nextKey: UInt64 = 1
    /// Restarts since the supervisor started.
    package var totalRestarts = 0

    package enum Deferred {
        case request(SupervisorMessage.Kind, PendingReply?)
        case signal(Signal)
    }

    package init(spec: SupervisorSpec, parent: Pid?, path: String) {
        self.spec = spec
        self.parent = parent
        self.path = path
        window = RestartWindow(limit: spec.intensity, period: spec.period)
    }

    package func makeRecord(_ spec: ChildSpec, arguments: (any Sendable)? = nil, dynamic: Bool = false) -> ChildRecord {
        defer { nextKey += 1 }
        return ChildRecord(key: nextKey, spec: spec, arguments: arguments, isDynamic: dynamic)
    }

    package func record(id: String) -> ChildRecord? {
        ordered.first { $0.spec.id == id }
    }

    package func record(key: UInt64) -> ChildRecord? {
        ordered.first { $0.key == key } ?? waitingDynamic[key]
    }

    /// Forgets a child for good (journaled by a durable supervisor).
    package func remove(_ record: ChildRecord) {
        if record.isDynamic {
            waitingDynamic[record.key] = nil
            ledger?.removeDynamic(record)
        } else {
            ordered.removeAll { $0 === record }
            journalStatic(record, stopped: true, deleted: true)
        }
    }

    /// Takes `record`'s process from the supervisor (`supervisor`, its cell):
    /// no longer its child, unlinked (no exit signal comes back). Returns
    /// it as a member of a stop wave, or nil when it was not running or is
    /// durable: a durable child is detached, not stopped (its journal keeps
    /// it, the node checkpoints and stops it last, and a start adopts it again).
    package func detach(_ record: ChildRecord, from supervisor: ProcessCell) -> StopWave.Member? {
        guard let cell = record.cell else { return nil }
        record.cell = nil
        byPid[cell.pid] = nil
        supervisor.scheduler.unlink(supervisor, cell)
        if cell is any DurableNamed {
            supervisor.scheduler.node.durable?.clearGuardian(of: cell.pid, owner: supervisor.pid)
            return nil
        }
        return (cell, record.spec.shutdown)
    }

    /// Ends every restart waiting for its backoff (the supervisor is stopping its children).
    package func cancelPendingRestarts() {
        for record in ordered { record.pendingRestart = nil }
        waitingDynamic.removeAll()
    }

    /// Running dynamic children, newest first (the order they are stopped in).
    package var dynamicNewestFirst: [ChildRecord] {
        byPid.values.filter(\.isDynamic).sorted { $0.key > $1.key }
    }

    /// The children's records in order (dynamic ones by number).
    package var records: [ChildRecord] {
        guard spec.strategy == .simpleOneForOne else { return ordered }
        return (Array(byPid.values) + Array(waitingDynamic.values)).sorted { $0.key < $1.key }
    }

    package var children: [ChildInfo] { records.map(\.info) }

    package var counts: ChildCounts {
        let infos = children
        return ChildCounts(
            specs: infos.count, active: infos.filter { $0.status == .running }.count,
            supervisors: infos.filter { $0.kind == .supervisor }.count,
            workers: infos.filter { $0.kind == .worker }.count)
    }
}
