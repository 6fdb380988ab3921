import Calf

/// A flow a node runs: its process's address.
public struct FlowHandle<F: Flow>: Sendable {
    /// The flow's process.
    public let address: Address<FlowEvent>
    /// Its pid.
    public var pid: Pid { address.pid }
}

extension DurableOptions {
    /// Lets the node run flows of type `F` (and bring them back after a restart).
    public mutating func addFlow<F: Flow>(_ type: F.Type) {
        behaviors.append(FlowProcess<F>.self)
        effects.append(contentsOf: F.effects)
    }
}

extension Node {
    /// Starts `flow` on `input`, registered as `name` if given; returns once
    /// its start is committed. The same name again is the same flow (its
    /// first input stands).
    /// - Throws: `DurableError.nameTaken` when `name` is another process's.
    public func startFlow<F: Flow>(_ flow: F, _ input: F.Input, name: String? = nil, options: FlowOptions = FlowOptions()) async throws -> FlowHandle<F> {
        let process = FlowProcess(flow: flow, input: input, options: options)
        let address = if let name { try await ensureDurable(process, name: name) } else { try await spawnDurable(process) }
        if case .failed(let error) = await send(.start, to: address, key: nil) { throw error }
        return FlowHandle(address: address)
    }

    /// The flow registered as `name`, if it is one of type `F`.
    public func flow<F: Flow>(named name: String, as type: F.Type) -> FlowHandle<F>? {
        guard let address = address(named: name, as: FlowEvent.self) else { return nil }
        return FlowHandle(address: address)
    }

    /// The flow's log as it stands (a copy).
    public func log<F: Flow>(of flow: FlowHandle<F>) async throws -> FlowLog {
        var log = try await state(of: flow.address, as: FlowProcess<F>.self)
        log.run = nil
        return log
    }

    /// The flow's output once it completes.
    /// - Throws: `FlowError.failed` (its error), `.cancelled`, `.diverged`
    ///   (parked: it may still complete after `resumeFlow`), `.timedOut`.
    public func result<F: Flow>(of flow: FlowHandle<F>, timeout: Duration) async throws -> F.Output {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(1)
        while true {
            let log = try await self.log(of: flow)
            switch log.status {
            case .completed:
                return try FlowJSON.value(F.Output.self, log.output ?? "null", step: "the output of \(flow.pid)")
            case .failed:
                throw FlowError.failed(log.error ?? EffectFailure(kind: "flow", message: "failed", terminal: true))
            case .cancelled:
                throw FlowError.cancelled
            case .diverged:
                throw FlowError.diverged(log.divergence ?? FlowDivergence(step: "?", journal: nil, code: "?", reason: "diverged"))
            case .starting, .running, .waiting:
                guard ContinuousClock.now < deadline else { throw FlowError.timedOut("flow \(flow.pid) after \(timeout)") }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(50))
            }
        }
    }

    /// Sends signal `name` with `payload` (as JSON) to the flow; returns once
    /// it is committed. `key` makes a retried send count once.
    public func signal<F: Flow, P: Encodable>(_ flow: FlowHandle<F>, _ name: String, _ payload: P, key: String? = nil) async throws {
        let event = FlowEvent.signal(name: name, payload: try FlowJSON.encode(payload))
        if case .failed(let error) = await send(event, to: flow.address, key: key) { throw error }
    }

    /// Cancels the flow: each step under way fails with `FlowError.cancelled`
    /// (its code's `catch` and `defer` run), then the flow ends as cancelled.
    public func cancelFlow<F: Flow>(_ flow: FlowHandle<F>) async throws {
        if case .failed(let error) = await send(.cancel, to: flow.address, key: nil) { throw error }
    }

    /// Starts the flow's code again keeping its steps up to number `toStep`
    /// (their results answer it, nothing runs again) and asking anew for
    /// what came after: for a flow that failed or diverged at a later step
    /// once a fix is deployed (-1 keeps none). Returns once committed.
    public func resetFlow<F: Flow>(_ flow: FlowHandle<F>, toStep: Int) async throws {
        if case .failed(let error) = await send(.reset(toStep: toStep), to: flow.address, key: nil) { throw error }
    }

    /// Runs a diverged flow again over its log (after deploying a fix, often
    /// behind `patched`); returns once the flow has handled the resume.
    public func resumeFlow<F: Flow>(_ flow: FlowHandle<F>) async throws {
        let before = try await log(of: flow).turns
        if case .failed(let error) = await send(.resume, to: flow.address, key: nil) { throw error }
        var pause = Duration.milliseconds(1)
        while try await log(of: flow).turns <= before {
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
    }
}
