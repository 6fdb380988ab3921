import Calf
import CalfConnectors
import Foundation

/// A durable process that sends the requests it is given and keeps what came back.
struct Caller: DurableBehavior {
    static var effects: [any DurableEffect.Type] { [HTTPCall.self] }

    enum Message: Codable, Sendable, EffectCompletionMessage {
        case send(HTTPCall)
        case get
        case effectCompleted(EffectCompletion)
    }

    struct State: Codable, Equatable, Sendable {
        var completions: [EffectCompletion] = []
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .send(let request): try context.perform(request)
        case .get: context.reply(state.completions.count)
        case .effectCompleted(let completion): state.completions.append(completion)
        }
    }
}

/// A node with a Caller named "caller" whose connector allows `allowed`.
func withCaller(
    allowed: HostAllowList = ["127.0.0.1"], breakerThreshold: Int = 5, breakerCoolDown: Duration = .seconds(30),
    _ body: (Node, Address<Caller.Message>) async throws -> Void
) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-connectors-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let connector = HTTPConnector(configuration: HTTPConnector.Configuration(
        allowedHosts: allowed, breakerThreshold: breakerThreshold, breakerCoolDown: breakerCoolDown))
    var options = DurableOptions(path: dir.path, durability: .process, behaviors: [Caller.self], checkpointInterval: .seconds(3600), mapSize: 1 << 22)
    options.services[HTTPConnector.self] = connector
    let node = try Node(schedulers: 2, durable: options)
    do {
        let caller = try await node.spawnDurable(Caller(), name: "caller")
        try await body(node, caller)
    } catch {
        _ = try? await node.shutdown()
        try? await connector.shutdown()
        throw error
    }
    try await node.shutdown()
    try await connector.shutdown()
}

/// The completions of "caller" once there are `count`, or nil after 10 s.
func completions(_ node: Node, _ caller: Address<Caller.Message>, count: Int) async throws -> [EffectCompletion]? {
    // Generous: at the start of a full run both cooperative threads are busy
    // with other suites' synchronous tests for tens of seconds (seen on a
    // fresh CI machine: a parser test "passed after 15 s"), and a retried
    // request needs them.
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        let _: Int = try await node.call(caller, .get)
        let state = try await node.state(of: caller, as: Caller.self)
        if state.completions.count >= count { return state.completions }
        try await Task.sleep(for: .milliseconds(10))
    }
    return nil
}

/// Quick retries, for tests.
func quick(attempts: Int) -> RetryPolicy {
    var policy = HTTPCall.defaultPolicy
    policy.maximumAttempts = attempts
    policy.initialBackoff = .milliseconds(1)
    policy.maximumBackoff = .milliseconds(5)
    return policy
}
