import CalfControl
import CalfRuntime
import CalfDurable

/// What a supervisor takes: requests (`SupervisorRef` makes them) and its
/// own timers.
public struct SupervisorMessage: Sendable {
    package enum Kind: Sendable {
        case startChild(ChildSpec)
        case startDynamic(any Sendable)
        case terminateChild(String)
        case terminateDynamic(Pid)
        case restartChild(String)
        case deleteChild(String)
        case whichChildren
        case countChildren
        /// Its report for the shell's `tree`.
        case describe
        /// Stop every child in order, then exit with `shutdown`.
        case stop
        /// A backoff delay ended.
        case restartDue(key: UInt64, generation: UInt64)
        /// A restart that failed to start is tried again.
        case tryAgain(key: UInt64)
        /// The children of a stop wave did not all stop within their shutdown time.
        case shutdownTimeout(wave: UInt64)
        /// A durable child crashed and restarts itself in place.
        case restartedInPlace(Pid, ExitReason)
    }

    package let kind: Kind
}

/// A supervisor process: it starts its children in order, links to them,
/// traps their exits and restarts them by its strategy, OTP's way (see
/// `SupervisorSpec`, `ChildSpec`). Start one with `Node.startSupervisor`;
/// steer it with the `SupervisorRef` that returns.
public struct Supervisor: Behavior {
    public typealias Message = SupervisorMessage

    package let spec: SupervisorSpec
    package let parent: Pid?
    /// Supervisor ids from the root, joined by `/` (names a durable supervisor in the journal).
    package let path: String
    /// For a root supervisor: told of its exit, however it ends.
    package var rootExit: (@Sendable (ExitReason) -> Void)?

    package init(_ spec: SupervisorSpec, parent: Pid?, path: String, rootExit: (@Sendable (ExitReason) -> Void)? = nil) {
        self.spec = spec
        self.parent = parent
        self.path = path
        self.rootExit = rootExit
    }

    /// A fresh state; the children start in `started`.
    public func initialState() throws -> State {
        if let problem = spec.problem() { throw problem }
        return State(SupervisorState(spec: spec, parent: parent, path: path))
    }

    /// The supervisor's state (opaque).
    public struct State {
        package let core: SupervisorState
        package init(_ core: SupervisorState) { self.core = core }
    }

    /// Traps exits and starts the children in order; if one fails, those
    /// started are stopped and the supervisor fails to start.
    public func started(state: inout State, context: inout Context<Message>) throws {
        context.trapExit = true
        // Its state (ledger, reaping, timers) refers to the scheduler it started on.
        context.cell.pinned = true
        let core = state.core
        let rootExit = self.rootExit
        // However it ends (killed or stopped by Node.stop included, where it
        // cannot wait), the children still running are stopped; its exit
        // (and a root's report) goes out once they are gone.
        context.cell.relationsForUpdate.exitHook = { [weak cell = context.cell] reason, relations in
            let heldBack = cell.map { handOverChildren(core, supervisor: $0, exiting: (relations, reason), afterwards: rootExit) } ?? false
            if !heldBack { rootExit?(reason) }
        }
        if spec.register { try context.register(spec.id) }
        let restored = try openLedger(core, &context)
        if spec.strategy == .simpleOneForOne {
            restartDynamic(restored, core, &context)
            try seedDynamic(core, &context)
            return
        }
        for childSpec in spec.children {
            let saved = core.ledger?.children[childSpec.id]
            if saved?.deleted == true { continue }
            let record = core.makeRecord(childSpec)
            record.restarts = saved?.restarts ?? 0
            record.lastExit = saved?.lastExit
            core.ordered.append(record)
            if saved?.stopped == true { continue }
            switch startProcess(record, core, &context) {
            case .success(let pid):
                // OTP keeps an ignored child's spec, except a temporary one's.
                if pid == nil, childSpec.restart == .temporary { core.ordered.removeLast() }
            case .failure(let error):
                handOverChildren(core, supervisor: context.cell)
                throw error
            }
        }
    }

    /// Handles a request or one of its timers.
    public func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        let core = state.core
        let reply = context.takePendingReply()
        switch message.kind {
        case .whichChildren:
            reply?.reply(core.children)
        case .countChildren:
            reply?.reply(core.counts)
        case .describe:
            reply?.reply(describe(core, context))
        case .shutdownTimeout(let wave):
            if let operation = core.operation, operation.waveNumber == wave {
                operation.wave?.killRemaining(on: context.cell.scheduler)
            }
        default:
            if core.operation != nil {
                core.deferred.append(.request(message.kind, reply))
            } else {
                handleRequest(message.kind, reply: reply, core, &context)
            }
        }
        drainDeferred(core, &context)
    }

    /// Handles exit signals of children (and of its parent) and the down
    /// signals of children it is stopping.
    public func handle(signal: Signal, state: inout State, context: inout Context<Message>) throws {
        let core = state.core
        switch signal {
        case .down(let ref, _, _):
            if core.staleMonitors.remove(ref) != nil { return }
            guard let operation = core.operation, operation.wave?.down(ref) == true else { return }
            guard let wave = operation.wave, wave.isDone else { return }
            if let timer = wave.killTimer { context.cancelTimer(timer) }
            operation.wave = nil
            runOperation(core, &context)
        case .exit:
            if core.operation != nil {
                core.deferred.append(.signal(signal))
            } else {
                handleExit(signal, core, &context)
            }
        }
        drainDeferred(core, &context)
    }

    // MARK: Deferred work

    /// Handles what waited while an operation ran, until another one starts.
    package func drainDeferred(_ core: SupervisorState, _ context: inout Context<Message>) {
        while core.operation == nil, context.stopReason == nil, !core.deferred.isEmpty {
            switch core.deferred.removeFirst() {
            case .request(let kind, let reply): handleRequest(kind, reply: reply, core, &context)
            case .signal(let signal): handleExit(signal, core, &context)
            }
        }
    }
}
