import ServiceLifecycle
import CalfControl

/// A node is a `Service` (swift-service-lifecycle): in a `ServiceGroup` it
/// runs until the group shuts down gracefully (a signal, another service
/// ending), then stops in order (`shutdown()`: supervisors top-down, every
/// process's `terminate`, a last checkpoint, the journal closed). A group
/// that is cancelled stops it the same way.
///
/// ```swift
/// let node = try await Node.open(durable: options)
/// let group = ServiceGroup(services: [node, myHTTPServer], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
/// Services stop in the reverse of their order in the group: list the node
/// first so that what talks to it stops before it.
extension Node: Service {
    /// Waits for the group's graceful shutdown (or cancellation), then stops the node in order.
    public func run() async throws {
        // Returns at graceful shutdown, throws CancellationError if cancelled first: the node stops either way.
        try? await gracefulShutdown()
        try await shutdown()
    }
}
