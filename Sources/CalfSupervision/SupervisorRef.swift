import Synchronization
import CalfControl
import CalfRuntime
import CalfDurable

/// A handle to a running supervisor: OTP's `supervisor` module functions,
/// with errors as typed values.
///
/// Every method may be called from any task; each is a call to the
/// supervisor process, answered once it has done what was asked (a
/// `terminateChild` returns after the child is gone).
public struct SupervisorRef: Sendable, Hashable, CustomStringConvertible {
    /// The supervisor process's address.
    public let address: Address<SupervisorMessage>

    /// The supervisor at `address`.
    public init(_ address: Address<SupervisorMessage>) { self.address = address }

    /// The supervisor's pid.
    public var pid: Pid { address.pid }

    public var description: String { "supervisor \(address.pid)" }

    /// Adds and starts a child (not for `simpleOneForOne`); returns its
    /// pid, or nil if its start function chose `ignore` (its spec is kept).
    @discardableResult
    public func startChild(_ spec: ChildSpec) async throws(SupervisorError) -> Pid? {
        try await request(.startChild(spec), Pid?.self)
    }

    /// Starts a dynamic child of a `simpleOneForOne` supervisor from its
    /// template with `arguments`; returns its pid (nil for `ignore`).
    @discardableResult
    public func startChild(with arguments: some Sendable) async throws(SupervisorError) -> Pid? {
        try await request(.startDynamic(arguments), Pid?.self)
    }

    /// Stops a child by its shutdown spec; its spec stays (unless temporary).
    public func terminateChild(_ id: String) async throws(SupervisorError) {
        try await request(.terminateChild(id), Void.self)
    }

    /// Stops a dynamic child of a `simpleOneForOne` supervisor.
    public func terminateChild(pid: Pid) async throws(SupervisorError) {
        try await request(.terminateDynamic(pid), Void.self)
    }

    /// Starts a stopped child again from its spec.
    @discardableResult
    public func restartChild(_ id: String) async throws(SupervisorError) -> Pid? {
        try await request(.restartChild(id), Pid?.self)
    }

    /// Removes a stopped child's spec.
    public func deleteChild(_ id: String) async throws(SupervisorError) {
        try await request(.deleteChild(id), Void.self)
    }

    /// The children in start order.
    public func whichChildren() async throws(SupervisorError) -> [ChildInfo] {
        try await ask(.whichChildren, [ChildInfo].self)
    }

    package func describe() async throws(SupervisorError) -> SupervisorDescription {
        try await ask(.describe, SupervisorDescription.self)
    }

    /// Counts of specs, live children, supervisors and workers.
    public func countChildren() async throws(SupervisorError) -> ChildCounts {
        try await ask(.countChildren, ChildCounts.self)
    }

    /// Stops every child in reverse start order, then the supervisor
    /// (reason `shutdown`); returns once it is done.
    public func stop(timeout: Duration = .seconds(60)) async throws(SupervisorError) {
        try await request(.stop, Void.self, timeout: timeout)
    }

    private func request<T: Sendable>(_ kind: SupervisorMessage.Kind, _: T.Type, timeout: Duration = .seconds(30)) async throws(SupervisorError) -> T {
        try await ask(kind, Result<T, SupervisorError>.self, timeout: timeout).get()
    }

    private func ask<R: Sendable>(_ kind: SupervisorMessage.Kind, _: R.Type, timeout: Duration = .seconds(30)) async throws(SupervisorError) -> R {
        do {
            return try await Node.call(address, SupervisorMessage(kind: kind), timeout: timeout, as: R.self)
        } catch {
            throw .supervisorUnavailable(error.description)
        }
    }
}

extension Node {
    /// Starts a supervisor tree on a scheduler (by default the schedulers
    /// take turns) and waits until every child has started.
    ///
    /// The node watches a supervisor started here as a root: `rootExits`
    /// reports its exit, and `shutdown()` stops the roots in reverse start
    /// order, each stopping its children in reverse start order, before
    /// anything else.
    /// - Throws: `SpawnError.startFailed` when the spec is invalid or a child
    ///   fails to start; the children started before it are gone by then
    ///   (stopped in reverse order, each within its shutdown time, then killed).
    public func startSupervisor(_ spec: SupervisorSpec, on scheduler: Int? = nil) async throws -> SupervisorRef {
        let report = RootReport()
        let supervisor = Supervisor(spec, parent: nil, path: spec.id) { [core] reason in
            report.exited(spec.id, reason: reason, core: core)
        }
        let address: Address<SupervisorMessage>
        do {
            address = try await spawn(supervisor, on: scheduler)
        } catch {
            // OTP's init_children: the children already started are stopped
            // (each within its shutdown time) before the start reports failing.
            await core.supervision.reaping.idle()
            throw error
        }
        if let durable = core.durable {
            // Durable children start once their spawns commit: wait for that,
            // then take in what the commit released on each scheduler (their
            // starts, in its release channel), so that every child is running on return.
            await onOwner(of: address.cell) { $0.flushDurable() }
            await durable.drain()
            for scheduler in schedulers { await onLoop(scheduler) { _ = $0.takeAllRemote() } }
        }
        let ref = SupervisorRef(address)
        report.started(ref, core: core)
        return ref
    }

    /// The next exit of a root supervisor started with `startSupervisor`
    /// (for a program that stops when its tree gives up). Returns the
    /// supervisor's id and reason.
    public func rootExit() async -> (id: String, reason: ExitReason) {
        await core.supervision.nextRootExit()
    }
}

/// Joins a root supervisor's exit (which may come before its spawn returns)
/// with its registration among the node's roots.
///
/// Thread-safe: a `Mutex`.
package final class RootReport: Sendable {
    private let state = Mutex<(ref: SupervisorRef?, exit: (String, ExitReason)?)>((nil, nil))

    package func started(_ ref: SupervisorRef, core: NodeCore) {
        let exited = state.withLock { state -> (String, ExitReason)? in
            state.ref = ref
            return state.exit
        }
        if let (id, reason) = exited {
            core.supervision.rootExited(id, ref: ref, reason: reason)
        } else {
            core.supervision.roots.withLock { $0.append(ref) }
        }
    }

    package func exited(_ id: String, reason: ExitReason, core: NodeCore) {
        let ref = state.withLock { state -> SupervisorRef? in
            state.exit = (id, reason)
            return state.ref
        }
        if let ref { core.supervision.rootExited(id, ref: ref, reason: reason) }
    }
}
