import ServiceLifecycle

/// The control server is a `Service`: it serves until the group shuts down
/// gracefully (or is cancelled), then stops accepting, closes its
/// connections and removes its socket. List it after the node in a
/// `ServiceGroup`, so that it stops first.
extension ControlServer: Service {
    /// Waits for the group's graceful shutdown (or cancellation), then stops.
    public func run() async throws {
        try? await gracefulShutdown()
        stop()
    }
}
