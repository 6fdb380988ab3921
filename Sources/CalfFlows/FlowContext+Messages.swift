import Calf

/// Where a process answers a flow's `call`: the flow's address and the
/// signal its answer arrives as. A callee's handler answers with
/// `context.send(replyTo.answer(value), to: replyTo.flow)`.
public struct FlowReplyTo: Codable, Sendable {
    /// The calling flow.
    public var flow: Address<FlowEvent>
    /// The signal the answer is (unique to the call).
    public var signal: String

    /// The answer `value` as the event the flow waits for (its JSON as the signal's payload).
    /// - Throws: `FlowError.undecodable` if `value` does not encode as JSON.
    public func answer<T: Encodable>(_ value: T) throws -> FlowEvent {
        .signal(name: signal, payload: try FlowJSON.encode(value))
    }
}

extension FlowContext {
    /// Sends `message` to `address` once this turn commits (to a durable
    /// process, accepted in the same commit): a step of the flow's history
    /// (kind `send`), sent once; a replay or rebuild never sends it again.
    public func send<M: Codable & Sendable>(
        _ message: M, to address: Address<M>, file: StaticString = #fileID, line: UInt = #line
    ) async throws {
        let json = try FlowJSON.encode(message)
        _ = try await run.step(.send, what: "to \(address.pid): \(json.prefix(120))", arguments: "\(address.pid) \(json)", site: "\(file):\(line)") { _, _, context in
            context.send(message, to: address)
            return FlowStepResult.none
        }
    }

    /// Sends `message` to the process registered as `name`, as `send(_:to:)`
    /// does; false (recorded, so every replay answers the same) when no
    /// process of that message type has the name.
    @discardableResult
    public func send<M: Codable & Sendable>(
        _ message: M, to name: String, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> Bool {
        let json = try FlowJSON.encode(message)
        let result = try await run.step(.send, what: "to \(name): \(json.prefix(120))", arguments: "\(name) \(json)", site: "\(file):\(line)") { _, _, context in
            .value(context.send(message, to: name) ? "true" : "false")
        }
        return try result.decoded(Bool.self, step: "send to \(name) at \(file):\(line)") ?? false
    }

    /// Asks process `address` and awaits its answer: `request` makes the
    /// message from where to answer (`FlowReplyTo`); the callee sends
    /// `replyTo.answer(value)` to `replyTo.flow`, which arrives as a
    /// journaled signal. Two steps in the history: the send, then the wait.
    /// - Throws: `FlowError.timedOut` when no answer came within `timeout`;
    ///   `FlowError.undecodable` for an answer that is not a `T`.
    public func call<M: Codable & Sendable, T: Decodable>(
        _ address: Address<M>, as type: T.Type = T.self, timeout: Duration,
        file: StaticString = #fileID, line: UInt = #line, _ request: (FlowReplyTo) -> M
    ) async throws -> T {
        try await call("\(address.pid)", timeout: timeout, file: file, line: line) { replyTo, context in
            context.send(request(replyTo), to: address)
            return true
        }
    }

    /// `call(_:as:timeout:_:)` to the process registered as `name`.
    /// - Throws: also an `EffectFailure` of kind "noProcess" when no process
    ///   of that message type has the name (recorded: every replay throws the same).
    public func call<M: Codable & Sendable, T: Decodable>(
        _ name: String, sending messageType: M.Type = M.self, as type: T.Type = T.self, timeout: Duration,
        file: StaticString = #fileID, line: UInt = #line, _ request: (FlowReplyTo) -> M
    ) async throws -> T {
        try await call(name, timeout: timeout, file: file, line: line) { replyTo, context in
            context.send(request(replyTo), to: name)
        }
    }

    private func call<T: Decodable>(
        _ target: String, timeout: Duration, file: StaticString, line: UInt,
        send: (FlowReplyTo, inout DurableContext<FlowEvent>) -> Bool
    ) async throws -> T {
        // The answer's signal is named after the send's step, and recorded as
        // its result: unique to this call in this run, the same in a replay.
        let sent = try await run.step(.send, what: "call \(target)", arguments: "call \(target)", site: "\(file):\(line)") { step, _, context in
            let replyTo = FlowReplyTo(flow: context.address, signal: "reply:\(step.id)")
            guard send(replyTo, &context) else {
                return .failure(EffectFailure(kind: "noProcess", message: "no process \(target) takes that message", terminal: true))
            }
            return .value(try FlowJSON.encode(replyTo.signal))
        }
        guard let signal = try sent.decoded(String.self, step: "call \(target) at \(file):\(line)") else {
            throw FlowError.undecodable("the call to \(target) recorded no reply signal")
        }
        guard let answer = try await receive(signal, as: T.self, timeout: timeout, file: file, line: line) else {
            throw FlowError.timedOut("no answer from \(target) within \(timeout) at \(file):\(line)")
        }
        return answer
    }
}
