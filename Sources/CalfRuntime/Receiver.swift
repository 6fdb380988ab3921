import CalfControl

/// A process that hands every message it gets to an `AsyncStream`, so code
/// outside the node can wait for what processes send it.
package struct Forwarder<Message: Sendable>: Behavior {
    package typealias State = Void
    package let continuation: AsyncStream<Message>.Continuation

    package func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {
        continuation.yield(message)
    }

    package func terminate(reason: ExitReason, state: inout Void, context: inout Context<Message>) {
        continuation.finish()
    }
}

extension Node {
    /// A process address whose messages come out of the returned stream:
    /// how code outside the node receives from processes.
    public func receiver<M: Sendable>(of type: M.Type = M.self, on scheduler: Int? = nil) async throws -> (Address<M>, AsyncStream<M>) {
        let (stream, continuation) = AsyncStream<M>.makeStream()
        let address = try await spawn(Forwarder(continuation: continuation), on: scheduler)
        return (address, stream)
    }
}
