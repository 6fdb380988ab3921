import Calf
import FoundationEssentials

/// A flow type's process type, as a node's behaviors list it.
public protocol FlowProcessKind {
    /// How to start and read flows of this type without naming it.
    static var flowKind: FlowKind { get }
}

extension FlowProcess: FlowProcessKind {
    /// Flows of `F`.
    public static var flowKind: FlowKind { FlowKind(F.self) }
}

/// Why a flow could not be started or found by name.
public enum FlowCatalogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No flow type of that name is registered.
    case unknownType(String, known: [String])
    /// The input is not an input of that type (the decoder's words, with the path).
    case badInput(type: String, why: String)
    /// The id names no flow.
    case noFlow(String)
    /// The id names a process that is another flow type's or no flow's.
    case nameTaken(String)

    /// One line.
    public var description: String {
        switch self {
        case .unknownType(let type, let known): "no flow type '\(type)' (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
        case .badInput(let type, let why): "not an input of flow type '\(type)': \(why)"
        case .noFlow(let id): "no flow '\(id)'"
        case .nameTaken(let id): "'\(id)' is a process of another type"
        }
    }
}

/// One flow type, its input taken as JSON (for HTTP and the shell).
public struct FlowKind: Sendable {
    /// Its name (`Flow.flowName`).
    public let name: String
    /// Its version.
    public let version: Int
    let start: @Sendable (Node, [UInt8], String) async throws -> Void
    let log: @Sendable (Node, String) async throws -> FlowLog?
    /// Sends flow `id` (if one of this kind) its start again; false if it is not one.
    let restart: @Sendable (Node, String) async throws -> Bool
    let checkProcess: @Sendable (Node, Pid) async -> FlowCheck?
    /// Its process's behavior name (`flow:NAME@VERSION`).
    public let behaviorName: String

    /// The kind of `F`.
    public init<F: Flow>(_ type: F.Type) {
        name = F.flowName
        version = F.version
        start = { node, json, id in
            let input: F.Input
            do {
                input = try JSONDecoder().decode(F.Input.self, from: Data(json))
            } catch {
                throw FlowCatalogError.badInput(type: F.flowName, why: FlowCatalog.describe(error))
            }
            guard let flow = FlowCatalog.instance(of: F.self) else { throw FlowCatalogError.unknownType(F.flowName, known: []) }
            _ = try await node.startFlow(flow, input, name: id)
        }
        log = { node, id in
            guard let handle = node.flow(named: id, as: F.self) else { return nil }
            return try? await node.log(of: handle)
        }
        restart = { node, id in
            guard let handle = node.flow(named: id, as: F.self) else { return false }
            if case .failed(let error) = await node.send(.start, to: handle.address, key: nil) { throw error }
            return true
        }
        behaviorName = FlowProcess<F>.behaviorName
        checkProcess = { node, pid in
            guard let address = await node.address(of: pid, as: FlowEvent.self),
                  let log = try? await node.state(of: address, as: FlowProcess<F>.self),
                  let flow = FlowCatalog.instance(of: F.self) else { return nil }
            return FlowHost.check(log, pid: pid, limits: FlowLimits()) { run in FlowProcess<F>.startTask(of: flow, on: run) }
        }
    }
}

/// The flow types a node runs, by name (the newest version starts new flows).
public struct FlowCatalog: Sendable {
    /// Every registered kind (every version).
    public let kinds: [FlowKind]

    /// The flow types among `behaviors`.
    public init(_ behaviors: [any DurableBehavior.Type] = []) {
        kinds = behaviors.compactMap { ($0 as? any FlowProcessKind.Type)?.flowKind }
    }

    /// The names of the types, sorted.
    public var names: [String] { Array(Set(kinds.map(\.name))).sorted() }

    /// Starts a flow of type `type` on `input` (JSON) as `id`; false when a
    /// flow `id` was there already (the same flow: its first input stands).
    public func start(type: String, input: [UInt8], id: String, on node: Node) async throws -> Bool {
        guard let kind = kinds.filter({ $0.name == type }).max(by: { $0.version < $1.version }) else {
            throw FlowCatalogError.unknownType(type, known: names)
        }
        if node.whereis(id) != nil {
            guard let log = try await log(of: id, on: node) else { throw FlowCatalogError.nameTaken(id) }
            // Its process was made but its start never committed (the node
            // died between the two): started now, with its first input.
            // A start that did commit meanwhile makes this one a no-op.
            if log.startedAt == nil {
                for kind in kinds where try await kind.restart(node, id) { break }
            }
            return false
        }
        try await kind.start(node, input, id)
        return true
    }

    /// The log of flow `id`, whatever its type and version; nil if there is none.
    public func log(of id: String, on node: Node) async throws -> FlowLog? {
        guard node.whereis(id) != nil else { return nil }
        for kind in kinds {
            if let log = try await kind.log(node, id) { return log }
        }
        return nil
    }

    /// A value of `F` to start (flow types are made with `init()` when they have one; else decoded from `{}`).
    static func instance<F: Flow>(of type: F.Type) -> F? {
        try? JSONDecoder().decode(F.self, from: Data("{}".utf8))
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the top" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(let type, let context): return "\(path(context.codingPath)) is not a \(type)"
        case .valueNotFound(let type, let context): return "\(path(context.codingPath)) is null, not a \(type)"
        case .dataCorrupted(let context): return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
